"""Where things live: the data root, the model cache and the reports folder.

Every location can be moved with an environment variable, so the same notebooks run from a clone,
in CI against an offline data copy, or on a cluster with a shared data disk:

- ``ADVLAB_DATA``:    the data root (default ``<repo>/data``). Loaders look here first and download
  into it when a dataset is missing and the network is there.
- ``ADVLAB_CACHE``:   trained models and other derived files (default ``<repo>/.cache``).
- ``ADVLAB_REPORTS``: the reports root (default ``<repo>/reports``).
- ``ADVLAB_NOTEBOOKS``: the folder of study notebooks and presets (default ``<repo>/notebooks``).
- ``ADVLAB_REPORT_DIR``: one study's report folder; the batch runner sets it so a run writes into a
  staging folder that replaces the old report only when the run is over.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def data_root() -> Path:
    """The folder datasets are read from (and downloaded into): ``$ADVLAB_DATA`` or ``<repo>/data``."""
    return _env_path("ADVLAB_DATA", REPO_ROOT / "data")


def cache_dir() -> Path:
    """The folder for trained models and derived files: ``$ADVLAB_CACHE`` or ``<repo>/.cache``."""
    path = _env_path("ADVLAB_CACHE", REPO_ROOT / ".cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_root() -> Path:
    """The folder holding one sub-folder per study report: ``$ADVLAB_REPORTS`` or ``<repo>/reports``."""
    return _env_path("ADVLAB_REPORTS", REPO_ROOT / "reports")


def report_dir(study: str) -> Path:
    """Where a study writes figures and ``metrics.json``; created on first use."""
    staged = os.environ.get("ADVLAB_REPORT_DIR", "").strip()
    path = Path(staged).resolve() if staged else reports_root() / study
    path.mkdir(parents=True, exist_ok=True)
    return path


def notebooks_dir() -> Path:
    """The study notebooks: ``$ADVLAB_NOTEBOOKS`` or ``<repo>/notebooks``."""
    return _env_path("ADVLAB_NOTEBOOKS", REPO_ROOT / "notebooks")


class DataMissingError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says where we looked and what to do."""

    def __init__(self, dataset: str, looked_at: Path | str, how_to_get: str):
        self.dataset = dataset
        self.looked_at = Path(looked_at)
        message = (
            f"{dataset} not found at {looked_at}. {how_to_get} "
            f"(data root: {data_root()}; set ADVLAB_DATA to point elsewhere)"
        )
        super().__init__(message)

    def __str__(self) -> str:  # FileNotFoundError would otherwise print the errno tuple
        return self.args[0]


class DataCorruptError(ValueError):
    """A data file is there but is not what it should be; the message names the file, what was
    expected and what was found."""

    def __init__(self, path: Path | str, expected: str, found: str, remedy: str = "delete it to download it again"):
        self.path = Path(path)
        super().__init__(f"{path} is not a valid data file: expected {expected}, found {found}; {remedy}")

    def __str__(self) -> str:
        return self.args[0]
