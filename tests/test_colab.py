"""Open in Colab: every notebook's setup cell and the README's badges come from pyproject's Repository URL,
the setup cell installs only in Colab, and it never trips the parameter check.

The fresh-venv check (the setup cell, then the smoke preset, in a Python 3.11 venv that already has
another torch minor version, as Colab would) is ``test_setup_cell_then_smoke_in_a_colab_like_venv``:
slow and opt-in, it runs when ``ADVLAB_COLAB_VENV`` names such a venv.
"""
from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from helpers.params import check_parameters
from helpers.runner import colab
from helpers.runner.catalog import list_studies
from helpers.runner.cli import main as advlab

ROOT = Path(__file__).resolve().parents[1]
STUDIES = list_studies()


def _setup_cells(study):
    nb = nbformat.read(study.path, as_version=4)
    return nb, [i for i, cell in enumerate(nb.cells) if colab.is_setup_cell(cell)]


@pytest.mark.parametrize("study", STUDIES, ids=[s.id for s in STUDIES])
def test_each_notebook_opens_with_its_current_setup_cell(study):
    nb, found = _setup_cells(study)
    assert len(found) == 1, f"{study.path.name}: run `advlab colab --update`"
    cell = nb.cells[found[0]]
    assert cell.source == colab.setup_cell_source(study.id), f"{study.path.name}: run `advlab colab --update`"
    assert "parameters" in nb.cells[found[0] + 1].metadata.get("tags", []), "the setup cell comes right before the parameters"
    assert not any(c.cell_type == "code" for c in nb.cells[: found[0]]), "the setup cell is the first code cell"


def test_readme_badges_match_the_repository_url():
    readme = (ROOT / "README.md").read_text()
    assert colab.badge_table(STUDIES) in readme, "run `advlab colab --update`"
    slug = colab.github_slug(colab.repository_url())
    assert f"colab.research.google.com/github/{slug}/blob/main/notebooks/00_quickstart.ipynb" in readme
    assert f'pip install "advlab[lab] @ git+{colab.repository_url()}"' in readme, "the README's install line names another URL"


def test_update_is_idempotent_and_restores_a_removed_cell(tmp_path):
    study = STUDIES[0]
    nb = nbformat.read(study.path, as_version=4)
    nb.cells = [c for c in nb.cells if not colab.is_setup_cell(c)]
    restored = colab.with_setup_cell(nb, study.id)
    again = colab.with_setup_cell(nbformat.from_dict(json.loads(nbformat.writes(restored))), study.id)
    assert nbformat.writes(again) == nbformat.writes(restored) == nbformat.writes(nbformat.read(study.path, as_version=4))


def test_only_github_urls_make_colab_links():
    assert colab.github_slug("https://github.com/owner/name.git") == "owner/name"
    with pytest.raises(ValueError, match="GitHub"):
        colab.github_slug("https://gitlab.com/owner/name")


class _RecordingShell:
    """Stands in for IPython's shell: records the %pip line the transformed cell runs."""

    def __init__(self):
        self.calls = []

    def run_line_magic(self, name, line, _stack_depth=1):
        self.calls.append(("magic", name, line))


def _run_setup_cell(study_id: str, in_colab: bool, monkeypatch) -> tuple[list, dict]:
    code = TransformerManager().transform_cell(colab.setup_cell_source(study_id))
    shell = _RecordingShell()
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "google.colab":
            return importlib.machinery.ModuleSpec(name, None) if in_colab else None
        if name == "helpers":
            return None  # as in a fresh Colab runtime
        return real_find_spec(name, *args)

    import helpers.runner.fetch

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(helpers.runner.fetch, "fetch", lambda study: shell.calls.append(("fetch", study)))
    namespace = {"get_ipython": lambda: shell}
    exec(code, namespace)
    return shell.calls, namespace


def test_setup_cell_installs_and_fetches_in_colab_only(monkeypatch):
    calls, _ = _run_setup_cell("quickstart", in_colab=True, monkeypatch=monkeypatch)
    assert calls == [
        ("magic", "pip", f'install --quiet "advlab @ git+{colab.repository_url()}"'),
        ("fetch", "quickstart"),
    ]
    calls, _ = _run_setup_cell("quickstart", in_colab=False, monkeypatch=monkeypatch)
    assert calls == []


def test_setup_cell_binds_nothing_the_parameter_check_would_reject(monkeypatch):
    from helpers.studies.quickstart.parameters import PARAMETERS

    from conftest import default_parameters

    _, namespace = _run_setup_cell("quickstart", in_colab=False, monkeypatch=monkeypatch)
    namespace.pop("get_ipython")
    namespace.pop("__builtins__")
    namespace.update(default_parameters("quickstart"))
    assert check_parameters(namespace, PARAMETERS) == default_parameters("quickstart")


def test_reports_leave_the_setup_cell_out(tmp_path):
    from helpers.runner.html import export_reports

    nb = nbformat.read(STUDIES[0].path, as_version=4)
    nb.cells = nb.cells[:4]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    full, _ = export_reports(path, tmp_path / "nb.html", "t", tmp_path)
    assert "google.colab" not in full.read_text()


def test_fetch_reports_data_ready_or_names_the_study(capsys):
    if not (Path(os.environ.get("ADVLAB_DATA", "")) / "MNIST").is_dir():
        pytest.skip("needs the offline MNIST copy under ADVLAB_DATA")
    assert advlab(["fetch", "quickstart", "--preset", "smoke"]) == 0
    assert "quickstart: data ready under" in capsys.readouterr().out
    assert advlab(["fetch", "no_such_study"]) == 2
    assert "unknown study 'no_such_study'" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("ADVLAB_COLAB_VENV"), reason="set ADVLAB_COLAB_VENV to a Colab-like venv")
def test_setup_cell_then_smoke_in_a_colab_like_venv(tmp_path):
    """ADVLAB_COLAB_VENV: a Python 3.11 venv with ipykernel, nbclient and a torch/torchvision pair other than
    constraints.txt's. The setup cell (pointed at a clean clone of this checkout, and with a stand-in
    ``google.colab`` module) installs advlab there, then the quickstart notebook runs at the smoke preset in
    the same kernel, from an empty folder. Its torch stays the one it had."""
    venv = Path(os.environ["ADVLAB_COLAB_VENV"])
    python = venv / "bin" / "python"
    script = ROOT / "tests" / "colab_like_run.py"
    result = subprocess.run([str(python), str(script), str(ROOT), str(tmp_path)], capture_output=True, text=True,
                            timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["torch_before"] == summary["torch_after"]
    assert (tmp_path / "work" / "reports" / "quickstart" / "metrics.json").is_file()
