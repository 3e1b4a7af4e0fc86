"""Executed notebooks to hand out: ``advlab notebooks DIR --with-outputs``.

An instructor runs the studies once (``advlab run ...``), then copies the notebooks of those runs, with their
outputs, into a folder for students to read before they run them themselves. Each study's last good run left
its executed notebook at ``reports/<study>/<study>.ipynb``; it is copied as ``NN_<study>.ipynb`` with the
presets beside it, so the copy runs from that folder like the originals. A study that has not run yet is
copied without outputs, and said so.

Nothing the user may have changed is overwritten: a file already in DIR with other content is kept, and the
executed copy is written beside it as ``NN_<study>.executed.ipynb`` (and refused, with one line, when that
name is taken by different content too).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from helpers import paths


@dataclass
class Handed:
    copied: list[Path]
    notes: list[str]


def _same(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()


def _place(source: Path, destination: Path, notes: list[str]) -> Path | None:
    """Copy ``source`` to ``destination``, or beside it when the user has a different file there."""
    if not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        return destination
    if _same(source, destination):
        notes.append(f"kept {destination} (already the same)")
        return None
    beside = destination.with_name(destination.stem + ".executed" + destination.suffix)
    if beside.exists() and not _same(source, beside):
        notes.append(f"refused {destination.name}: {destination} and {beside.name} both hold other content; "
                     "move one away to copy the executed notebook")
        return None
    if beside.exists():
        notes.append(f"kept {beside} (already the same)")
        return None
    shutil.copyfile(source, beside)
    notes.append(f"{destination.name} differs from the executed notebook (your edits?): kept it, wrote {beside.name} beside it")
    return beside


def hand_out(target: Path, reports_root: Path | None = None, notebooks_dir: Path | None = None) -> Handed:
    """Copy the executed notebooks of the last runs (and the presets) into ``target``."""
    source = notebooks_dir or paths.notebooks_dir()
    reports = reports_root or paths.reports_root()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} is a file, not a folder")
    target.mkdir(parents=True, exist_ok=True)
    copied, notes = [], []
    for notebook in sorted(source.glob("*.ipynb")):
        study = notebook.stem.split("_", 1)[1] if "_" in notebook.stem else notebook.stem
        executed = reports / study / f"{study}.ipynb"
        if not executed.is_file():
            notes.append(f"{notebook.name}: no run of {study} in {reports}; copied without outputs")
        placed = _place(executed if executed.is_file() else notebook, target / notebook.name, notes)
        if placed:
            copied.append(placed)
    for preset in sorted((source / "presets").glob("*/*.yaml")):
        destination = target / preset.relative_to(source)
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(preset, destination)
            copied.append(destination)
    return Handed(copied, notes)
