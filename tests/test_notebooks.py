"""Every notebook runs top to bottom under nbval at its smoke preset, and the batch runner turns the
smoke runs into metrics files and HTML reports.

nbval runs in a child pytest so that each notebook gets a fresh kernel of this environment
(``--nbval-current-env``) and its failures show as this test's failure with the cell output.
"""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.runner import run
from helpers.runner.catalog import list_studies, prepare_notebook

STUDIES = list_studies()


def _child_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # let the kernel use its inline backend, as in JupyterLab
    env["ADVLAB_REPORTS"] = str(tmp_path / "reports")
    # Trained models may come from the user's cache; the smoke settings give them their own keys.
    env.pop("ADVLAB_CACHE", None)
    return env


@pytest.mark.parametrize("study", STUDIES, ids=[s.id for s in STUDIES])
def test_notebook_runs_under_nbval_at_smoke_preset(study, tmp_path):
    assert "smoke" in study.presets, f"{study.id} has no notebooks/presets/{study.id}/smoke.yaml"
    prepared = prepare_notebook(study, "smoke", tmp_path / f"{study.stem}.ipynb")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-q", "--rootdir", str(tmp_path), str(prepared)],
        cwd=tmp_path, env=_child_env(tmp_path), capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"nbval failed for {study.id}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    assert (tmp_path / "reports" / study.id / "metrics.json").exists()


def test_runner_writes_metrics_and_html_reports_at_smoke_preset(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("ADVLAB_CACHE", raising=False)
    reports = tmp_path / "reports"
    monkeypatch.setenv("ADVLAB_REPORTS", str(reports))
    # The quickstart stands for all studies here: nbval above already runs each one at its smoke preset.
    chosen = [s for s in STUDIES if s.id == "quickstart"]
    assert run.main([s.id for s in chosen] + ["--preset", "smoke"]) == 0
    index = (reports / "index.html").read_text()
    for study in chosen:
        metrics = json.loads((reports / study.id / "metrics.json").read_text())
        assert metrics["study"] == study.id and metrics["preset"] == "smoke"
        assert metrics["headline"], f"{study.id} reported no headline metrics"
        html = (reports / study.id / f"{study.id}.html").read_text()
        assert "data:image/png;base64" in html, f"{study.id}'s report has no embedded figure"
        # The syntax-highlighting stylesheet of the displayed code names a "Generic.Traceback" style: look at the page without it.
        assert "Traceback" not in re.sub(r"<style.*?</style>", "", html, flags=re.S)
        assert f"{study.id}/{study.id}.html" in index
