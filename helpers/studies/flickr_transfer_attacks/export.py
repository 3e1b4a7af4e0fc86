"""Export attacked images as a reusable dataset, as the study did: PNG files plus one CSV.

Layout under the export folder::

    <attacked backbone>/<attack>_eps<epsilon>/<class>/<source stem>.png
    attacked_images.csv

PNG stores 8-bit pixels, so each attacked image is rounded to the nearest 1/255 before it is written,
and the predictions in the CSV are those of every backbone *on the saved pixels* (what a reader of the
dataset gets back), next to its prediction on the clean source photo. Columns: ``file`` (relative to the
CSV), ``source`` (the original photo), ``attacked_model``, ``attack``, ``epsilon``, ``label``,
``label_index``, then ``clean_prediction_<backbone>`` and ``adversarial_prediction_<backbone>`` for each
backbone (class names).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from helpers.cache import atomic_write_text

CSV_NAME = "attacked_images.csv"


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] to uint8, rounded (what a PNG file holds)."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


@dataclass
class AttackedBatch:
    """Attacked images of one (backbone, attack, epsilon) with where they came from."""

    attacked_model: str
    attack: str
    epsilon: float
    images: np.ndarray  # float pixels in [0, 1], (N, H, W, 3)
    sources: Sequence[str]
    labels: np.ndarray
    clean_predictions: Mapping[str, np.ndarray]  # backbone -> predictions on the clean sources


def export_attacked(root: Path | str, batches: Sequence[AttackedBatch], classes: Sequence[str], models: Mapping) -> tuple[Path, list[dict]]:
    """Write every batch as PNG files and all of them into one CSV; return the CSV's path and its rows.

    ``models`` maps backbone names to objects with ``predict(x) -> class indices``; each predicts the
    saved (8-bit) pixels.
    """
    root = Path(root)
    rows: list[dict] = []
    for batch in batches:
        pixels = to_uint8(batch.images)
        saved = pixels.astype(np.float32) / 255.0
        adversarial_predictions = {name: model.predict(saved) for name, model in models.items()}
        folder = Path(batch.attacked_model) / f"{batch.attack}_eps{batch.epsilon:g}"
        for index, (image, source, label) in enumerate(zip(pixels, batch.sources, batch.labels)):
            relative = folder / classes[int(label)] / f"{Path(source).stem}.png"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / relative)
            row = {
                "file": relative.as_posix(), "source": str(source), "attacked_model": batch.attacked_model,
                "attack": batch.attack, "epsilon": batch.epsilon, "label": classes[int(label)], "label_index": int(label),
            }
            for name in models:
                row[f"clean_prediction_{name}"] = classes[int(batch.clean_predictions[name][index])]
                row[f"adversarial_prediction_{name}"] = classes[int(adversarial_predictions[name][index])]
            rows.append(row)
    path = root / CSV_NAME
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buffer.getvalue())
    return path, rows
