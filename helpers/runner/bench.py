"""``make bench``: where the time goes in PGD and training, for the quickstart CNN on this machine.

Measures, in one run, on the same model, data and batch size:

- PGD-40 images per second through ``helpers.attacks`` (ART's ``ProjectedGradientDescent``, which
  dispatches to its PyTorch-native implementation for a ``PyTorchClassifier``),
- ART's NumPy PGD (``ProjectedGradientDescentNumpy``: gradients come back to NumPy every step),
- a bare PyTorch PGD loop (the floor: forward, backward, sign step, projection),
- training images per second of ``helpers.training.fit``,
- the same 4 quickstart smoke runs one after another and as a sweep on a 2-worker Dask LocalCluster,

and prints the ratios. Usage: ``python -m helpers.runner.bench [--images N] [--batch-size B] [--steps K]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from helpers import attacks
from helpers.data import load_mnist
from helpers.device import pick_device, seed_everything
from helpers.models import SmallCNN
from helpers.training import fit


def bare_torch_pgd(model, x, y, *, eps, eps_step, steps, batch_size, device):
    """Reference PGD (random start, sign steps, L-infinity projection) with nothing but PyTorch."""
    out = []
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
        adv = (xb + torch.empty_like(xb).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(steps):
            adv.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(adv), yb)
            (grad,) = torch.autograd.grad(loss, adv)
            with torch.no_grad():
                adv = adv + eps_step * grad.sign()
                adv = torch.min(torch.max(adv, xb - eps), xb + eps).clamp(0, 1)
        out.append(adv.detach().cpu())
    return torch.cat(out)


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def sweep_speedup(runs: int = 4, workers: int = 2) -> tuple[float, float]:
    """Wall seconds of ``runs`` smoke runs of the quickstart one after another, then as a sweep on a
    ``workers``-worker LocalCluster (each kernel on its share of the cores), in one process."""
    import os
    import tempfile
    from pathlib import Path

    from helpers.runner.catalog import build_parameters, find_study
    from helpers.runner.execute import execute_into, resolve_kernel
    from helpers.runner.sweep import plan_runs, run_sweep

    study = find_study("quickstart")
    kernel, _ = resolve_kernel()
    with tempfile.TemporaryDirectory() as scratch, open(os.devnull, "w") as quiet:
        root = Path(scratch)
        # Warm the model cache first, so both sides load the same models instead of one side training them.
        planned = plan_runs(study, "smoke", {}, list(range(runs)), {})
        for run in planned:
            execute_into(study, "smoke", run.parameters, Path(tempfile.mkdtemp(dir=scratch)), reports_root=root,
                         kernel_name=kernel, progress_to=quiet)
        started = time.perf_counter()
        for run in planned:
            execute_into(study, "smoke", run.parameters, Path(tempfile.mkdtemp(dir=scratch)), reports_root=root,
                         kernel_name=kernel, progress_to=quiet)
        sequential = time.perf_counter() - started
        started = time.perf_counter()
        run_sweep(study, "smoke", planned, reports_root=root, workers=workers, echo=lambda *a, **k: None)
        parallel = time.perf_counter() - started
    return sequential, parallel


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.runner.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512, help="images attacked by each PGD variant")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="PGD iterations")
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sweep-runs", type=int, default=4, help="quickstart smoke runs in the sweep benchmark (0: skip it)")
    args = parser.parse_args(argv)

    seed_everything(0)
    device = pick_device(args.device)
    data = load_mnist(args.train_size, args.images, seed=0)
    model = SmallCNN()
    history = fit(model, data.x_train, data.y_train, epochs=1, batch_size=args.batch_size, device=device, desc="bench training")
    model.eval()
    train_ips = history[-1]["images_per_second"]

    x, y = data.x_test[: args.images], data.y_test[: args.images]
    eps_step = 2.5 * args.eps / args.steps
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10, device=device)

    from art.attacks.evasion import ProjectedGradientDescentNumpy

    pgd = attacks.make_attack("pgd", classifier, eps=args.eps, max_iter=args.steps, eps_step=eps_step, batch_size=args.batch_size)
    numpy_pgd = ProjectedGradientDescentNumpy(
        classifier, eps=args.eps, eps_step=eps_step, max_iter=args.steps, num_random_init=1,
        batch_size=args.batch_size, verbose=False,
    )
    x_np, y_np = x.numpy(), y.numpy()
    # Warm-up, so one-time costs (allocations, oneDNN kernel selection) are not billed to the first method.
    bare_torch_pgd(model, x[: args.batch_size], y[: args.batch_size], eps=args.eps, eps_step=eps_step, steps=2, batch_size=args.batch_size, device=device)

    rows = []
    for label, run in (
        ("helpers.attacks (ART PGD, PyTorch-native)", lambda: attacks.generate(pgd, x_np, y_np, desc="helpers PGD")),
        ("ART ProjectedGradientDescentNumpy", lambda: attacks.generate(numpy_pgd, x_np, y_np, desc="ART numpy PGD")),
        ("bare PyTorch loop", lambda: bare_torch_pgd(model, x, y, eps=args.eps, eps_step=eps_step, steps=args.steps, batch_size=args.batch_size, device=device).numpy()),
    ):
        adversarial, seconds = _timed(run)
        accuracy = float((classifier.predict(adversarial).argmax(1) == y_np).mean())
        rows.append((label, args.images / seconds, accuracy))

    bare_ips = rows[-1][1]
    print(f"\nPGD-{args.steps}, eps={args.eps}, {args.images} MNIST test images, batch {args.batch_size}, "
          f"device {device}, {torch.get_num_threads()} threads")
    print(f"{'method':<44} {'images/s':>9} {'vs bare':>8} {'adv. accuracy':>14}")
    for label, ips, accuracy in rows:
        print(f"{label:<44} {ips:>9.1f} {ips / bare_ips:>7.2f}x {100 * accuracy:>13.1f}%")
    print(f"\ntraining (helpers.training.fit, SmallCNN, batch {args.batch_size}): {train_ips:,.0f} images/s")
    print(f"PGD-{args.steps} through helpers costs {train_ips / rows[0][1]:.0f}x a training step per image")
    if args.sweep_runs:
        sequential, parallel = sweep_speedup(args.sweep_runs)
        print(f"\n{args.sweep_runs} quickstart smoke runs: one after another {sequential:.1f} s, as a sweep on a 2-worker "
              f"LocalCluster {parallel:.1f} s (cluster start included): {sequential / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
