"""Fault injection against the batch runner: real processes, real files, no mocks.

Each case runs ``python -m helpers.run`` in a child process on tiny notebooks and checks the exit
status, a one-line message naming the cause, and that every previous good report is byte-identical
afterwards and no staging folder is left. The second part covers one variant of every other fault
class in-process where it can: YAML, cache, stage seeding, data, sweeps, runner edges and foreign
strings. (More corrupt cache entries: tests/test_cache.py; corrupt data files: tests/test_data_mnist.py;
bad parameter values: tests/test_params.py.)
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
PARAMS = 'preset = "default"\npause = 0.0\nfail = False\nhold = 0.0\n'
BODY = """\
import json, time
from helpers.headline import as_records, metric
from helpers.paths import report_dir

(report_dir("demo") / "started").touch()  # the kernel is running the notebook
time.sleep(pause + pause * hold)
if fail:
    raise RuntimeError("the study failed on purpose")
(report_dir("demo") / "metrics.json").write_text(json.dumps({
    "study": "demo", "title": "Demo", "preset": preset, "parameters": {"pause": pause},
    "headline": as_records([metric("clean_accuracy", "clean accuracy", 0.9, unit="%")]),
}))
"""


def _foreground() -> None:
    """The runner as started from a terminal: Ctrl-C and Ctrl-\\ act. A test session started in the background
    by a non-interactive shell (``pytest &``, ``nohup ...``) ignores both, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


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
    scratch = tmp_path / "tmp"  # the runner's temporary files (kernel folder, progress file) go here
    scratch.mkdir()
    env = {**os.environ, "ADVLAB_NOTEBOOKS": str(notebooks), "ADVLAB_REPORTS": str(reports), "TMPDIR": str(scratch)}
    env.pop("MPLBACKEND", None)

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "helpers.run", "demo", *args], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_foreground)

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


# --------------------------------------------------------------------------------------------------
# Second round: one variant per fault class, each asserting its effect.


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# YAML that expands or surprises ----------------------------------------------------------------------

BILLION_LAUGHS = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
                  + "".join(f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")))


def test_yaml_aliases_are_refused_at_once_and_values_read_as_meant():
    from helpers.runner.catalog import parse_value

    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"parameter 'epochs'.*aliases|anchors") as info:
        parse_value(BILLION_LAUGHS, "epochs")
    assert time.perf_counter() - started < 1.0 and "\n" not in str(info.value)
    assert parse_value("01750", "train_size") == 1750
    assert parse_value("1:30", "epochs") == "1:30" and parse_value("0x10", "epochs") == "0x10"
    assert parse_value("no", "device") == "no" and parse_value("2024-01-01", "seed") == "2024-01-01"
    assert parse_value("1e-3", "lr") == 1e-3 and parse_value("true", "x") is True
    with pytest.raises(ValueError, match="tags"):
        parse_value("!!python/object/apply:os.system ['true']", "epochs")


def test_a_bad_preset_file_stops_the_runner_in_one_line_naming_file_and_parameter(lab, tmp_path, capsys, monkeypatch):
    from helpers.runner.run import main

    reports, start, run = lab
    monkeypatch.setenv("ADVLAB_REPORTS", str(reports))
    presets = tmp_path / "notebooks" / "presets" / "demo"
    presets.mkdir(parents=True)
    (presets / "tagged.yaml").write_text("pause: 0\nfail: !!python/object/apply:os.system ['true']\n")
    (presets / "broken.yaml").write_text("pause: [0, 1\nfail: false\n")
    (presets / "laughs.yaml").write_text(BILLION_LAUGHS.replace("a:", "pause:", 1))
    for name, expected in (("tagged", "parameter 'fail'"), ("broken", "preset file"), ("laughs", "parameter 'pause'")):
        code = main(["demo", "--preset", name], notebooks_dir=tmp_path / "notebooks")
        line = _one_line(capsys.readouterr().err)
        assert code == 2 and f"{name}.yaml" in line and expected in line, line
    assert not reports.exists() or not list(reports.iterdir())


def test_duplicate_list_values_are_refused_with_one_message():
    from helpers.params import Param, ParameterError

    with pytest.raises(ParameterError, match=r"'epsilons' lists 0.3 more than once"):
        Param(list, item=float).check("epsilons", [0.3, 0.3, 0.1])


# Results that depend on the cache -------------------------------------------------------------------


