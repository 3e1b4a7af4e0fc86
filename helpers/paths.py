"""Where things live: the data root, the model cache, the reports folder and the notebooks.

The defaults depend on how advlab is installed. In a checkout (``pip install -e .`` or ``make``)
everything stays in the repository: ``data/``, ``.cache/``, ``reports/``, ``notebooks/``. In a plain
install (``pip install advlab`` or from git), the data and the model cache go to the user's data and
cache directories (``platformdirs``: ``~/.local/share/advlab`` and ``~/.cache/advlab`` on Linux),
reports to ``reports/`` in the current directory, and the notebooks are read from inside the package.
Every location can be moved with an environment variable, so the same notebooks run from a clone, in
CI against an offline data copy, or on a cluster with a shared data disk:

- ``ADVLAB_DATA``:    the data root. Loaders look here first and download into it when a dataset is
  missing and the network is there.
- ``ADVLAB_CACHE``:   trained models and other derived files.
- ``ADVLAB_REPORTS``: the reports root.
- ``ADVLAB_NOTEBOOKS``: the folder of study notebooks and their presets.
- ``ADVLAB_REPORT_DIR``: one study's report folder; the batch runner sets it so a run writes into a
  staging folder that replaces the old report only when the run is over.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the checkout, or site-packages in a plain install
APP_NAME = "advlab"


def in_checkout() -> bool:
    """Whether this package runs from a source checkout (editable install) rather than site-packages."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir()


def _user_dir(kind: str) -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME) if kind == "data" else platformdirs.user_cache_dir(APP_NAME))


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def data_root() -> Path:
    """The folder datasets are read from (and downloaded into): ``$ADVLAB_DATA``, else see the module doc."""
    return _env_path("ADVLAB_DATA", REPO_ROOT / "data" if in_checkout() else _user_dir("data"))


def cache_dir() -> Path:
    """The folder for trained models and derived files: ``$ADVLAB_CACHE``, else see the module doc."""
    path = _env_path("ADVLAB_CACHE", REPO_ROOT / ".cache" if in_checkout() else _user_dir("cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_root() -> Path:
    """The folder holding one sub-folder per study report: ``$ADVLAB_REPORTS``, else see the module doc."""
    return _env_path("ADVLAB_REPORTS", REPO_ROOT / "reports" if in_checkout() else Path.cwd() / "reports")


def report_dir(study: str) -> Path:
    """Where a study writes figures and ``metrics.json``; created on first use."""
    staged = os.environ.get("ADVLAB_REPORT_DIR", "").strip()
    path = Path(staged).resolve() if staged else reports_root() / study
    path.mkdir(parents=True, exist_ok=True)
    return path


def notebooks_dir() -> Path:
    """The study notebooks and presets: ``$ADVLAB_NOTEBOOKS``, ``<repo>/notebooks``, or the copy in the package."""
    # In a plain install the notebooks are package data beside this module (pyproject.toml maps them).
    bundled = REPO_ROOT / "notebooks" if in_checkout() else PACKAGE_DIR / "study_notebooks"
    return _env_path("ADVLAB_NOTEBOOKS", bundled)


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
