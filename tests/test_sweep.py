"""Seeds and sweeps on Dask: planning, the aggregate, a LocalCluster, a real scheduler, a failing value."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.runner import run
from helpers.runner.aggregate import summarize, summary_statistics
from helpers.runner.catalog import UnknownNameError, find_study
from helpers.runner.sweep import parse_sweeps, plan_runs
from test_faults import BODY, PARAMS  # a tiny study with a pause and a failure switch

REPO = Path(__file__).resolve().parents[1]


def test_plan_is_the_product_of_seeds_and_values_checked_before_anything_runs():
    study = find_study("quickstart")
    runs = plan_runs(study, "smoke", {"epochs": 1}, [0, 1], parse_sweeps(["pgd_steps=[2,3]"]))
    assert [r.run_id for r in runs] == ["seed-0__pgd_steps-2", "seed-0__pgd_steps-3", "seed-1__pgd_steps-2", "seed-1__pgd_steps-3"]
    assert runs[3].parameters["seed"] == 1 and runs[3].parameters["pgd_steps"] == 3 and runs[3].parameters["epochs"] == 1
    assert runs[0].parameters["preset"] == "smoke"
    with pytest.raises(UnknownNameError, match="unknown swept parameter 'pgd_step'"):
        plan_runs(study, "smoke", {}, None, parse_sweeps(["pgd_step=[2,3]"]))
    with pytest.raises(ValueError, match="both swept and set"):
        plan_runs(study, "smoke", {"epochs": 1}, None, parse_sweeps(["epochs=[1,2]"]))
    with pytest.raises(ValueError, match="key=\\[v1,v2"):
        parse_sweeps(["epochs"])


def test_summary_statistics_give_the_student_t_interval():
    stats = summary_statistics([1.0, 2.0, 3.0, 4.0])
    assert stats["n"] == 4 and stats["mean"] == 2.5 and abs(stats["std"] - 1.2909944) < 1e-6
    # t(0.975, 3) = 3.182446; half width = 3.182446 * 1.2909944 / 2
    assert abs(stats["high"] - (2.5 + 2.054260)) < 1e-5 and abs(stats["low"] - (2.5 - 2.054260)) < 1e-5
    assert summary_statistics([5.0])["low"] is None and summary_statistics([])["n"] == 0


def test_summary_groups_by_swept_value_pools_seeds_and_names_failed_runs():
    def run_record(run_id, seed, eps, value, status="ok"):
        return {"run_id": run_id, "swept": {"seed": seed, "eps": eps}, "status": status, "error": "" if status == "ok" else "boom",
                "headline": [{"key": "acc", "label": "accuracy", "value": value, "unit": "%"}]}

    summary = summarize([run_record("a", 0, 0.1, 90.0), run_record("b", 1, 0.1, 92.0), run_record("c", 0, 0.2, 50.0),
                         run_record("d", 1, 0.2, 0.0, status="FAILED")], ["seed", "eps"])
    groups = {g["setting"]["eps"]: g for g in summary["groups"]}
    assert groups[0.1]["metrics"]["acc"]["n"] == 2 and groups[0.1]["metrics"]["acc"]["mean"] == 91.0
    assert groups[0.2]["metrics"]["acc"]["n"] == 1 and groups[0.2]["metrics"]["acc"]["low"] is None
    assert summary["left_out"] == [{"run_id": "d", "error": "boom"}]


def _check_two_seed_aggregate(reports: Path) -> None:
    aggregate = json.loads((reports / "quickstart" / "aggregate.json").read_text())
    assert [r["status"] for r in aggregate["runs"]] == ["ok", "ok"]
    clean = aggregate["groups"][0]["metrics"]["clean_accuracy"]
    assert clean["n"] == 2 and clean["low"] is not None and clean["low"] <= clean["mean"] <= clean["high"]
    for seed in (0, 1):
        folder = reports / "quickstart" / "runs" / f"seed-{seed}"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["parameters"]["seed"] == seed and (folder / "quickstart.reader.html").exists()
    index = (reports / "index.html").read_text()
    assert "Sweep over seed: 2 of 2 runs ok" in index and "quickstart/aggregate.html" in index


@pytest.fixture
def isolated_reports(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    reports = tmp_path / "reports"
    monkeypatch.setenv("ADVLAB_REPORTS", str(reports))
    return reports


def test_two_seeds_on_a_local_cluster_give_an_aggregate_with_an_interval(isolated_reports, capsys):
    assert run.main(["quickstart", "--preset", "smoke", "--seeds", "0", "1", "--workers", "2"]) == 0
    assert "local cluster, 2 workers, dashboard http" in capsys.readouterr().out
    _check_two_seed_aggregate(isolated_reports)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_seeds_through_a_running_dask_scheduler(isolated_reports, tmp_path):
    """A real cluster: `dask scheduler` and one `dask worker` as processes on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "ADVLAB_REPORTS": str(tmp_path / "worker-side")}  # workers need no shared report folder
    scheduler = subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
                               "--dashboard-address", ":0"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with Client(address, timeout="2s") as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        assert run.main(["quickstart", "--preset", "smoke", "--seeds", "0", "1", "--scheduler", address]) == 0
        _check_two_seed_aggregate(isolated_reports)
        assert not (tmp_path / "worker-side").exists()
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def test_a_value_that_fails_at_run_time_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    import nbformat

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nbformat.write(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Demo"),
               nbformat.v4.new_code_cell(PARAMS, metadata={"tags": ["parameters"]}), nbformat.v4.new_code_cell(BODY)],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
                  "language_info": {"name": "python"}}), notebooks / "00_demo.ipynb")
    reports = tmp_path / "reports"
    monkeypatch.setenv("ADVLAB_REPORTS", str(reports))
    assert run.main(["demo", "--sweep", "fail=[false,true]", "--workers", "2"], notebooks_dir=notebooks) == 1
    out = capsys.readouterr().out
    assert "fail-false: ok" in out and "fail-true: FAILED: RuntimeError: the study failed on purpose" in out
    aggregate = json.loads((reports / "demo" / "aggregate.json").read_text())
    assert aggregate["left_out"] == [{"run_id": "fail-true", "error": "RuntimeError: the study failed on purpose"}]
    assert (reports / "demo" / "runs" / "fail-true" / "demo.html").exists()  # its failure report came home too
    assert "left out" in (reports / "demo" / "aggregate.html").read_text()
