"""Many runs of a study on Dask: seeds times swept values, each run one Dask task.

    python -m helpers.run quickstart --preset smoke --seeds 0 1 2 --sweep "epochs=[1,2]"
    python -m helpers.run quickstart --seeds 0 1 --scheduler tcp://HOST:8786   # an existing cluster

Every run is a normal papermill execution of the study's notebook in its own kernel, with its
parameters injected and checked as in a single run. With no scheduler named, a ``LocalCluster`` of
worker processes is started (one per run, up to the cores available, each kernel given its share of
threads). A task returns its run's files to the client, which writes them under
``reports/<study>/runs/<run id>/``, so workers need the environment and the data root but no shared
report folder. Each run is published as it comes back, as a single run is: a good run replaces that
run's folder, a failed one goes beside the run's last good result. A failed run is recorded with its
error and does not stop the others; a task whose worker is lost is retried once; Ctrl-C or SIGTERM
cancel what has not finished and keep what has, and what earlier sweeps left. The aggregate
(``helpers.runner.aggregate``) counts each run's last good result and names the runs it left out.
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
from helpers.runner.index import FAILED_DIR, RUNS_DIR
from helpers.runner.lock import StudyLock, Terminated, watch

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
    interrupted: str = ""  # "interrupted" (Ctrl-C) or "terminated" (SIGTERM) when the sweep was stopped

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
    study = find_study(str(path)) if path.suffix == ".ipynb" else find_study(path.stem, path.parent)
    folder = Path(tempfile.mkdtemp(prefix=f"advlab-run-{study.id}-"))
    watch(folder)
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


def _write_files(target: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into a staging folder beside ``target``, then swap it into place."""
    staging = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:6]}")
    try:
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        staging.mkdir(parents=True, exist_ok=True)
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:6]}")
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _good_run(folder: Path) -> dict[str, Any] | None:
    """The ``run.json`` record of a run folder when that run succeeded, else None."""
    try:
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") == "ok" else None


def _write_run(runs_dir: Path, run_id: str, files: Mapping[str, bytes], ok: bool) -> Path:
    """Publish one run as ``runs/<id>/``; a failure beside a good run goes to ``runs/<id>/failed/``."""
    target = runs_dir / run_id
    if not ok and _good_run(target) is not None:
        target = target / FAILED_DIR
    _write_files(target, files)
    return target


def _remove_leftovers(runs_dir: Path) -> None:
    """Staging folders of a sweep that died (SIGKILL, power loss); called while holding the study's lock."""
    if runs_dir.is_dir():
        for leftover in runs_dir.glob(".*.partial-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in runs_dir.glob(".*.old-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    for leftover in runs_dir.parent.glob(f".{RUNS_DIR}.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def check_workers(workers: int | None) -> None:
    """``ValueError`` (one line) for a worker count that cannot run anything."""
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be 1 or more, got {workers}")


def _record_for(run: PlannedRun, runs_dir: Path, latest: dict[str, Any] | None) -> dict[str, Any]:
    """What the aggregate counts for ``run``: this sweep's result if good, else the run's last good one."""
    record = {"run_id": run.run_id, "swept": run.swept}
    if latest is not None and latest.get("status") == "ok":
        return {**record, **latest}
    kept = _good_run(runs_dir / run.run_id)
    if kept is not None:
        what = latest.get("error") if latest else "not run"
        return {**record, **kept, "note": f"the previous good result is kept (latest attempt: {what})"}
    return {**record, **(latest or {"status": "CANCELLED", "error": "cancelled before it finished"})}


def run_sweep(study: Study, preset: str, planned: Sequence[PlannedRun], *, reports_root: Path,
              scheduler: str | None = None, workers: int | None = None, echo=print) -> SweepResult:
    """Run every planned run as a Dask task and write runs and aggregate under ``reports/<study>/``.

    Each run is published as soon as it is back: a good run replaces ``runs/<id>/``, a failed one goes
    beside the run's last good result (``runs/<id>/failed/``) or, when there is none, in its place.
    Runs of earlier sweeps are kept. Ctrl-C (``KeyboardInterrupt``) or SIGTERM (``Terminated``) cancel
    what has not finished, keep what has (also runs that finished while the interruption arrived), and
    the aggregate is still written; ``result.interrupted`` then says which.
    """
    from distributed import as_completed

    check_workers(workers)
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    workers = workers or max(1, min(len(planned), os.cpu_count() or 1))
    result = SweepResult(study)
    folder = reports_root / study.id
    with StudyLock(reports_root, study.id):
        runs_dir = folder / RUNS_DIR
        _remove_leftovers(runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        latest: dict[str, dict[str, Any]] = {}

        def collect(future, run: PlannedRun) -> None:
            record: dict[str, Any] = {"run_id": run.run_id, "swept": run.swept}
            try:
                outcome = future.result()
                record.update(outcome["info"])
                _write_run(runs_dir, run.run_id, outcome["files"], record.get("status") == "ok")
            except OSError:
                raise  # the reports root is unusable: the caller stops on this
            except Exception as exc:  # lost worker after the retry, task error
                record.update(status="FAILED", error=one_line(f"{type(exc).__name__}: {exc}"))
            latest[run.run_id] = record
            status = "ok" if record.get("status") == "ok" else f"FAILED: {record.get('error')}"
            echo(f"    [{len(latest)}/{len(planned)}] {run.run_id}: {status}")

        client = cluster = None
        try:
            client, cluster = _connect(scheduler, workers)
            echo(f"    dask: {'scheduler ' + scheduler if scheduler else f'local cluster, {workers} workers'}, "
                 f"dashboard {client.dashboard_link}")
            threads = _threads_per_run(client, workers)
            by_future = {}
            for run in planned:
                future = client.submit(execute_run, str(study.path), preset, run.parameters, run.run_id, threads,
                                       key=f"advlab-{study.id}-{run.run_id}-{uuid.uuid4().hex[:6]}", retries=1, pure=False)
                by_future[future] = run
            for future in as_completed(list(by_future)):
                collect(future, by_future[future])
        except (KeyboardInterrupt, Terminated) as exc:
            result.interrupted = "terminated" if isinstance(exc, Terminated) else "interrupted"
            if client is not None:
                pending = []
                for future, run in by_future.items():
                    if run.run_id in latest:
                        continue
                    if future.status == "finished":  # done in its kernel while the interruption arrived
                        collect(future, run)
                    else:
                        pending.append(future)
                client.cancel(pending)
                result.cancelled = [by_future[f].run_id for f in pending]
            echo(f"\n{result.interrupted}: cancelled {len(result.cancelled)} run(s) not finished; kept "
                 f"{len(latest)} finished and every earlier result", file=sys.stderr)
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        result.runs = [latest[r.run_id] for r in planned if r.run_id in latest]
        counted = [_record_for(run, runs_dir, latest.get(run.run_id)) for run in planned]
        result.aggregate = write_aggregate(folder, study=study.id, title=study.title, preset=preset,
                                           swept_keys=list(planned[0].swept) if planned else [], runs=counted)
    return result
