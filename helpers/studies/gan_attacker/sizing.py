"""Recipe measurements for sizing the attacker: C1 under A and the CPU time of A's training, per setting.

    python -m helpers.studies.gan_attacker.sizing --widths 1 0.5 0.25 --epochs 1 3 6 --intensities 0.16 --seeds 0 1 2

trains C1 as the notebook's default preset does (cached), then one consecutive-mode attacker per combination of
width (zipped with ``--epochs``), intensity and attacker seed, and prints one JSON line per attacker: its final
C1 and C2 attacked accuracy on the test digits, its training digits, wall and CPU seconds.

    python -m helpers.studies.gan_attacker.sizing --profile --widths 1 0.5 0.25 0.125

times A's training step alone (batch 64, a fresh C1, best of 3 rounds of 5 steps) per width and architecture, in
digits per CPU-second. ``docs/reproducing/gan_attacker.md`` lists what these measured and the command of each table.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from .training import Recipe, train_classifier, train_consecutive


def measure(args: argparse.Namespace) -> None:
    from helpers.data import load_mnist

    data = load_mnist(args.train_size, args.test_size, seed=args.data_seed)
    common = dict(epochs=args.classifier_epochs, batch_size=64, learning_rate=0.001, seed=args.data_seed, device="cpu")
    c1, _, _ = train_classifier(data, index=1, **common)
    c2, _, _ = train_classifier(data, index=2, **common)
    attacker_data = data.subset(args.attacker_train_size, None, seed=args.data_seed) if args.attacker_train_size < len(data.x_train) else data
    for width, epochs in zip(args.widths, args.epochs):
        for t in args.intensities:
            for seed in args.seeds:
                recipe = Recipe(epochs=epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, schedule=args.schedule,
                                beta1=args.beta1, architecture=args.architecture, width=width, objective=args.objective,
                                output_mode=args.output_mode)
                run = train_consecutive(c1, c2, attacker_data, intensity=t, recipe=recipe, seed=seed)
                weights = sum(p.numel() for p in run.attacker.parameters())
                print(json.dumps({
                    "width": width, "epochs": epochs, "t": t, "seed": seed, "data_seed": args.data_seed,
                    "architecture": args.architecture, "learning_rate": args.learning_rate, "beta1": args.beta1,
                    "schedule": args.schedule, "objective": args.objective, "output_mode": args.output_mode, "batch_size": args.batch_size, "weights": weights,
                    "c1_clean": round(run.final("c1_clean_accuracy"), 4), "c1_attacked": round(run.final("c1_attacked_accuracy"), 4),
                    "c2_attacked": round(run.final("c2_attacked_accuracy"), 4), "digits": run.digits,
                    "wall_s": round(run.seconds, 1), "cpu_s": round(run.cpu_seconds, 1), "threads": torch.get_num_threads(),
                }), flush=True)


def profile(widths, batch_size: int = 64, rounds: int = 3, steps: int = 5) -> None:
    """Digits per CPU-second of ``attacker_step`` (A forward and backward through a frozen C) per architecture and width."""
    import time

    from .networks import Attacker, Classifier, frozen
    from .training import attacker_step

    torch.manual_seed(0)
    target = frozen(Classifier())
    x, y = torch.rand(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))
    for architecture in ("skip", "study"):
        for width in widths:
            attacker = Attacker(0.1, "scaled", architecture, width)
            optimizer = torch.optim.Adam(attacker.parameters())
            for _ in range(2):  # warm-up
                attacker_step(attacker, [target], optimizer, x, y)
            best = float("inf")
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(steps):
                    attacker_step(attacker, [target], optimizer, x, y)
                best = min(best, (time.process_time() - started) / steps)
            weights = sum(p.numel() for p in attacker.parameters())
            print(json.dumps({"architecture": architecture, "width": width, "weights": weights, "batch_size": batch_size,
                              "digits_per_cpu_second": round(batch_size / best), "threads": torch.get_num_threads()}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[0.25])
    parser.add_argument("--epochs", type=int, nargs="+", default=[6], help="one per width")
    parser.add_argument("--intensities", type=float, nargs="+", default=[0.16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="attacker seeds")
    parser.add_argument("--data-seed", type=int, default=0, help="the run's seed: digits and C1, C2")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--attacker-train-size", type=int, default=8_000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--classifier-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--schedule", default="onecycle")
    parser.add_argument("--beta1", type=float, default=0.9)
    parser.add_argument("--architecture", default="skip")
    parser.add_argument("--output-mode", default="scaled", help="A's bound: scaled (t * tanh) or clamp")
    parser.add_argument("--objective", default="cross_entropy", help="A's loss: cross_entropy (the study's) or non_saturating")
    parser.add_argument("--profile", action="store_true", help="time A's training step per width instead")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.widths, args.batch_size)
        return
    if len(args.widths) != len(args.epochs):
        parser.error("give one --epochs value per --widths value")
    measure(args)


if __name__ == "__main__":
    main(sys.argv[1:])
