"""One run at a time per study report: ``reports/<study>.lock`` names the run that owns the folder.

The lock file is created atomically (``O_CREAT | O_EXCL``) and holds the owner's host, process id,
start time and command. A second runner on the same study and reports root refuses with one line
naming the owner. A lock whose process is gone (same host, no such pid) is stale: it is removed and
taken over, so a runner killed with SIGKILL does not block the next one for ever; a watcher process
(``watch``) removes the lock, staging and temporary folders of a runner killed that way as soon as it
is gone.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime
from pathlib import Path

LOCK_SUFFIX = ".lock"


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that staging folders, locks and the index are cleaned up."""


class StudyBusyError(RuntimeError):
    """Another live run owns this study's report folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class StudyLock:
    """``with StudyLock(root, "quickstart"):`` ... raises ``StudyBusyError`` when a live run holds it."""

    def __init__(self, root: Path, study: str):
        self.path = Path(root) / f"{study}{LOCK_SUFFIX}"
        self.study = study
        self.owned = False

    def _owner(self) -> dict:
        try:
            owner = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return owner if isinstance(owner, dict) else {}

    def _stale(self, owner: dict) -> bool:
        pid = owner.get("pid")
        if not isinstance(pid, int) or owner.get("host") != socket.gethostname():
            return not owner  # unreadable or empty: a writer died between create and write
        return not _alive(pid)

    def acquire(self) -> None:
        record = {
            "host": socket.gethostname(), "pid": os.getpid(),
            "started_at": datetime.now().isoformat(timespec="seconds"), "command": " ".join(sys.argv),
        }
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if self._stale(owner):
                    self.path.unlink(missing_ok=True)
                    continue
                raise StudyBusyError(
                    f"{self.study} is being run by process {owner.get('pid')} on {owner.get('host')} since "
                    f"{owner.get('started_at')}; wait for it, or delete {self.path} if that run is gone"
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record))
            self.owned = True
            watch(self.path, lock_pid=os.getpid())
            return
        raise StudyBusyError(f"could not take {self.path}: another run keeps creating it")

    def release(self) -> None:
        if self.owned and self._owner().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.owned = False

    def __enter__(self) -> "StudyLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# --------------------------------------------------------------------------------------------------
# Clean-up after a process that cannot clean up itself (SIGKILL, OOM killer)

_REAPER_CODE = r"""
import json, os, shutil, signal, sys, time
items = []
for line in sys.stdin:  # end of input: the process that started us has exited, however it ended
    try:
        items.append(json.loads(line))
    except ValueError:
        pass
killed = False
for item in items:  # kernels first, so that none writes into a folder after it is removed
    pid = item.get("kill_pid")
    if not isinstance(pid, int):
        continue
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:  # still the kernel we started, not a reused pid
            if item.get("marker", "").encode() not in handle.read():
                continue
        try:
            os.killpg(pid, signal.SIGKILL)  # the kernel leads its own session
        except OSError:
            os.kill(pid, signal.SIGKILL)
        killed = True
    except (OSError, TypeError):
        pass
if killed:
    time.sleep(0.5)
for item in items:
    path = item.get("path", "")
    if not path:
        continue
    try:
        if item.get("lock_pid") is not None:
            with open(path, encoding="utf-8") as handle:
                if json.load(handle).get("pid") == item["lock_pid"]:
                    os.unlink(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
    except (OSError, ValueError, AttributeError):
        pass
"""

_reaper = None


def watch(path: str | os.PathLike, *, lock_pid: int | None = None) -> None:
    """Remove ``path`` (a staging or temporary folder, or a lock still owned by ``lock_pid``) when this
    process exits, even when it is killed with SIGKILL.

    A small watcher process, started on first use in its own session (so Ctrl-C does not reach it),
    reads the paths from a pipe and removes whichever are still there once the pipe closes, which
    happens when this process ends, however it ends. Paths that were cleaned up normally are gone by
    then; a lock is removed only while it still names ``lock_pid``.
    """
    _send({"path": str(path), "lock_pid": lock_pid})


def _send(item: dict) -> None:
    global _reaper
    import subprocess

    try:
        if _reaper is None or _reaper.poll() is not None or _reaper_pid != os.getpid():
            _start_reaper(subprocess)
        _reaper.stdin.write(json.dumps(item) + "\n")
        _reaper.stdin.flush()
    except (OSError, ValueError):  # no watcher (no processes allowed, say): normal clean-up still runs
        pass


def watch_process(pid: int, marker: str) -> None:
    """Kill ``pid`` (a kernel this process started) when this process exits, however it exits, if its command
    line still holds ``marker`` (its connection file: a pid reused by another process is left alone).

    A kernel runs in its own session, so a runner killed with SIGKILL would otherwise leave it computing, and
    writing into the run's private folder after the watcher removed it. Linux only (``/proc``); elsewhere a
    no-op. A kernel that ended normally is gone by then, and its pid is checked before anything is killed.
    """
    _send({"kill_pid": int(pid), "marker": str(marker)})


_reaper_pid = None


def _start_reaper(subprocess) -> None:
    global _reaper, _reaper_pid
    _reaper = subprocess.Popen([sys.executable, "-c", _REAPER_CODE], stdin=subprocess.PIPE, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _reaper_pid = os.getpid()
