"""Progress for anything that runs longer than a few seconds, shown where the person waiting looks.

- In JupyterLab (or a terminal), a text bar on stderr that redraws in place: one updating line, no
  ipywidgets needed, refreshed at most once a second, cleared when done.
- In a batch run, the runner sets ``ADVLAB_PROGRESS_FILE``: bars and stage lines go to that file and
  the runner relays them to its own terminal, so the executed notebook and its HTML hold none of them.
- ``ADVLAB_PROGRESS=0`` turns bars off altogether (for log files).
"""
from __future__ import annotations

import os
from typing import IO

from tqdm import tqdm

PROGRESS_FILE_ENV = "ADVLAB_PROGRESS_FILE"
STAGE_MARK = "» "  # lines starting with this are stage announcements, kept in non-terminal logs

_stream: IO[str] | None = None
_stream_path: str | None = None


def progress_stream() -> IO[str] | None:
    """The batch runner's progress channel, or None outside a batch run."""
    global _stream, _stream_path
    path = os.environ.get(PROGRESS_FILE_ENV, "").strip()
    if not path:
        return None
    if _stream is None or _stream_path != path:
        try:
            _stream = open(path, "a", buffering=1, encoding="utf-8")
            _stream_path = path
        except OSError:
            return None
    return _stream


def progress_bar(iterable=None, **options) -> tqdm:
    """A tqdm bar that follows the rules above; accepts tqdm's options."""
    stream = progress_stream()
    if stream is not None:
        options.setdefault("file", stream)
    options.setdefault("mininterval", 1.0)
    options.setdefault("leave", False)
    options.setdefault("dynamic_ncols", stream is None)
    options.setdefault("disable", os.environ.get("ADVLAB_PROGRESS", "1") == "0")
    return tqdm(iterable, **options)


def announce(message: str) -> None:
    """One line on the batch runner's terminal (a stage starting, say); nothing in a notebook."""
    stream = progress_stream()
    if stream is not None:
        stream.write(f"{STAGE_MARK}{message}\n")
