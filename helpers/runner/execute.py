"""Execute one study notebook into a folder: papermill in a fresh kernel, then the two HTML reports
and ``run.json``. Used by the single-study runner (``run.py``) and by sweep tasks (``sweep.py``).

The kernel always runs this interpreter, whatever the kernelspec names, and gets its environment
from the run rather than from this process's ``os.environ``, so several runs can share a process
(a Dask worker) without seeing each other's settings.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Mapping

from helpers import paths
from helpers.headline import from_records
from helpers.progress import PROGRESS_FILE_ENV
from helpers.runner.catalog import Study
from helpers.runner.html import READER_SUFFIX, export_reports
from helpers.runner.lock import watch, watch_process
from helpers.runner.relay import ProgressRelay

PREFERRED_KERNEL = "advlab"
FALLBACK_KERNEL = "python3"


def kernel_manager_class(env: Mapping[str, str], private_folder: str):
    """A kernel manager class that starts ``sys.executable`` with ``env`` added to the kernel's
    environment, over IPC sockets in ``private_folder`` (POSIX), its own stdout/stderr to a log there.

    IPC rather than TCP on localhost: nothing else on the machine can connect, and ipykernel has no
    reason to warn that the channel is unencrypted. The kernel process's own output (TensorFlow's C++
    start-up lines, the message when papermill stops it) is not for the runner's terminal; cell output
    travels over the kernel's channels as usual.
    """
    from jupyter_client import AsyncKernelManager

    run_env = dict(env)

    class CurrentInterpreterKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if os.name == "posix":
                self.transport = "ipc"
                self.ip = os.path.join(private_folder, "kernel")
            # The connection file in the private folder too: whatever ends the run, removing it removes both.
            self.connection_file = os.path.join(private_folder, "kernel-connection.json")

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            environment = dict(kw.get("env") or os.environ)
            environment.update(run_env)
            for name in ("MPLBACKEND",):  # Agg (tests, CI) would keep figures out of the report
                environment.pop(name, None)
            kw["env"] = environment
            log_file = open(os.path.join(private_folder, "kernel.log"), "ab")  # noqa: SIM115 (closed with the process)
            kw.setdefault("stdout", log_file)
            kw.setdefault("stderr", log_file)
            connection = await super()._async_launch_kernel(kernel_cmd, **kw)
            process = getattr(self.provisioner, "process", None)
            if process is not None:  # killed with the runner, even by SIGKILL (see lock.watch_process)
                watch_process(process.pid, marker=self.connection_file)
            return connection

        @property
        def kernel_spec(self):
            spec = super().kernel_spec
            if spec is not None and (spec.language or "").lower() == "python" and spec.argv:
                if spec.argv[0] != sys.executable:
                    spec.argv = [sys.executable, *spec.argv[1:]]
            return spec

    return CurrentInterpreterKernelManager


def _same_environment(executable: str) -> bool:
    """Whether a kernelspec's ``argv[0]`` is this interpreter's environment (same bin folder)."""
    bare = {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}
    if executable in bare:  # jupyter_client substitutes sys.executable for these
        return True
    found = executable if os.path.isabs(executable) else shutil.which(executable) or executable
    # Compare folders without resolving symlinks: a venv's python links to the base interpreter.
    return os.path.dirname(os.path.abspath(found)) == os.path.dirname(os.path.abspath(sys.executable))


def resolve_kernel() -> tuple[str, str | None]:
    """The kernel name to run notebooks with, and a warning when its spec names another interpreter.

    "advlab" when that kernelspec is installed, else "python3". Either way the notebooks run with
    ``sys.executable``; the warning says when the installed kernelspec would have started a
    different interpreter (in JupyterLab, say).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel, find_kernel_specs

    name = PREFERRED_KERNEL if PREFERRED_KERNEL in find_kernel_specs() else FALLBACK_KERNEL
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return name, f"no kernelspec {name!r} found; is ipykernel installed for {sys.executable}?"
    if spec.argv and not _same_environment(spec.argv[0]):
        return name, (
            f"kernel {name!r} points at {spec.argv[0]}, not this interpreter; running the notebooks with "
            f"{sys.executable} instead (fix: {sys.executable} -m ipykernel install --sys-prefix --name {PREFERRED_KERNEL})"
        )
    return name, None


def one_line(text: str, width: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _error_page(target: Path, title: str, error: str) -> None:
    import html

    target.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1><p>The notebook did not run:</p>"
        f"<pre>{html.escape(error)}</pre></body></html>",
        encoding="utf-8",
    )


def execute_into(
    study: Study,
    preset: str,
    parameters: Mapping[str, Any],
    folder: Path,
    *,
    reports_root: Path,
    kernel_name: str = FALLBACK_KERNEL,
    progress_to: IO[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run the notebook with ``parameters`` into ``folder``; returns the ``run.json`` record written there.

    A failing notebook is not an exception: the record says ``FAILED`` with the error in one line, and
    the reports show where it stopped. ``OSError`` from writing the reports (disk full) propagates.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    executed = folder / f"{study.id}.ipynb"
    page = folder / f"{study.id}.html"
    started = datetime.now()
    t0 = time.perf_counter()
    error = ""
    private = tempfile.mkdtemp(prefix="advlab-kernel-")
    watch(private)
    try:
        with ProgressRelay(progress_to or sys.stderr, folder=private) as relay:
            env = {
                "ADVLAB_REPORT_DIR": str(folder),
                "ADVLAB_REPORTS": str(reports_root),
                PROGRESS_FILE_ENV: str(relay.path),
                "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                "PYTHONPATH": os.pathsep.join(dict.fromkeys(  # the checkout importable, whatever the cwd
                    [*([str(paths.REPO_ROOT)] if paths.in_checkout() else []),
                     *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])),
                "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # quiet ipykernel's debugger warning
                **(extra_env or {}),
            }
            papermill.execute_notebook(
                str(study.path), str(executed), parameters=dict(parameters), kernel_name=kernel_name,
                language="python", progress_bar=False, log_output=False, cwd=str(study.notebooks_dir),
                kernel_manager_class=kernel_manager_class(env, private),
            )
    except PapermillExecutionError as exc:
        error = one_line(f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # kernel died, timed out, would not start ...
        error = one_line(f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(private, ignore_errors=True)
    wall = time.perf_counter() - t0

    try:
        if executed.exists():
            export_reports(executed, page, study.title, study.notebooks_dir)
        else:
            _error_page(page, study.title, error)
    except OSError:
        raise  # the reports root is unusable (disk full, read-only): the caller stops on this
    except Exception as exc:
        error = error or one_line(f"HTML export failed: {type(exc).__name__}: {exc}")

    headline: list[dict[str, Any]] = []
    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        try:
            record = json.loads(metrics_path.read_text(encoding="utf-8"))
            headline = [m.as_dict() for m in from_records(record.get("headline"))]
        except (OSError, ValueError, AttributeError):
            error = error or "the notebook wrote an unreadable metrics.json"
    elif not error:
        error = "the notebook wrote no metrics.json to its report folder"

    run_info = {
        "study": study.id, "number": study.number, "title": study.title, "preset": preset,
        "status": "FAILED" if error else "ok", "error": error, "wall_seconds": round(wall, 2),
        "started_at": started.isoformat(timespec="seconds"), "finished_at": datetime.now().isoformat(timespec="seconds"),
        "parameters": dict(parameters), "kernel": kernel_name, "python": sys.executable, "notebook": str(study.path),
        "html": page.name, "reader_html": page.name.removesuffix(".html") + READER_SUFFIX, "headline": headline,
    }
    (folder / "run.json").write_text(json.dumps(run_info, indent=2, default=str) + "\n", encoding="utf-8")
    return run_info
