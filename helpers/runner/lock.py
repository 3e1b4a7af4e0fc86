"""One run at a time per study report: ``reports/<study>.lock`` names the run that owns the folder.

The lock file is created atomically (``O_CREAT | O_EXCL``) and holds the owner's host, process id,
start time and command. A second runner on the same study and reports root refuses with one line
naming the owner. A lock whose process is gone (same host, no such pid) is stale: it is removed and
taken over, so a runner killed with SIGKILL does not block the next one for ever.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime
from pathlib import Path

LOCK_SUFFIX = ".lock"


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