def test_every_stage_draws_the_same_numbers_whatever_came_before():
    import numpy as np
    import torch

    from helpers.notebook import StudyRun, stage_seed

    assert stage_seed(0, "attacks") == stage_seed(0, "attacks") != stage_seed(0, "train") != stage_seed(1, "train")
    run = StudyRun("demo", "Demo", {"seed": 0}, None, "cpu")
    draws = []
    for consumed in (0, 1000):  # an earlier stage that trained (draws a lot) or loaded (draws nothing)
        with run.stage("train"):
            torch.rand(consumed), np.random.rand(consumed)
        with run.stage("attacks"):
            draws.append((torch.rand(3).tolist(), np.random.rand(3).tolist()))
    assert draws[0] == draws[1]


def _tiny():
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def test_cache_entries_swapped_under_each_others_keys_are_not_loaded(tmp_path, monkeypatch):
    import torch

    from helpers import cache

    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path / "cache"))

    def trainer(value):
        def train(model):
            with torch.no_grad():
                model.weight.fill_(value)
            return {"value": value}
        return train

    one = cache.cached_torch_model("m", _tiny(), trainer(1.0), {"which": 1})
    two = cache.cached_torch_model("m", _tiny(), trainer(2.0), {"which": 2})
    for suffix in ("", ".json"):  # swap weights and sidecars together
        a, b = Path(f"{one.path}{suffix}"), Path(f"{two.path}{suffix}")
        swap = a.with_name("swap")
        a.rename(swap), b.rename(a), swap.rename(b)
    model = _tiny()
    with pytest.warns(UserWarning, match="rebuilding"):
        again = cache.cached_torch_model("m", model, trainer(1.0), {"which": 1})
    assert not again.from_cache and float(model.weight.detach()[0, 0]) == 1.0


@pytest.mark.parametrize("fault", ["torch_save_fails", "cache_is_a_file"])
def test_a_cache_that_cannot_be_written_costs_one_warning(tmp_path, monkeypatch, fault):
    import warnings

    import torch

    from helpers import cache

    if fault == "cache_is_a_file":  # the cache folder cannot be created (NotADirectoryError, FileExistsError)
        (tmp_path / "cache").write_text("not a folder")
    else:  # torch reports a full disk as its own RuntimeError
        monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("PytorchStreamWriter failed")))
    monkeypatch.setenv("ADVLAB_CACHE", str(tmp_path / "cache"))
    calls = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = cache.cached_torch_model("m", _tiny(), lambda m: calls.append(1) or {"ok": True}, {"x": 1})
    stored = [w for w in caught if "could not store m" in str(w.message)]
    assert len(stored) == 1 and calls == [1] and not entry.from_cache and entry.meta == {"ok": True}


# Data that is wrong ----------------------------------------------------------------------------------


def _idx(path: Path, magic: int, shape: tuple, items: bytes, count: int) -> None:
    header = b"".join(v.to_bytes(4, "big") for v in (magic, count, *shape))
    path.write_bytes(header + items)


@pytest.mark.parametrize("fault", ["label_out_of_range", "count_mismatch"])
def test_mnist_label_faults_are_named(tmp_path, fault):
    from helpers.data.mnist import check_idx_files
    from helpers.paths import DataCorruptError

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = 3, 3 if fault == "label_out_of_range" else 2
    _idx(raw / "t10k-images-idx3-ubyte", 2051, (28, 28), bytes(images * 784), images)
    _idx(raw / "t10k-labels-idx1-ubyte", 2049, (), bytes([1, 200, 3][:labels]) if fault == "label_out_of_range"
         else bytes(labels), labels)
    with pytest.raises(DataCorruptError) as info:
        check_idx_files(raw)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte" in message and "\n" not in message
    assert ("label 200" in message) if fault == "label_out_of_range" else ("3 labels" in message and "found 2" in message)


def _tile(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 100, 50)).save(path)


def test_a_histology_copy_missing_a_class_folder_is_refused_with_the_expected_list(tmp_path):
    from helpers.data.histology import KATHER2016_GROUPS, load_histology
    from helpers.data.photos import ClassFolderError

    for name in list(KATHER2016_GROUPS)[:-1]:  # 08_EMPTY missing
        for i in range(2):
            _tile(tmp_path / "tiles" / name / f"{i}.png")
    with pytest.raises(ClassFolderError) as info:
        load_histology(tmp_path / "tiles", image_size=8)
    message = str(info.value)
    assert "missing 08_EMPTY" in message and "01_TUMOR" in message and "\n" not in message


def test_an_extra_class_folder_in_the_shared_histology_copy_is_named_not_reported_missing(tmp_path, monkeypatch):
    from helpers.data.histology import KATHER2016_GROUPS, load_histology
    from helpers.data.photos import ClassFolderError

    for name in [*KATHER2016_GROUPS, "09_EXTRA"]:
        (tmp_path / "histology" / name).mkdir(parents=True)
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path))
    with pytest.raises(ClassFolderError, match="unexpected 09_EXTRA"):
        load_histology("kather2016", download=False)


