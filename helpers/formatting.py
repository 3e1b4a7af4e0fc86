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


def format_percent(fraction: Any, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage (``0.302`` -> ``30.2%``); ``-`` when missing or not a number."""
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or fraction != fraction:
        return "-"
    return f"{100 * fraction:.{digits}f}%"


def format_interval(value: Any, *, scale: float = 1.0, unit: str = "", digits: int = 1) -> str:
    """An estimate with its interval, ``30.2% (27.4-33.1)``; a bare number without one; ``-`` when missing.

    ``value`` is a number or an (estimate, low, high) triple such as ``helpers.metrics.Interval``; ``scale``
    multiplies all three (100 for fractions shown as percentages). NaN bounds (an interval that is undefined,
    e.g. one seed) are left out.
    """
    if value is None:
        return "-"
    triple = tuple(value) if isinstance(value, (tuple, list)) else (value, float("nan"), float("nan"))
    estimate, low, high = (float(v) * scale if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")
                           for v in triple)
    if estimate != estimate:
        return "-"
    text = f"{estimate:.{digits}f}{unit}"
    if low == low and high == high:
        text += f" ({low:.{digits}f}-{high:.{digits}f})"
    return text


_MARKDOWN_SPECIALS = str.maketrans({c: f"&#{ord(c)};" for c in "\\`*_{}[]<>()#+!|$&~"})


def escape_markdown(text: Any) -> str:
    """``text`` that came from a user or the data (a preset name, a class folder, a photo's title) made inert
    in Markdown and HTML: every character Markdown or HTML could read as markup becomes a character reference,
    and line breaks become spaces (a table cell stays one cell)."""
    return " ".join(str(text).splitlines()).translate(_MARKDOWN_SPECIALS)


_MARKDOWN_ACTIVE = "\\`*_{}[]()#+-.!|~<>&\"'"


def escape_markdown(text: Any) -> str:
    """A string that is not the project's own text (a preset or file name, a class folder, a photo's
    title or owner) made safe to put into Markdown: it renders as the same characters, never as
    markup, a link or HTML, and stays on one line (a table cell, a heading)."""
    out = []
    for char in " ".join(str(text).split()):
        if char in "<>&\"'":
            out.append(f"&#{ord(char)};")
        elif char in _MARKDOWN_ACTIVE:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
