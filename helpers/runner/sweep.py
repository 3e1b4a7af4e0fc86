"""Many runs of a study on Dask: seeds times swept values, each run one Dask task.

    python -m helpers.run quickstart --preset smoke --seeds 0 1 2 --sweep "epochs=[1,2]"
    python -m helpers.run quickstart --seeds 0 1 --scheduler tcp://HOST:8786   # an existing cluster

Every run is a normal papermill execution of the study's notebook in its own kernel, with its
parameters injected and checked as in a single run. With no scheduler named, a ``LocalCluster`` of
worker processes is started (one per run, up to the cores available, each kernel given its share of
threads). A task returns its run's files to the client, which writes them under
``reports/<study>/runs/<run id>/``, so workers need the environment and the data root but no shared
report folder. A failed run is recorded with its error and does not stop the others; a task whose
worker is lost is retried once; Ctrl-C cancels what has not finished and keeps what has. The
aggregate (``helpers.runner.aggregate``) names the runs it left out.
"""
from __future__ import annotations

import itertools
import logging
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from helpers.runner.aggregate import write_aggregate
from helpers.runner.catalog import Study, UnknownNameError, build_parameters, find_study, notebook_parameters, parse_value
from helpers.runner.execute import execute_into, one_line, resolve_kernel
from helpers.runner.index import RUNS_DIR
from helpers.runner.lock import StudyLock

SCHEDULER_ENV = "ADVLAB_SCHEDULER"


@dataclass
class PlannedRun:
    run_id: str
    swept: dict[str, Any]
    parameters: dict[str, Any]


@dataclass
class SweepResult:
    study: Study
    runs: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    aggregate: Path | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r.get("status") != "ok"]


def parse_sweeps(pairs: Sequence[str]) -> dict[str, list[Any]]:
    """``["epochs=[1,2]", "eps=0.1"]`` -> ``{"epochs": [1, 2], "eps": [0.1]}``; each value is a YAML list or one value."""
    sweeps: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"bad sweep {pair!r}: expected key=[v1,v2,...], e.g. --sweep epochs=[1,2]")
        values = parse_value(text.strip(), key)
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ValueError(f"sweep {key!r} has no values")
        sweeps[key] = values
    return sweeps


def _slug(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "x"


def plan_runs(study: Study, preset: str, overrides: Mapping[str, Any], seeds: Sequence[int] | None,
              sweeps: Mapping[str, Sequence[Any]]) -> list[PlannedRun]:
    """The Cartesian product of seeds and swept values, every parameter set checked before anything runs."""
    axes = dict(sweeps)
    if seeds:
        if "seed" in axes:
            raise ValueError("give seeds with --seeds or --sweep seed=[...], not both")
        axes = {"seed": list(seeds), **axes}
    known = notebook_parameters(study)
    unknown = [k for k in axes if k not in known]
    if unknown:
        raise UnknownNameError(f"unknown swept parameter {', '.join(map(repr, unknown))} for study {study.id!r}; "
                               f"valid: {', '.join(known)}")
    clashes = [k for k in axes if k in overrides]
    if clashes:
        raise ValueError(f"{', '.join(clashes)} is both swept and set with -p")
    runs = []
    for values in itertools.product(*axes.values()):
        swept = dict(zip(axes, values))
        run_id = "__".join(f"{k}-{_slug(v)}" for k, v in swept.items()) or "run"
        runs.append(PlannedRun(run_id, swept, build_parameters(study, preset, {**overrides, **swept})))
    if len({r.run_id for r in runs}) != len(runs):
        raise ValueError("two swept values give the same run id; use distinct values")
    return runs


def execute_run(notebook: str, preset: str, parameters: dict[str, Any], run_id: str, threads: int) -> dict[str, Any]:
    """One run, on a Dask worker: execute into a private temporary folder, return the files as bytes."""
    path = Path(notebook)
    study = find_study(path.stem, path.parent)
    folder = Path(tempfile.mkdtemp(prefix=f"advlab-run-{study.id}-"))
    kernel_name, _ = resolve_kernel()
    thread_env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    try:
        with open(os.devnull, "w") as quiet:
            info = execute_into(study, preset, parameters, folder, reports_root=folder.parent, kernel_name=kernel_name,
                                progress_to=quiet, extra_env={**thread_env, "ADVLAB_PROGRESS": "0"})
        files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"run_id": run_id, "info": info, "files": files}