def test_a_zero_byte_cifar_image_is_named(tmp_path):
    from helpers.data.cifar10 import _decode
    from helpers.data.photos import ImageDecodeError

    empty = tmp_path / "cat" / "0.jpg"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match=r"0\.jpg.*empty"):
        _decode([empty])


# Sweeps as careful as single runs -------------------------------------------------------------------


def test_a_failed_sweep_run_goes_beside_the_runs_last_good_result(tmp_path):
    from helpers.runner.sweep import PlannedRun, _record_for, _write_run

    runs = tmp_path / "runs"
    good = {"run.json": json.dumps({"status": "ok", "headline": []}).encode(), "demo.html": b"good"}
    bad = {"run.json": json.dumps({"status": "FAILED", "error": "boom"}).encode(), "demo.html": b"bad"}
    _write_run(runs, "seed-0", good, ok=True)
    _write_run(runs, "seed-0", bad, ok=False)
    assert (runs / "seed-0" / "demo.html").read_bytes() == b"good"
    assert (runs / "seed-0" / "failed" / "demo.html").read_bytes() == b"bad"
    record = _record_for(PlannedRun("seed-0", {"seed": 0}, {}), runs, {"status": "FAILED", "error": "boom"})
    assert record["status"] == "ok" and "boom" in record["note"]
    cancelled = _record_for(PlannedRun("seed-1", {"seed": 1}, {}), runs, None)
    assert cancelled["status"] == "CANCELLED"
    _write_run(runs, "seed-0", good, ok=True)  # the next good run replaces both
    assert not (runs / "seed-0" / "failed").exists()
    assert [p.name for p in runs.iterdir()] == ["seed-0"]


def test_a_worker_count_below_one_is_refused_before_anything_runs(lab):
    from helpers.runner.sweep import check_workers

    with pytest.raises(ValueError, match="got -1"):
        check_workers(-1)
    reports, start, run = lab
    result = run("--seeds", "0", "1", "--workers", "0", timeout=60)
    line = _one_line(result.stderr)
    assert result.returncode == 2 and "--workers must be 1 or more" in line
    assert not reports.exists() or not list(reports.iterdir())


@pytest.mark.parametrize("sig, word, code", [(signal.SIGTERM, "terminated", 143), (signal.SIGINT, "interrupted", 130)])
def test_an_interrupted_sweep_keeps_what_finished_and_what_was_there(lab, sig, word, code):
    """A good sweep, then the same sweep again stopped while one run is still in its kernel: the run that
    finished is published, the unfinished one keeps the first sweep's result, and nothing is left behind."""
    reports, start, run = lab
    sweep = ("--sweep", "pause=[0,1]", "--workers", "2")
    first = run(*sweep, timeout=180)
    assert first.returncode == 0, first.stderr
    runs = reports / "demo" / "runs"
    kept = _snapshot(runs / "pause-1")
    before = (runs / "pause-0" / "run.json").stat().st_mtime_ns

    child = start(*sweep, "-p", "hold=60")  # pause-1 now sleeps a minute; pause-0 finishes at once
    deadline = time.time() + 120
    while (runs / "pause-0" / "run.json").stat().st_mtime_ns == before and time.time() < deadline:
        time.sleep(0.2)
    assert (runs / "pause-0" / "run.json").stat().st_mtime_ns != before, "the fast run was never published"
    child.send_signal(sig)
    out, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    assert word + ": cancelled 1 run(s) not finished" in err and "Traceback" not in err
    assert _snapshot(runs / "pause-1") == kept  # the unfinished run keeps the earlier sweep's result
    aggregate = json.loads((reports / "demo" / "aggregate.json").read_text())
    assert [r["status"] for r in aggregate["runs"]] == ["ok", "ok"] and aggregate["left_out"] == []
    assert "pause-1" in (reports / "demo" / "aggregate.html").read_text()
    assert (reports / "index.html").exists()
    _no_staging(reports)
    assert not [p for p in (reports / "demo").rglob("*") if ".partial" in p.name or ".old-" in p.name]


# Runner edges ----------------------------------------------------------------------------------------


