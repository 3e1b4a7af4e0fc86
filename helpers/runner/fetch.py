"""``advlab fetch STUDY ...``: download the data a study needs before running it.

Useful wherever the network comes and goes: the Colab setup cell calls it, and on a cluster a login
node with a network can fill ``ADVLAB_DATA`` for compute nodes without one. Each study says what its
data are in ``study.fetch_data(params)``; the preset decides how much (the parameters it reads).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Sequence

from helpers import paths
from helpers.runner.catalog import DEFAULT_PRESET, UnknownNameError, build_parameters, find_study, list_studies


def study_parameters(study: str, preset: str = DEFAULT_PRESET) -> dict[str, Any]:
    """Every parameter of a study at ``preset``: the notebook's ``parameters`` cell, then the preset's overrides."""
    import nbformat

    found = find_study(study)
    nb = nbformat.read(found.path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict[str, Any] = {}
    exec(cell.source, namespace)  # the cell is plain assignments (tests/test_study_contract.py)
    values = {k: v for k, v in namespace.items() if not k.startswith("__")}
    values.update(build_parameters(found, preset))
    return values


def fetch(study: str, preset: str = DEFAULT_PRESET) -> None:
    """Download (or find) the data ``study`` reads at ``preset``; raises ``DataMissingError`` when it cannot."""
    found = find_study(study)
    definition = importlib.import_module(f"helpers.studies.{found.id}.study")
    definition.fetch_data(study_parameters(found.id, preset))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="advlab fetch", description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="*", help="study ids (default: all)")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    args = parser.parse_args(list(argv))
    try:
        studies = [find_study(name).id for name in args.studies] or [s.id for s in list_studies()]
    except UnknownNameError as exc:
        print(f"advlab fetch: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for study in studies:
        try:
            fetch(study, args.preset)
        except (paths.DataMissingError, paths.DataCorruptError, UnknownNameError) as exc:
            print(f"advlab fetch: {study}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{study}: data ready under {paths.data_root()}")
    return 1 if failed else 0
