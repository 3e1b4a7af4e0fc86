"""CNN recipes for the histology study's fixed model: held-out accuracy over the four groups and CPU seconds.

Usage (one thread, as in docs/reproducing/histology_defense.md):

    ADVLAB_DATA=<data root> OMP_NUM_THREADS=1 python docs/reproducing/histology_cnn_trials.py [--seed S] [NAME ...]

Each trial trains ``HistologyCNN`` with ``helpers.training.fit`` on the Kather 2016 tiles at 64 px (70% train, 30%
held out, split seeded as in the notebook) and prints one JSON line: the held-out accuracy, per group, and the
process CPU seconds of the training loop. Without names it runs every trial below.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

TRIALS = {
    # name: (width, epochs, peak / constant learning rate, one-cycle schedule, flips and turns)
    "previous default (constant 0.002, 6 epochs)": (16, 6, 0.002, False, False),
    "constant 0.002, 15 epochs, flips": (16, 15, 0.002, False, True),
    "one-cycle 0.01, 6 epochs, flips": (16, 6, 0.01, True, True),
    "one-cycle 0.01, 10 epochs, flips": (16, 10, 0.01, True, True),
    "one-cycle 0.01, 15 epochs": (16, 15, 0.01, True, False),
    "one-cycle 0.01, 15 epochs, flips (the default)": (16, 15, 0.01, True, True),
    "one-cycle 0.02, 15 epochs, flips": (16, 15, 0.02, True, True),
    "one-cycle 0.01, 25 epochs, flips": (16, 25, 0.01, True, True),
    "width 32, one-cycle 0.01, 10 epochs, flips": (32, 10, 0.01, True, True),
    "width 32, one-cycle 0.01, 20 epochs, flips": (32, 20, 0.01, True, True),
}


def trial(data, width: int, epochs: int, learning_rate: float, schedule: bool, flips: bool, seed: int) -> dict:
    from helpers.data.histology import GROUPS
    from helpers.studies.histology_defense.model import HistologyCNN, dihedral_augment, one_cycle, per_class_accuracy
    from helpers.training import fit

    torch.manual_seed(seed)
    model = HistologyCNN(width=width)
    started = time.process_time()
    fit(model, data.x_train, data.y_train, epochs=epochs, batch_size=64, lr=learning_rate, seed=seed,
        scheduler=one_cycle(learning_rate) if schedule else None,
        augment=dihedral_augment(torch.Generator().manual_seed(seed)) if flips else None, desc="trial")
    seconds = time.process_time() - started
    per_class = per_class_accuracy(model.eval(), data.x_test.numpy(), data.y_test.numpy())
    right = sum(r for r, _ in per_class.values())
    return {"accuracy": round(right / len(data.y_test), 4), "cpu_seconds": round(seconds, 1),
            "per_group": {g: round(r / max(n, 1), 3) for g, (r, n) in per_class.items()},
            "parameters": sum(p.numel() for p in model.parameters()), "groups": list(GROUPS)}


def main() -> None:
    from helpers.data import load_histology

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="trials to run (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_histology("kather2016", image_size=64, test_fraction=0.3, seed=args.seed, download=False)
    for name in args.names or TRIALS:
        result = trial(data, *TRIALS[name], seed=args.seed)
        print(json.dumps({"trial": name, "seed": args.seed, **result}), flush=True)


if __name__ == "__main__":
    main()
