"""The batch runner: execute study notebooks with papermill and publish HTML reports.

    python -m helpers.run                         # every study, default preset
    python -m helpers.run quickstart --preset smoke -p epochs=1 -p "eps=[0.1,0.2]"
    python -m helpers.run --list                  # studies, presets (and parameters of named studies)

Each study runs in a staging folder ``reports/<study>.partial/`` (``ADVLAB_REPORT_DIR`` points the
notebook there), which holds the executed ``<study>.ipynb``, a self-contained ``<study>.html``,
the notebook's figures and ``metrics.json``, and ``run.json`` (status, preset, wall time, error).
When the run is over, failed or not, the staging folder replaces ``reports/<study>/``, so an
interrupted run never leaves a half-written report and no stale metrics survive a failed run.
Finally ``reports/index.html`` is rebuilt from every report folder present.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from helpers import paths
from helpers.formatting import format_number, format_seconds
from helpers.headline import from_records
from helpers.runner.execute import FALLBACK_KERNEL, execute_into, one_line, resolve_kernel
from helpers.runner.index import FAILED_DIR, SWEEP_ENTRIES, write_index
from helpers.runner.lock import StudyBusyError, StudyLock, Terminated, watch
from helpers.runner.catalog import (
    DEFAULT_PRESET,
    Study,
    UnknownNameError,
    build_parameters,
    find_study,
    list_studies,
    notebook_parameters,
    parse_overrides,
)

log = logging.getLogger(__name__)

STAGING_SUFFIX = ".partial"
OLD_SUFFIX = ".old"

EXAMPLES = """\
examples:
  python -m helpers.run                                  run every study with its default preset
  python -m helpers.run quickstart --preset smoke        one study (id, stem 00_quickstart or number 00)
  python -m helpers.run 00 01 --preset smoke -p epochs=1 several studies, one parameter overridden
  python -m helpers.run quickstart -p "eps=[0.1,0.2]"    values are YAML: 3, 0.1, 1e-3, true, [a, b]
  python -m helpers.run --list                           studies and presets
  python -m helpers.run quickstart --list                ... and that study's parameters with defaults

Reports go to $ADVLAB_REPORTS (default <repo>/reports): <study>/<study>.html, the executed
notebook, figures, metrics.json and run.json, plus index.html over all studies. The exit status
is 0 when every study ran, 1 when one failed, 2 for a bad study, preset or parameter name.
"""


# --------------------------------------------------------------------------------------------------
# One study


@dataclass
class RunResult:
    study: Study
    preset: str
    status: str  # "ok" or "FAILED"
    wall_seconds: float
    error: str = ""
    headline: list[dict[str, Any]] = field(default_factory=list)
    report_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def html(self) -> Path | None:
        return self.report_dir / f"{self.study.id}.html" if self.report_dir else None


def _replace_dir(staging: Path, final: Path) -> None:
    """Move ``staging`` to ``final``, removing what was there; the old report is gone only at the end."""
    old = final.with_name(final.name + OLD_SUFFIX)
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def _has_good_report(folder: Path) -> bool:
    try:
        return json.loads((folder / "run.json").read_text(encoding="utf-8")).get("status") == "ok"
    except (OSError, ValueError, AttributeError):
        return False


def _remove_stale_staging(root: Path, study_id: str) -> None:
    """Staging folders of runs that died (SIGKILL, power loss); called while holding the study's lock."""
    for leftover in root.glob(f"{study_id}{STAGING_SUFFIX}*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def run_study(
    study: Study,
    preset: str,
    parameters: dict[str, Any],
    *,
    kernel_name: str = FALLBACK_KERNEL,
    reports_root: Path | None = None,
) -> RunResult:
    """Execute one study into a private staging folder, export HTML, then publish it.

    A run that succeeds replaces ``<root>/<id>/``. A run that fails while a good report is there
    leaves that report in place and publishes itself as ``<root>/<id>/failed/``, which the index
    shows as the latest attempt. ``StudyBusyError`` when another live run owns the study.
    """
    root = reports_root or paths.reports_root()
    with StudyLock(root, study.id):
        _remove_stale_staging(root, study.id)
        staging = Path(tempfile.mkdtemp(prefix=f"{study.id}{STAGING_SUFFIX}-", dir=root))
        watch(staging)
        try:
            os.chmod(staging, 0o755)
            return _execute(study, preset, parameters, staging, root, kernel_name)
        finally:
            if staging.exists():  # interrupted (or the swap failed): the previous report stays as it was
                shutil.rmtree(staging, ignore_errors=True)


def _execute(study: Study, preset: str, parameters: dict[str, Any], staging: Path, root: Path, kernel_name: str) -> RunResult:
    info = execute_into(study, preset, parameters, staging, reports_root=root, kernel_name=kernel_name)
    final = root / study.id
    if info["status"] == "ok" or not _has_good_report(final):
        _carry_over_sweeps(final, staging)
        _replace_dir(staging, final)
    else:  # keep the last good report; the failure goes beside it
        final = final / FAILED_DIR
        _replace_dir(staging, final)
    return RunResult(study, preset, info["status"], info["wall_seconds"], info["error"], info["headline"], final)


def _carry_over_sweeps(final: Path, staging: Path) -> None:
    """A sweep's runs and aggregate live in the study's folder too; a new single run keeps them."""
    for name in SWEEP_ENTRIES:
        if (final / name).exists() and not (staging / name).exists():
            os.replace(final / name, staging / name)


# --------------------------------------------------------------------------------------------------
# Command line


def _abbreviate(headline: list[dict[str, Any]], width: int = 70) -> str:
    parts = [f"{m.label} {format_number(m.value, m.unit, 16)}" for m in from_records(headline)[:3]]
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def summary_table(results: Sequence[RunResult]) -> str:
    rows = [("study", "preset", "status", "wall", "headline")]
    for r in results:
        detail = _abbreviate(r.headline) if r.ok else one_line(r.error, 70)
        rows.append((r.study.id, r.preset, r.status, format_seconds(r.wall_seconds), detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * max(8, max(len(r[4]) for r in rows)))
    return "\n".join(line.rstrip() for line in lines)


def _print_list(studies: Sequence[Study], chosen: Sequence[Study]) -> None:
    width = max(len(s.id) for s in studies)
    for s in studies:
        print(f"{s.number}  {s.id.ljust(width)}  {s.title}  [presets: {', '.join(s.presets)}]")
    for s in chosen:
        print(f"\nparameters of {s.id} (default preset; override with -p name=value):")
        params = notebook_parameters(s)
        pw = max((len(n) for n in params), default=0)
        for name, info in params.items():
            print(f"  {name.ljust(pw)} = {info['default']}" + (f"  # {info['help']}" if info.get("help") else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.run",
        description="Run advlab study notebooks with papermill and write HTML reports plus reports/index.html.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "studies", nargs="*", metavar="STUDY", help="study id, notebook stem or number (default: every study)"
    )
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        metavar="NAME",
        help="parameter preset: 'default' (the notebook's parameters cell) or a notebooks/presets/<study>/NAME.yaml",
    )
    parser.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter (repeatable); the value is read as YAML, e.g. -p epochs=3 -p eps=[0.1,0.2]",
    )
    parser.add_argument(
        "--list", action="store_true", help="list studies and presets (and the named studies' parameters), run nothing"
    )
    many = parser.add_argument_group("many runs on Dask (see README, 'Running many')")
    many.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="run once per seed, e.g. --seeds 0 1 2")
    many.add_argument("--sweep", action="append", default=[], metavar="KEY=[V1,V2]",
                      help="run once per value (repeatable; the product with --seeds), e.g. --sweep epochs=[1,2]")
    many.add_argument("--scheduler", metavar="ADDRESS", default=None,
                      help="a running Dask scheduler, e.g. tcp://host:8786 (default: $ADVLAB_SCHEDULER, else a LocalCluster)")
    many.add_argument("--workers", type=int, metavar="N", default=None,
                      help="LocalCluster workers (default: one per run, up to the cores available)")
    return parser


