"""Progress bars for anything that runs longer than a few seconds.

One factory so that every bar behaves the same: a text bar (no ipywidgets needed) that redraws in
place in a notebook and in a terminal, refreshed at most once a second so that executed notebooks
and HTML reports do not fill up with redraws (callers pass ``refresh=False`` to ``set_postfix``).
``ADVLAB_PROGRESS=0`` turns the bars off (e.g. for log files).
"""
from __future__ import annotations

import os

from tqdm import tqdm


def progress_bar(iterable=None, **options) -> tqdm:
    options.setdefault("mininterval", 1.0)
    options.setdefault("leave", False)
    options.setdefault("dynamic_ncols", True)
    options.setdefault("disable", os.environ.get("ADVLAB_PROGRESS", "1") == "0")
    return tqdm(iterable, **options)
