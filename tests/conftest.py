"""Test-wide settings: offline data from ../shared/data, and caches and reports in temporary folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torchvision  # noqa: F401  before any TensorFlow import: see helpers/frameworks.py

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Tests run offline against the shared copy unless the caller chose a data root.
if "ADVLAB_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["ADVLAB_DATA"] = str(SHARED_DATA)
os.environ.setdefault("MPLBACKEND", "Agg")


def _have_data(*parts: str) -> bool:
    return Path(os.environ.get("ADVLAB_DATA", REPO / "data"), *parts).exists()


needs_mnist = pytest.mark.skipif(not _have_data("MNIST", "raw"), reason="MNIST not under ADVLAB_DATA")
needs_cifar_jpg = pytest.mark.skipif(not _have_data("cifar10-jpg"), reason="cifar10-jpg not under ADVLAB_DATA")


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """Every test gets its own cache and reports folders, so tests never touch the user's."""
    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVLAB_REPORTS", str(tmp_path / "reports"))
    monkeypatch.delenv("ADVLAB_REPORT_DIR", raising=False)


def default_parameters(study_id: str) -> dict:
    """The values of a study notebook's ``parameters`` cell (its default preset), without a kernel."""
    from helpers.runner.fetch import study_parameters

    return study_parameters(study_id)
