"""How numbers read in tables, headlines, the terminal summary and the index: one set of rules."""
from __future__ import annotations

from datetime import datetime
from typing import Any


def format_number(value: Any, unit: str = "", width: int = 40) -> str:
    """A value for a table cell: ``"%"`` values with one decimal, other floats with 3 significant digits."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif unit == "%" and isinstance(value, (int, float)):
        text = f"{value:.1f}%"
    elif isinstance(value, int):
        text = f"{value:,}" if abs(value) >= 10_000 else str(value)
    elif isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    else:
        text = str(value)
    if unit and unit != "%" and value is not None and not isinstance(value, (bool, str)):
        text = f"{text} {unit}"
    return text if len(text) <= width else text[: width - 1] + "…"


def format_value(value: Any, width: int = 40, *, name: str = "") -> str:
    """A value whose unit is unknown: fractions in [0, 1] named "...accuracy..." read as percentages."""
    if isinstance(value, float) and not isinstance(value, bool) and "accuracy" in name.lower() and 0.0 <= value <= 1.0:
        return format_number(100 * value, "%", width)
    return format_number(value, "", width)


def format_seconds(seconds: Any) -> str:
    """``12.3 s``, ``4 min 05 s``, ``1 h 02 min``; empty when unknown."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_date(stamp: Any) -> str:
    """An ISO time stamp as ``YYYY-MM-DD HH:MM``; other text unchanged, empty when missing."""
    if not isinstance(stamp, str) or not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp
