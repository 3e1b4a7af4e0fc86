"""Small result tables rendered as Markdown, so they read well in JupyterLab and in HTML reports."""
from __future__ import annotations

from typing import Any, Sequence


def _cell(value: Any, percent: bool) -> str:
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:.4g}"
    # Cells may carry names the data chose (class folders, file names): never markup, never a cell break.
    text = " ".join(str(value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def markdown_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], *, percent: bool = True) -> str:
    """A Markdown table; floats are shown as percentages when ``percent`` (accuracies are fractions)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {row!r} has {len(row)} cells for {len(columns)} columns")
        lines.append("| " + " | ".join(_cell(v, percent) for v in row) + " |")
    return "\n".join(lines)


def show_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], *, percent: bool = True) -> None:
    """Display a Markdown table in a notebook (plain text elsewhere)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(rows, columns, percent=percent)))