def test_a_notebook_path_runs_that_notebook(lab, tmp_path):
    reports, start, run = lab
    copy = tmp_path / "elsewhere" / "00_demo.ipynb"
    copy.parent.mkdir()
    nb = nbformat.read(tmp_path / "notebooks" / "00_demo.ipynb", as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("pause = 0.0", "pause = 0.25")
    nbformat.write(nb, copy)
    env = {**os.environ, "ADVLAB_NOTEBOOKS": str(tmp_path / "notebooks"), "ADVLAB_REPORTS": str(reports)}
    result = subprocess.run([sys.executable, "-m", "helpers.run", str(copy)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((reports / "demo" / "metrics.json").read_text())["parameters"] == {"pause": 0.25}
    missing = subprocess.run([sys.executable, "-m", "helpers.run", str(tmp_path / "nowhere" / "00_demo.ipynb")],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no notebook at" in _one_line(missing.stderr)


def test_advlab_notebooks_into_a_file_ends_in_one_line(tmp_path, capsys):
    from helpers.runner.cli import main

    target = tmp_path / "a-file"
    target.write_text("")
    assert main(["notebooks", str(target)]) == 1
    assert "cannot copy the notebooks" in _one_line(capsys.readouterr().err)


def test_the_index_skips_a_malformed_run_json_with_a_notice(tmp_path, capsys):
    from helpers.runner.index import write_index

    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "run.json").write_text(json.dumps({"status": "ok", "title": "Demo", "wall_seconds": 1.0}))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "run.json").write_text(json.dumps({"status": ["ok"], "wall_seconds": "soon"}))
    index = write_index(tmp_path).read_text()
    assert "Demo" in index
    assert "skipped other/" in _one_line(capsys.readouterr().err)


def test_sigkill_leaves_no_lock_or_staging_behind(lab):
    reports, start, run = lab
    scratch = reports.parent / "tmp"
    child = start("-p", "pause=30")
    deadline = time.time() + 60
    # Killed while its kernel runs the notebook. The progress file lives in the kernel's private folder, which
    # the watcher removes with the staging folder, after killing the kernel (which would otherwise run on).
    while not list(reports.glob("demo.partial-*/started")) and time.time() < deadline:
        time.sleep(0.1)
    assert (reports / "demo.lock").exists() and list(scratch.glob("advlab-kernel-*/advlab-progress-*"))
    connection = str(next(scratch.glob("advlab-kernel-*/kernel-connection.json"))).encode()
    assert _processes_with(connection), "no kernel process found"
    child.kill()
    child.communicate(timeout=30)

    def leftovers():
        return ([p for p in reports.iterdir() if ".partial" in p.name or p.name.endswith(".lock")]
                + list(scratch.glob("advlab-*")) + _processes_with(connection))

    deadline = time.time() + 15
    while leftovers() and time.time() < deadline:
        time.sleep(0.2)
    _no_staging(reports)
    assert not list(scratch.glob("advlab-*"))  # no kernel folder, no progress file
    assert not _processes_with(connection)  # and no kernel left computing


def _processes_with(marker: bytes) -> list[int]:
    """Process ids whose command line holds ``marker`` (Linux)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


# Foreign strings in reports --------------------------------------------------------------------------


def test_foreign_strings_never_become_markup():
    from helpers.formatting import escape_markdown
    from helpers.tables import markdown_table

    payload = "<img src=x onerror=alert(1)>"
    escaped = escape_markdown(payload)
    assert "<" not in escaped and ">" not in escaped and "onerror" in escaped
    assert escape_markdown("[click](javascript:alert(1))").startswith("\\[")
    table = markdown_table([[payload, "a|b"]], ["class", "owner"])
    assert "<img" not in table and "&lt;img" in table and "a\\|b" in table


def test_a_cached_rerun_reproduces_the_first_runs_headline(tmp_path):
    """Quickstart at the smoke preset, twice with one model cache: trained, then loaded."""
    from helpers.paths import data_root

    if not (data_root() / "MNIST" / "raw").is_dir():
        pytest.skip("needs MNIST under the data root")
    env = {**os.environ, "ADVLAB_CACHE": str(tmp_path / "cache"), "ADVLAB_REPORTS": str(tmp_path / "reports")}
    env.pop("MPLBACKEND", None)
    env.pop("ADVLAB_NOTEBOOKS", None)
    headlines = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "helpers.run", "quickstart", "--preset", "smoke"], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        record = json.loads((tmp_path / "reports" / "quickstart" / "metrics.json").read_text())
        headlines.append({m["key"]: m["value"] for m in record["headline"]})
    assert headlines[0].pop("model_from_cache") is False and headlines[1].pop("model_from_cache") is True
    assert headlines[0] == headlines[1]


@pytest.mark.filterwarnings("ignore:Tight layout not applied")  # a long label on a one-image grid
def test_dollar_signs_in_foreign_names_are_drawn_as_text(tmp_path):
    """A class folder named like TeX must neither fail the figure nor turn into typeset mathematics."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from helpers.plots import image_grid

    name = r"$\frac{cat$ costs $5$"  # an even number of dollars: mathematics to matplotlib, and not valid
    fig = image_grid([[np.zeros((8, 8))]], row_labels=[name], captions=[[name]], title=name)
    fig.savefig(tmp_path / "grid.png")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]
    assert name in texts