def _display_path(path: Path) -> str:
    """Relative to the working folder when inside it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None, *, notebooks_dir: str | Path | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 a study failed, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_intermixed_args(argv)
    except SystemExit as exc:  # --help or a malformed command line
        return int(exc.code or 0)

    folder = Path(notebooks_dir) if notebooks_dir is not None else paths.notebooks_dir()
    try:
        studies = list_studies(folder)
    except ValueError as exc:
        return _fail(str(exc))
    if not studies:
        return _fail(f"no study notebooks (NN_<study>.ipynb) in {folder}")

    try:
        chosen: list[Study] = []
        for name in args.studies:
            study = find_study(name, folder)
            if study not in chosen:
                chosen.append(study)
    except UnknownNameError as exc:
        return _fail(str(exc))

    if args.list:
        _print_list(studies, chosen)
        return 0
    chosen = chosen or list(studies)

    # Everything is checked before anything runs.
    sweeping = bool(args.seeds or args.sweep)
    try:
        overrides = parse_overrides(args.params)
        plan = [(study, build_parameters(study, args.preset, overrides)) for study in chosen]
        if sweeping:
            from helpers.runner.sweep import parse_sweeps, plan_runs

            from helpers.runner.sweep import check_workers

            check_workers(args.workers)
            sweeps = parse_sweeps(args.sweep)
            sweep_plan = [(study, plan_runs(study, args.preset, overrides, args.seeds, sweeps)) for study in chosen]
    except (UnknownNameError, ValueError) as exc:
        return _fail(str(exc))
    if sweeping:
        root = paths.reports_root()
        problem = _unusable_root(root)
        return _fail(problem) if problem else _run_sweeps(sweep_plan, args, root)

    kernel_name, warning = resolve_kernel()
    if warning:
        log.warning("warning: %s", warning)

    root = paths.reports_root()
    problem = _unusable_root(root)
    if problem:
        return _fail(problem)
    results: list[RunResult] = []
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        for i, (study, parameters) in enumerate(plan, 1):
            print(f"[{i}/{len(plan)}] {study.number}_{study.id} · preset {args.preset}", flush=True)
            try:
                result = run_study(study, args.preset, parameters, kernel_name=kernel_name, reports_root=root)
            except StudyBusyError as exc:
                result = RunResult(study, args.preset, "BUSY", 0.0, str(exc))
            results.append(result)
            where = _display_path(result.html) if result.html else ""
            if result.ok:
                print(f"    ok in {format_seconds(result.wall_seconds)} -> {where}", flush=True)
            elif result.status == "BUSY":
                print(f"    not run: {result.error}", flush=True)
            else:
                kept = " (the previous good report is kept)" if result.report_dir and result.report_dir.name == FAILED_DIR else ""
                print(f"    FAILED in {format_seconds(result.wall_seconds)}: {result.error} (see {where}){kept}", flush=True)
    except (KeyboardInterrupt, Terminated) as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"\n{what}: the study being run keeps its previous report", file=sys.stderr)
        _finish(results, root)
        return 143 if isinstance(exc, Terminated) else 130
    except OSError as exc:  # disk full, reports root made read-only or removed mid-run
        print(f"error: writing reports under {root} failed: {one_line(str(exc), 200)}", file=sys.stderr)
        _finish(results, root)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_handler)

    index = _finish(results, root)
    failed = [r.study.id for r in results if not r.ok]
    if index:
        print(f"\nindex: {index}")
    if failed:
        print(f"{len(failed)} of {len(results)} failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _run_sweeps(sweep_plan, args, root: Path) -> int:
    from helpers.runner.sweep import run_sweep

    failed = False
    interrupted = ""
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        failed, interrupted = _sweep_each(sweep_plan, args, root, run_sweep)
    except (KeyboardInterrupt, Terminated) as exc:  # between sweeps, or while one was starting
        interrupted = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"\n{interrupted}: the study being run keeps its previous results", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # clean-up and the index first
    try:
        index = _finish([], root)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    if index:
        print(f"\nindex: {index}")
    return 143 if interrupted == "terminated" else 130 if interrupted else 1 if failed else 0


def _sweep_each(sweep_plan, args, root: Path, run_sweep) -> tuple[bool, str]:
    failed = False
    for i, (study, planned) in enumerate(sweep_plan, 1):
        print(f"[{i}/{len(sweep_plan)}] {study.number}_{study.id} · preset {args.preset} · {len(planned)} runs", flush=True)
        try:
            result = run_sweep(study, args.preset, planned, reports_root=root, scheduler=args.scheduler,
                               workers=args.workers, echo=lambda *a, **k: print(*a, **k, flush=True))
        except StudyBusyError as exc:
            print(f"    not run: {exc}", flush=True)
            failed = True
            continue
        except OSError as exc:
            print(f"error: connecting to the Dask scheduler or writing reports failed: {one_line(str(exc), 200)}",
                  file=sys.stderr)
            failed = True
            continue
        ok = len(result.runs) - len(result.failed)
        print(f"    {ok} of {len(planned)} runs ok -> {_display_path(result.aggregate)}", flush=True)
        failed = failed or bool(result.failed)
        if result.interrupted:
            return failed, result.interrupted
    return failed, ""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _unusable_root(root: Path) -> str:
    """Why reports cannot be written under ``root`` (one line), or empty when they can."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".advlab-probe-", delete=True)
        probe.close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return f"reports root {root} is not usable ({reason}); set ADVLAB_REPORTS to a writable folder"
    return ""


def _finish(results: list[RunResult], root: Path) -> Path | None:
    """Print the summary of what finished and rebuild the index; never raises for a broken root."""
    if results:
        print()
        print(summary_table(results))
    try:
        return write_index(root)
    except OSError as exc:
        print(f"index not rebuilt: {one_line(str(exc), 200)}", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
