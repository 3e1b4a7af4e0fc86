"""Relay a kernel's progress to the terminal that runs the batch.

The kernel writes its bars and stage lines to a file named by ``ADVLAB_PROGRESS_FILE`` (see
``helpers.progress``); a thread here follows that file and copies it to the runner's stderr. On a
terminal the bars redraw in place; in a log (stderr is not a terminal) only the stage lines are kept,
one per stage, so CI logs do not fill up with redraws.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import IO

from helpers.progress import STAGE_MARK


class ProgressRelay:
    """``with ProgressRelay(sys.stderr) as relay:`` ... the kernel writes to ``relay.path``."""

    def __init__(self, target: IO[str], *, interval: float = 0.2, live: bool | None = None, folder: str | None = None):
        self.target = target
        self.folder = folder  # where the file goes: the run's private folder, which a killed runner's watcher removes
        self.interval = interval
        self.live = target.isatty() if live is None else live
        self.path: Path | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending = ""

    def __enter__(self) -> "ProgressRelay":
        fd, name = tempfile.mkstemp(prefix="advlab-progress-", suffix=".log", dir=self.folder)
        os.close(fd)
        self.path = Path(name)
        self._thread = threading.Thread(target=self._follow, name="advlab-progress-relay", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.live and self._pending:
            self._write("\r\x1b[K")  # clear a bar left on the line
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _follow(self) -> None:
        with open(self.path, "r", encoding="utf-8", errors="replace", newline="") as source:
            while True:
                stopping = self._stop.is_set()
                chunk = source.read()
                if chunk:
                    self._forward(chunk)
                if stopping:
                    return
                self._stop.wait(self.interval)

    def _forward(self, chunk: str) -> None:
        if self.live:
            self._pending = chunk.rsplit("\n", 1)[-1]
            self._write(chunk)
            return
        text = self._pending + chunk
        *lines, self._pending = text.split("\n")
        for line in lines:
            line = line.rsplit("\r", 1)[-1]
            if line.startswith(STAGE_MARK):
                self._write(f"    {line[len(STAGE_MARK):]}\n")

    def _write(self, text: str) -> None:
        try:
            self.target.write(text)
            self.target.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth a failed run
            pass
