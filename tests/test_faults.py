"""Fault injection against the batch runner: real processes, real files, no mocks.

Each case runs ``python -m helpers.run`` in a child process on tiny notebooks and checks the exit
status, a one-line message naming the cause, and that every previous good report is byte-identical
afterwards and no staging folder is left. (Corrupt cache entries: tests/test_cache.py; corrupt data
files: tests/test_data_mnist.py; bad parameter values: tests/test_params.py.)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
PARAMS = 'preset = "default"\npause = 0.0\nfail = False\n'
BODY = """\
import json, time
from helpers.headline import as_records, metric
from helpers.paths import report_dir

time.sleep(pause)
if fail:
    raise RuntimeError("the study failed on purpose")
(report_dir("demo") / "metrics.json").write_text(json.dumps({
    "study": "demo", "title": "Demo", "preset": preset, "parameters": {"pause": pause},
    "headline": as_records([metric("clean_accuracy", "clean accuracy", 0.9, unit="%")]),
}))
"""


@pytest.fixture
def lab(tmp_path):
    """A notebooks folder with one study ``demo``, a reports root, and a runner command."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Demo"),
               nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
               nbformat.v4.new_code_cell(BODY)],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
                  "language_info": {"name": "python"}},
    )
    nbformat.write(nb, notebooks / "00_demo.ipynb")
    reports = tmp_path / "reports"
    env = {**os.environ, "ADVLAB_NOTEBOOKS": str(notebooks), "ADVLAB_REPORTS": str(reports)}
    env.pop("MPLBACKEND", None)

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "helpers.run", "demo", *args], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        child = start(*args)
        out, err = child.communicate(timeout=timeout)
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)

    return reports, start, run


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _no_staging(reports: Path) -> None:
    assert not [p.name for p in reports.iterdir() if ".partial" in p.name or p.name.endswith((".old", ".lock"))]


def test_a_second_run_of_the_same_study_is_refused_while_the_first_runs(lab):
    reports, start, run = lab
    first = start("-p", "pause=8")
    lock = reports / "demo.lock"
    deadline = time.time() + 60
    while not lock.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert lock.exists(), "the first run never took the study's lock"
    second = run("-p", "pause=0")
    assert second.returncode == 1
    busy = [line for line in second.stdout.splitlines() if line.strip().startswith("not run:")]
    assert len(busy) == 1 and f"being run by process {first.pid}" in busy[0]
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert json.loads((reports / "demo" / "metrics.json").read_text())["parameters"] == {"pause": 8}
    _no_staging(reports)


def test_a_stale_lock_of_a_dead_run_is_taken_over(lab):
    reports, start, run = lab
    reports.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (reports / "demo.lock").write_text(json.dumps({"host": os.uname().nodename, "pid": int(dead.stdout)}))
    assert run().returncode == 0
    _no_staging(reports)


def test_a_failed_run_keeps_the_last_good_report_and_is_shown_beside_it(lab):
    reports, start, run = lab
    assert run().returncode == 0
    good = _snapshot(reports / "demo")
    failed = run("-p", "fail=true")
    assert failed.returncode == 1
    assert "RuntimeError: the study failed on purpose" in failed.stdout
    assert "previous good report is kept" in failed.stdout
    now = _snapshot(reports / "demo")
    assert {k: v for k, v in now.items() if not k.startswith("failed/")} == good
    assert json.loads((reports / "demo" / "failed" / "run.json").read_text())["status"] == "FAILED"
    index = (reports / "index.html").read_text()
    assert "latest attempt FAILED" in index and 'href="demo/failed/demo.html"' in index
    assert 'href="demo/demo.reader.html"' in index
    # The next good run replaces both.
    assert run().returncode == 0
    assert not (reports / "demo" / "failed").exists()
    _no_staging(reports)


def test_an_unusable_reports_root_stops_before_running_with_one_line(lab, tmp_path):
    reports, start, run = lab
    reports.write_text("a file where the reports folder should be")
    result = run()
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "reports root" in result.stderr and "not usable" in result.stderr


def test_sigterm_mid_run_leaves_the_previous_report_no_staging_and_a_summary(lab):
    reports, start, run = lab
    assert run().returncode == 0
    good = _snapshot(reports / "demo")
    child = start("-p", "pause=30")
    deadline = time.time() + 60
    while not list(reports.glob("demo.partial-*")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # inside the kernel's sleep
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 143
    assert "terminated: the study being run keeps its previous report" in err
    assert "Traceback" not in err and "Traceback" not in out
    assert _snapshot(reports / "demo") == good
    assert (reports / "index.html").exists()
    _no_staging(reports)


def test_ctrl_c_mid_run_ends_with_one_line_and_no_traceback(lab):
    reports, start, run = lab
    child = start("-p", "pause=30")
    deadline = time.time() + 60
    while not list(reports.glob("demo.partial-*")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert "interrupted: the study being run keeps its previous report" in err
    assert "Traceback" not in err
    _no_staging(reports)
