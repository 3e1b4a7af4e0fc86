"""``make bench``: where the time goes in PGD and training, for the quickstart CNN on this machine.

Measures, in one run, on the same model, data and batch size:

- PGD-40 images per second through ``helpers.attacks`` (``helpers.torch_pgd.TorchNativePGD``: ART's
  ``ProjectedGradientDescentPyTorch`` with a leaner loop for the plain L-infinity case),
- ART's NumPy PGD (``ProjectedGradientDescentNumpy``: gradients come back to NumPy every step),
- ``helpers.gradient_attacks.pgd`` on the model directly (the collection's one PGD loop, without ART's
  estimator around it: the floor a wrapper is measured against),
- PGD through torchattacks (when installed; it is not a dependency, see ``install_comparison``),
- training images per second of ``helpers.training.fit``,
- the same for the CIFAR-10 study's MobileNetV3-small (width 0.5, stride-1 stem, its training recipe):
  ``helpers.training.fit`` against a bare PyTorch loop doing the same work (crop/flip, channels-last,
  Nesterov SGD under the one-cycle schedule), and PGD through ``helpers.attacks``, ``helpers.gradient_attacks``
  and torchattacks,
- the same 4 quickstart smoke runs one after another and as a sweep on a 2-worker Dask LocalCluster,

and prints the ratios (each PGD variant: the median of ``--pgd-rounds`` interleaved rounds with the min-max). Usage: ``python -m helpers.runner.bench [--images N] [--batch-size B] [--steps K]``.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
import time

import numpy as np
import torch

from helpers import attacks, gradient_attacks
from helpers.data import load_mnist
from helpers.device import pick_device, seed_everything
from helpers.models import SmallCNN
from helpers.training import fit


# The comparison library, pinned to the version the README's numbers come from. It is installed without its
# dependencies: every release pins ``requests~=2.25.1``, which no current environment can hold (advlab needs
# ``requests>=2.28``), while ``import torchattacks`` itself only needs the modules below.
TORCHATTACKS = "torchattacks==3.5.1"
TORCHATTACKS_IMPORTS = ("torch", "torchvision", "numpy", "scipy", "tqdm", "requests")
INSTALL_HINT = f"advlab bench --install-comparison (pip install --no-deps {TORCHATTACKS}, after checking what it imports)"


def comparison_installed() -> bool:
    return importlib.util.find_spec("torchattacks") is not None


def missing_line() -> str:
    """The one line ``advlab bench`` prints when the torchattacks column will be empty."""
    return f"torchattacks is not installed, so its column stays empty; add it with: {INSTALL_HINT}"


def install_comparison(python: str = sys.executable, run=subprocess.run, find_spec=importlib.util.find_spec) -> int:
    """Install torchattacks into ``python``'s environment without its stale pins; 0 when it imports afterwards.

    Checks first that everything ``import torchattacks`` needs is already there (it is, in any advlab
    environment), so that ``--no-deps`` cannot leave a package that fails to import.
    """
    missing = [name for name in TORCHATTACKS_IMPORTS if find_spec(name) is None]
    if missing:
        print(f"advlab bench: not installing {TORCHATTACKS}: it imports {', '.join(missing)}, which this environment lacks",
              file=sys.stderr)
        return 1
    installed = run([python, "-m", "pip", "install", "--quiet", "--no-deps", TORCHATTACKS])
    if installed.returncode:
        print(f"advlab bench: pip install --no-deps {TORCHATTACKS} failed (exit {installed.returncode})", file=sys.stderr)
        return 1
    check = run([python, "-c", "import torchattacks; print(torchattacks.__version__)"], capture_output=True, text=True)
    if check.returncode:
        print(f"advlab bench: {TORCHATTACKS} installed but does not import: {check.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return 1
    print(f"torchattacks {check.stdout.strip()} installed (--no-deps; its dependencies were already here)")
    return 0


def direct_pgd(model, x, y, *, eps, eps_step, steps, batch_size, device):
    """``helpers.gradient_attacks.pgd`` straight on the model (no ART estimator): the collection's one PGD loop,
    and the floor any wrapper around it is measured against."""
    gradient = gradient_attacks.input_gradient(model)
    generator = torch.Generator().manual_seed(0)
    return gradient_attacks.in_batches(
        lambda xb, yb: gradient_attacks.pgd(gradient, xb, yb, eps=eps, steps=steps, step_size=eps_step, generator=generator),
        x, y, batch_size=batch_size, device=device)


def torchattacks_pgd(model, x, y, *, eps, eps_step, steps, batch_size, device):
    """torchattacks' PGD (random start) batch by batch, or None when torchattacks is not installed."""
    try:
        import torchattacks
    except ImportError:
        return None
    attack = torchattacks.PGD(model, eps=eps, alpha=eps_step, steps=steps, random_start=True)
    out = [attack(x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out)


def bare_torch_training(model, x, y, *, batch_size, lr, augment, scheduler, optimizer, device):
    """One epoch of the plainest loop doing the same work as ``fit``: slice, augment, step, schedule."""
    model.to(device).train()
    steps = -(-len(x) // batch_size)
    schedule = scheduler(optimizer, steps)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for i in range(steps):
        index = order[i * batch_size:(i + 1) * batch_size]
        xb, yb = augment(x[index].to(device), y[index].to(device))
        loss = torch.nn.functional.cross_entropy(model(xb), yb, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return len(x)


HELPERS_ART = "helpers.attacks (ART estimator, helpers PGD)"
HELPERS_DIRECT = "helpers.gradient_attacks.pgd on the model"
TORCHATTACKS_LABEL = "torchattacks PGD"


def pgd_rows(model, classifier, x, y, *, eps, steps, batch_size, device, rounds: int = 3,
             extra: tuple = ()) -> list[dict]:
    """Images per second of PGD-``steps`` through helpers.attacks (ART's estimator interface), through
    ``helpers.gradient_attacks`` on the model directly, through torchattacks and any ``extra`` (label, run) pairs.

    The methods run interleaved for ``rounds`` rounds, each round in a rotated order: one method's run is a few
    seconds, and on a 2-core machine a single pass in a fixed order moved the ratios by 10% between runs. Each row holds every round's images per
    second (``rounds``), their median and spread, the adversarial accuracy, and the median over rounds of the
    ratio to torchattacks in the same round (with its min-max), so a slow round of the machine moves both sides.
    """
    eps_step = 2.5 * eps / steps
    pgd = attacks.make_attack("pgd", classifier, eps=eps, max_iter=steps, eps_step=eps_step, batch_size=batch_size)
    x_np, y_np = x.numpy(), y.numpy()
    direct_pgd(model, x[:batch_size], y[:batch_size], eps=eps, eps_step=eps_step, steps=2, batch_size=batch_size, device=device)
    methods = [
        (HELPERS_ART, lambda: attacks.generate(pgd, x_np, y_np, desc="helpers PGD")),
        (HELPERS_DIRECT, lambda: direct_pgd(model, x, y, eps=eps, eps_step=eps_step, steps=steps, batch_size=batch_size,
                                            device=device)),
        (TORCHATTACKS_LABEL, lambda: torchattacks_pgd(model, x, y, eps=eps, eps_step=eps_step, steps=steps,
                                                      batch_size=batch_size, device=device)),
        *extra,
    ]
    speeds: dict[str, list[float]] = {label: [] for label, _ in methods}
    accuracy: dict[str, float | None] = {}
    for round_index in range(rounds):
        # Each round starts with a different method, so that a method is not always the one that runs
        # right after the same neighbour (caches, CPU frequency) or first after a pause.
        shift = round_index % len(methods)
        for label, run in methods[shift:] + methods[:shift]:
            adversarial, seconds = _timed(run)
            if adversarial is None:
                accuracy[label] = None
                continue
            speeds[label].append(len(x) / seconds)
            accuracy[label] = float((classifier.predict(np.asarray(adversarial)).argmax(1) == y_np).mean())
    reference = speeds[TORCHATTACKS_LABEL]
    rows = []
    for label, _ in methods:
        row = {"method": label, "rounds": speeds[label], "accuracy": accuracy[label]}
        if speeds[label]:
            row.update(median=float(np.median(speeds[label])), low=min(speeds[label]), high=max(speeds[label]))
            if reference:
                ratios = [a / b for a, b in zip(speeds[label], reference)]
                row.update(ratio=float(np.median(ratios)), ratio_low=min(ratios), ratio_high=max(ratios))
        rows.append(row)
    return rows


def print_pgd_rows(rows, title: str) -> None:
    print(f"\n{title} (median of {max(len(r['rounds']) for r in rows)} interleaved rounds, [min-max])")
    print(f"{'method':<46} {'images/s':>22} {'/ torchattacks':>22} {'adv. accuracy':>14}")
    for row in rows:
        if not row["rounds"]:
            print(f"{row['method'] + ' (not installed)':<46} {'-':>22}")
            continue
        speed = f"{row['median']:.1f} [{row['low']:.1f}-{row['high']:.1f}]"
        ratio = f"{row['ratio']:.2f}x [{row['ratio_low']:.2f}-{row['ratio_high']:.2f}]" if "ratio" in row else "-"
        print(f"{row['method']:<46} {speed:>22} {ratio:>22} {100 * row['accuracy']:>13.1f}%")


def cifar_mobilenet_bench(args, device) -> None:
    """Training and PGD throughput of the CIFAR-10 study's MobileNetV3-small (width 0.5, stride-1 stem)."""
    from helpers.data import load_cifar10
    from helpers.studies.cifar_robust_training import recipe
    from helpers.studies.cifar_robust_training.model import CifarMobileNetV3

    data = load_cifar10(args.cifar_train_size, args.cifar_images, seed=0)
    x, y = data.x_train, data.y_train
    lr, batch = 0.4, args.cifar_batch_size
    results = {}
    for label in ("bare PyTorch loop", "helpers.training.fit", "bare PyTorch loop (again)", "helpers.training.fit (again)"):
        torch.manual_seed(0)
        model = CifarMobileNetV3(width=0.5).to(memory_format=torch.channels_last)
        optimizer = recipe.sgd(model, lr)
        if label.startswith("bare"):
            _, seconds = _timed(lambda: bare_torch_training(model, x, y, batch_size=batch, lr=lr, augment=recipe.augmenter(0),
                                                            scheduler=recipe.one_cycle(lr), optimizer=optimizer, device=device))
        else:
            _, seconds = _timed(lambda: fit(model, x, y, epochs=1, batch_size=batch, optimizer=optimizer,
                                            loss_fn=recipe.smoothed_cross_entropy(0.1), scheduler=recipe.one_cycle(lr),
                                            augment=recipe.augmenter(0), device=device, desc="bench MobileNetV3"))
        results.setdefault(label.replace(" (again)", ""), []).append(len(x) / seconds)
    bare, ours = max(results["bare PyTorch loop"]), max(results["helpers.training.fit"])
    print(f"\nMobileNetV3-small (width 0.5, stride-1 stem), CIFAR-10 training, {len(x)} images, batch {batch}, "
          f"best of 2 epochs each, interleaved:")
    print(f"{'bare PyTorch loop':<44} {bare:>9.1f} images/s")
    print(f"{'helpers.training.fit':<44} {ours:>9.1f} images/s {ours / bare:>7.2f}x")
    model.eval()
    classifier = attacks.as_art_classifier(model, input_shape=(3, 32, 32), nb_classes=10, device=device)
    rows = pgd_rows(model, classifier, data.x_test, data.y_test, eps=8 / 255, steps=args.cifar_steps, batch_size=batch, device=device,
                    rounds=args.pgd_rounds)
    print_pgd_rows(rows, f"PGD-{args.cifar_steps}, eps=8/255, {len(data.x_test)} CIFAR-10 test images, MobileNetV3-small "
                         f"(after one epoch), batch {batch}")


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
    parser.add_argument("--cifar-images", type=int, default=256, help="CIFAR-10 test images attacked (0: skip the MobileNetV3 part)")
    parser.add_argument("--cifar-train-size", type=int, default=2048, help="CIFAR-10 images of each timed training epoch")
    parser.add_argument("--cifar-batch-size", type=int, default=256)
    parser.add_argument("--cifar-steps", type=int, default=10, help="PGD iterations on the MobileNetV3")
    parser.add_argument("--pgd-rounds", type=int, default=5, help="interleaved rounds of the PGD comparison (median and spread reported)")
    parser.add_argument("--sweep-runs", type=int, default=4, help="quickstart smoke runs in the sweep benchmark (0: skip it)")
    parser.add_argument("--install-comparison", action="store_true",
                        help=f"install {TORCHATTACKS} (without its stale pins) when it is missing, then run")
    args = parser.parse_args(argv)

    if not comparison_installed():
        if args.install_comparison:
            if install_comparison():
                return 1
            importlib.invalidate_caches()
        else:
            print(missing_line())

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

    numpy_pgd = ProjectedGradientDescentNumpy(
        classifier, eps=args.eps, eps_step=eps_step, max_iter=args.steps, num_random_init=1,
        batch_size=args.batch_size, verbose=False,
    )
    # pgd_rows warms up first, so one-time costs (allocations, oneDNN kernel selection) are not billed to the first method.
    rows = pgd_rows(model, classifier, x, y, eps=args.eps, steps=args.steps, batch_size=args.batch_size, device=device, rounds=args.pgd_rounds,
                    extra=(("ART ProjectedGradientDescentNumpy", lambda: attacks.generate(numpy_pgd, x.numpy(), y.numpy(),
                                                                                          desc="ART numpy PGD")),))
    print_pgd_rows(rows, f"PGD-{args.steps}, eps={args.eps}, {args.images} MNIST test images, quickstart CNN, batch {args.batch_size}, "
                         f"device {device}, {torch.get_num_threads()} threads")
    print(f"\ntraining (helpers.training.fit, SmallCNN, batch {args.batch_size}): {train_ips:,.0f} images/s")
    print(f"PGD-{args.steps} through helpers costs {train_ips / rows[0]['median']:.0f}x a training step per image")
    if args.cifar_images:
        cifar_mobilenet_bench(args, device)
    if args.sweep_runs:
        sequential, parallel = sweep_speedup(args.sweep_runs)
        print(f"\n{args.sweep_runs} quickstart smoke runs: one after another {sequential:.1f} s, as a sweep on a 2-worker "
              f"LocalCluster {parallel:.1f} s (cluster start included): {sequential / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
