"""The batch runner end to end on tiny synthetic notebooks (a few real kernels), plus fail-fast checks."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import paths
from helpers.runner import run
from helpers.formatting import format_seconds, format_value
from helpers.runner.index import collect_rows, write_index

GOOD_PARAMS = 'preset = "default"\nepochs = 2\neps = [0.1]\nwidth = 8\n'
BAD_PARAMS = 'preset = "default"\nepochs = 2\neps = [0.1]\nseed = 0\n'
GOOD_BODY = """\
import json, os, sys
import matplotlib.pyplot as plt
from helpers.headline import as_records, metric
from helpers.paths import report_dir
from helpers.progress import announce, progress_bar

announce("good: training")
for _ in progress_bar(range(3), desc="training", mininterval=0):
    pass

out = report_dir("good")
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, 1], [1, 0])
fig.savefig(out / "curve.png")
plt.show()
(out / "metrics.json").write_text(json.dumps({
    "study": "good", "title": "Good study", "preset": preset,
    "parameters": {"epochs": epochs, "eps": eps},
    "headline": as_records([metric("clean_accuracy", "clean accuracy", 0.981, unit="%"),
                            metric("pgd_accuracy", "PGD accuracy", 0.02, unit="%", eps=0.1),
                            metric("attack", "attack", "pgd")]),
    "key_figure": "curve",
    "wall_seconds": 0.5, "finished_at": "2026-11-21T20:00:00",
    "cwd": os.getcwd(), "python": sys.executable, "report_dir": str(out),
}))
"""
BAD_BODY = 'raise ValueError("boom: the bad study always fails")'


def write_notebook(path: Path, title: str, params: str, body: str) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(f"# {title}"),
            nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(body),
        ],
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.write(nb, path)


@pytest.fixture
def nbdir(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "00_good.ipynb", "Good study", GOOD_PARAMS, GOOD_BODY)
    write_notebook(folder / "01_bad.ipynb", "Bad study", BAD_PARAMS, BAD_BODY)
    for study in ("good", "bad"):
        (folder / "presets" / study).mkdir(parents=True)
    (folder / "presets" / "good" / "smoke.yaml").write_text("epochs: 1\n")
    (folder / "presets" / "bad" / "smoke.yaml").write_text("seed: 1\n")
    return folder


@pytest.fixture
def no_execution(monkeypatch):
    """Fail the test if anything gets executed."""
    import papermill

    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was executed")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


def test_run_good_and_bad_then_rerun_one(nbdir, capsys):
    root = paths.reports_root()
    # Leftovers of an earlier run that must not survive: an extra file, stale metrics, a staging folder.
    (root / "good").mkdir(parents=True)
    (root / "good" / "stale.png").write_bytes(b"old")
    (root / "bad").mkdir()
    (root / "bad" / "metrics.json").write_text('{"headline": {"old": 1}}')
    (root / "good.partial").mkdir()

    code = run.main(["--preset", "smoke", "-p", "epochs=3", "-p", "eps=[0.1,0.2]"], notebooks_dir=nbdir)
    captured = capsys.readouterr()
    out = captured.out
    assert code == 1  # the bad study failed ...

    good = root / "good"  # ... while the good one completed
    assert sorted(p.name for p in good.iterdir()) == [
        "curve.png", "good.html", "good.ipynb", "good.reader.html", "metrics.json", "run.json",
    ]
    metrics = json.loads((good / "metrics.json").read_text())
    assert metrics["preset"] == "smoke"
    assert metrics["parameters"] == {"epochs": 3, "eps": [0.1, 0.2]}  # -p wins over the preset YAML
    assert Path(metrics["cwd"]) == nbdir  # ran in the notebooks folder
    staged = Path(metrics["report_dir"])  # wrote into a staging folder of its own
    assert staged.parent == root and staged.name.startswith("good.partial-")
    assert os.path.dirname(metrics["python"]) == os.path.dirname(sys.executable)  # this environment
    page = (good / "good.html").read_text()
    assert "data:image/png;base64," in page and "Good study" in page
    executed = nbformat.read(good / "good.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    # Progress went to the runner's terminal (stage lines only, stderr is not a terminal), not into the notebook.
    assert "good: training" in captured.err and "training:" not in captured.err
    assert not [o for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    reader = (good / "good.reader.html").read_text()
    assert "data:image/png;base64," in reader and "hl-ipython3" in page and "hl-ipython3" not in reader
    status = json.loads((good / "run.json").read_text())
    assert status["status"] == "ok" and status["preset"] == "smoke" and status["error"] == ""

    bad = root / "bad"
    assert sorted(p.name for p in bad.iterdir()) == ["bad.html", "bad.ipynb", "bad.reader.html", "run.json"]  # no stale metrics
    status = json.loads((bad / "run.json").read_text())
    assert status["status"] == "FAILED"
    assert status["error"] == "ValueError: boom: the bad study always fails"
    assert "boom" in (bad / "bad.html").read_text()
    assert not list(root.glob("*.partial")) and not list(root.glob("*.old"))

    # The summary table names both, with their status and headline.
    assert "good" in out and "ok" in out and "FAILED" in out and "clean accuracy 98.1%" in out

    index = (root / "index.html").read_text()
    assert 'href="good/good.html"' in index and 'href="bad/bad.html"' in index
    assert "Good study" in index and "Bad study" in index and "boom" in index and "98.1%" in index
    assert 'src="good/curve.png"' in index and 'href="good/good.reader.html"' in index
    csv_rows = (root / "index.csv").read_text().splitlines()
    assert csv_rows[0].startswith("study,number,title,status") and any(",pgd_accuracy,PGD accuracy,2.0,%," in r for r in csv_rows)
    assert any(r.startswith("bad,01,Bad study,FAILED") for r in csv_rows)

    # Rerunning one study replaces its report and keeps the other study's row in the index.
    (good / "stale.txt").write_text("left behind")
    assert run.main(["00"], notebooks_dir=nbdir) == 0
    assert not (good / "stale.txt").exists()
    assert json.loads((good / "metrics.json").read_text())["preset"] == "default"
    assert json.loads((good / "metrics.json").read_text())["parameters"]["epochs"] == 2
    rows = {r["study"]: r for r in collect_rows(root)}
    assert rows["good"]["status"] == "ok" and rows["bad"]["status"] == "FAILED"
    index = (root / "index.html").read_text()
    assert 'href="good/good.html"' in index and 'href="bad/bad.html"' in index


def test_engine_errors_and_interrupts(nbdir, monkeypatch, capsys):
    """Errors outside the notebook are recorded; an interrupt leaves the previous report alone."""
    import papermill

    root = paths.reports_root()

    def kernel_died(*args, **kwargs):
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(papermill, "execute_notebook", kernel_died)
    assert run.main(["good", "-p", "epochs=1", "bad"], notebooks_dir=nbdir) == 1  # options between studies
    status = json.loads((root / "good" / "run.json").read_text())
    assert status["status"] == "FAILED" and status["error"] == "RuntimeError: Kernel died before replying to kernel_info"
    assert "Kernel died" in (root / "good" / "good.html").read_text()
    assert (root / "bad" / "run.json").exists()

    def interrupted(*args, **kwargs):
        Path(args[1]).parent.joinpath("half.png").write_bytes(b"half")  # into the run's staging folder
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    before = sorted(p.name for p in (root / "good").iterdir())
    assert run.main(["good"], notebooks_dir=nbdir) == 130
    assert sorted(p.name for p in (root / "good").iterdir()) == before
    assert not list(root.glob("good.partial*"))
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["nosuch"], ["unknown study 'nosuch'", "good (00)", "bad (01)"]),
        (["good", "nosuch"], ["unknown study 'nosuch'"]),
        (["good", "--preset", "fast"], ["unknown preset 'fast'", "default, smoke"]),
        (["--preset", "fast"], ["unknown preset 'fast'", "default, smoke"]),
        (["good", "-p", "epoch=3"], ["unknown parameter 'epoch'", "valid: preset, epochs, eps, width"]),
        (["-p", "width=3"], ["unknown parameter 'width'", "study 'bad'", "valid: preset, epochs, eps, seed"]),
        (["good", "-p", "epochs"], ["key=value"]),
        (["good", "-p", "preset=smoke"], ["--preset"]),
    ],
)
def test_bad_names_fail_fast(nbdir, no_execution, capsys, argv, expected):
    assert run.main(argv, notebooks_dir=nbdir) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    for text in expected:
        assert text in err
    assert not paths.reports_root().exists()  # nothing ran, nothing written


def test_no_notebooks(tmp_path, no_execution, capsys):
    assert run.main([], notebooks_dir=tmp_path) == 2
    assert "no study notebooks" in capsys.readouterr().err


def test_list_and_help(nbdir, no_execution, capsys):
    assert run.main(["--list"], notebooks_dir=nbdir) == 0
    out = capsys.readouterr().out
    assert "00  good  Good study  [presets: default, smoke]" in out and "01  bad " in out
    assert "epochs" not in out
    assert run.main(["good", "--list"], notebooks_dir=nbdir) == 0
    out = capsys.readouterr().out
    assert "parameters of good" in out and "epochs = 2" in out and "eps    = [0.1]" in out
    assert run.main(["--help"], notebooks_dir=nbdir) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--preset" in out and "KEY=VALUE" in out


def test_kernel_runs_this_interpreter(monkeypatch, tmp_path):
    from helpers.runner import execute

    assert execute._same_environment("python")
    assert execute._same_environment(sys.executable)
    assert execute._same_environment(os.path.join(os.path.dirname(sys.executable), "python3"))
    assert not execute._same_environment("/opt/elsewhere/bin/python")
    name, warning = run.resolve_kernel()
    assert name in ("advlab", "python3")

    from jupyter_client import kernelspec

    class OtherSpec:
        argv = ["/opt/elsewhere/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        language = "python"

    monkeypatch.setattr(kernelspec, "find_kernel_specs", lambda: {"python3": "/x"})
    monkeypatch.setattr(kernelspec.KernelSpecManager, "get_kernel_spec", lambda self, name: OtherSpec())
    name, warning = run.resolve_kernel()
    assert name == "python3" and "/opt/elsewhere/bin/python" in warning and sys.executable in warning
    monkeypatch.setattr(kernelspec, "find_kernel_specs", lambda: {"python3": "/x", "advlab": "/y"})
    assert run.resolve_kernel()[0] == "advlab"
    # The kernel manager the runner uses starts this interpreter whatever the spec says.
    km = execute.kernel_manager_class({"X": "1"}, str(tmp_path))(kernel_name="python3")
    assert km.kernel_spec.argv[0] == sys.executable
    assert km.transport == "ipc" and km.ip.startswith(str(tmp_path))  # private sockets, no TCP


def test_index_from_reports_only(tmp_path):
    root = tmp_path / "reports"
    (root / "manual").mkdir(parents=True)  # metrics.json written by running the notebook in JupyterLab
    (root / "manual" / "metrics.json").write_text(
        json.dumps({"title": "Manual <run>", "preset": "default", "headline": {"acc": 0.5}, "wall_seconds": 75})
    )
    (root / "junk").mkdir()  # neither metrics.json nor run.json: no row
    (root / "x.partial").mkdir()
    (root / "x.partial" / "metrics.json").write_text("{}")
    page = write_index(root).read_text()
    assert "Manual &lt;run&gt;" in page and "1 min 15 s" in page and "junk" not in page and "x.partial" not in page
    assert "<style>" in page and "http" not in page.split("<body>")[1].replace("python -m", "")
    assert [r["study"] for r in collect_rows(root)] == ["manual"]
    assert format_value(0.98123) == "0.981" and format_value(12345.6) == "12,346" and format_value("pgd") == "pgd"
    assert format_value(0.98123, name="clean accuracy") == "98.1%" and format_value(3.5, name="accuracy gap") == "3.5"
    assert format_seconds(3.21) == "3.2 s" and format_seconds(3725) == "1 h 02 min" and format_seconds(None) == ""