def _connect(scheduler: str | None, workers: int):
    """A Dask client: to ``scheduler`` if named, else to a new LocalCluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="30s"), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _threads_per_run(client, workers: int) -> int:
    """Each kernel's share of the cores of the worker machines, so runs do not oversubscribe them."""
    info = client.scheduler_info().get("workers", {})
    cores = sum(w.get("nthreads", 1) for w in info.values()) or os.cpu_count() or 1
    return max(1, (os.cpu_count() or cores) // max(1, min(workers, len(info) or workers)))


def _write_run(runs_dir: Path, run_id: str, files: Mapping[str, bytes]) -> None:
    target = runs_dir / run_id
    staging = runs_dir / f".{run_id}.partial-{uuid.uuid4().hex[:6]}"
    for name, data in files.items():
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)


def run_sweep(study: Study, preset: str, planned: Sequence[PlannedRun], *, reports_root: Path,
              scheduler: str | None = None, workers: int | None = None, echo=print) -> SweepResult:
    """Run every planned run as a Dask task and write runs and aggregate under ``reports/<study>/``."""
    from distributed import as_completed

    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    workers = workers or max(1, min(len(planned), os.cpu_count() or 1))
    result = SweepResult(study)
    folder = reports_root / study.id
    with StudyLock(reports_root, study.id):
        folder.mkdir(parents=True, exist_ok=True)
        runs_dir = folder / f".{RUNS_DIR}.partial-{uuid.uuid4().hex[:6]}"
        runs_dir.mkdir()
        client, cluster = _connect(scheduler, workers)
        try:
            echo(f"    dask: {'scheduler ' + scheduler if scheduler else f'local cluster, {workers} workers'}, "
                 f"dashboard {client.dashboard_link}")
            threads = _threads_per_run(client, workers)
            by_future = {}
            for run in planned:
                future = client.submit(execute_run, str(study.path), preset, run.parameters, run.run_id, threads,
                                       key=f"advlab-{study.id}-{run.run_id}-{uuid.uuid4().hex[:6]}", retries=1, pure=False)
                by_future[future] = run
            done: set[str] = set()
            try:
                for future in as_completed(list(by_future)):
                    run = by_future[future]
                    record = {"run_id": run.run_id, "swept": run.swept}
                    try:
                        outcome = future.result()
                        _write_run(runs_dir, run.run_id, outcome["files"])
                        record.update(outcome["info"])
                    except Exception as exc:  # lost worker after the retry, task error
                        record.update(status="FAILED", error=one_line(f"{type(exc).__name__}: {exc}"))
                    result.runs.append(record)
                    done.add(run.run_id)
                    status = "ok" if record.get("status") == "ok" else f"FAILED: {record.get('error')}"
                    echo(f"    [{len(done)}/{len(planned)}] {run.run_id}: {status}")
            except KeyboardInterrupt:
                pending = [f for f, r in by_future.items() if r.run_id not in done]
                client.cancel(pending)
                result.cancelled = [by_future[f].run_id for f in pending]
                echo(f"\ninterrupted: cancelled {len(pending)} run(s) not finished; kept {len(done)} finished", file=sys.stderr)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        final_runs = folder / RUNS_DIR
        if final_runs.exists():
            shutil.rmtree(final_runs)
        os.replace(runs_dir, final_runs)
        order = {r.run_id: i for i, r in enumerate(planned)}
        result.runs.sort(key=lambda r: order[r["run_id"]])
        left = result.runs + [{"run_id": rid, "swept": {}, "status": "CANCELLED", "error": "cancelled by Ctrl-C"}
                              for rid in result.cancelled]
        result.aggregate = write_aggregate(folder, study=study.id, title=study.title, preset=preset,
                                           swept_keys=list(planned[0].swept) if planned else [], runs=left)
    return result
