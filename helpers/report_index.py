"""``reports/index.html``: one self-contained page listing every study report in the reports root.

Each ``reports/<study>/`` folder may hold ``metrics.json`` (written by the notebook) and ``run.json``
(written by ``python -m helpers.run``: status, preset, wall time, error). A row is built from
whichever is there, so failed runs show up too, and a report made by running one study keeps the
other studies' rows. Staging folders (``<study>.partial``) and other dotted names are skipped.
"""
from __future__ import annotations

import html
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers import paths


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def format_value(value: Any, width: int = 40, *, name: str = "") -> str:
    """A headline value for a table cell: 3 significant digits for floats, short strings.

    Accuracies (a ``name`` containing "accuracy" and a fraction in [0, 1]) are shown as percentages.
    """
    if isinstance(value, float) and "accuracy" in name.lower() and 0.0 <= value <= 1.0:
        text = f"{100 * value:.1f}%"
    elif isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, int):
        text = f"{value:,}" if abs(value) >= 10_000 else str(value)
    elif isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_seconds(seconds: Any) -> str:
    """``12.3 s``, ``4 min 05 s``, ``1 h 02 min``; empty when unknown."""
    if not isinstance(seconds, (int, float)):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_date(stamp: Any) -> str:
    if not isinstance(stamp, str) or not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def collect_rows(reports_root: str | Path | None = None) -> list[dict[str, Any]]:
    """One dict per report folder holding ``metrics.json`` or ``run.json``, in study order."""
    root = Path(reports_root) if reports_root is not None else paths.reports_root()
    rows = []
    if not root.is_dir():
        return rows
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if "." in folder.name:  # staging (.partial), swap (.old) or hidden folders; study ids have no dots
            continue
        metrics = _read_json(folder / "metrics.json")
        run = _read_json(folder / "run.json")
        if not metrics and not run:
            continue
        study = folder.name
        page = folder / f"{study}.html"
        status = run.get("status") or ("ok" if metrics else "unknown")
        rows.append(
            {
                "study": study,
                "number": str(run.get("number", "")),
                "title": metrics.get("title") or run.get("title") or study,
                "preset": metrics.get("preset") or run.get("preset") or "",
                "status": status,
                "error": run.get("error") or "",
                "finished_at": run.get("finished_at") or metrics.get("finished_at") or "",
                "wall_seconds": run.get("wall_seconds", metrics.get("wall_seconds")),
                "device": metrics.get("device", ""),
                "headline": metrics.get("headline") or {},
                "html": f"{study}/{page.name}" if page.exists() else "",
            }
        )
    rows.sort(key=lambda r: (int(r["number"]) if r["number"].isdigit() else 10**9, r["study"]))
    return rows


_CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
p.sub { color: var(--muted); margin: 0 0 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .55rem .7rem; border-bottom: 1px solid var(--line); }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
tr:hover td { background: #f6f8fa; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
.id { color: var(--muted); font-size: .85rem; font-family: ui-monospace, monospace; }
.badge { display: inline-block; padding: .1rem .55rem; border-radius: 1rem; font-size: .8rem;
         font-weight: 600; color: #fff; background: var(--ok); }
.badge.failed { background: var(--bad); }
.error { color: var(--bad); font-size: .85rem; margin-top: .3rem; font-family: ui-monospace, monospace;
         word-break: break-word; }
dl { display: grid; grid-template-columns: auto auto; gap: .1rem .8rem; margin: 0; font-size: .9rem; }
dt { color: var(--muted); } dd { margin: 0; font-variant-numeric: tabular-nums; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
.empty { color: var(--muted); font-style: italic; }
"""


def render_index(rows: list[dict[str, Any]], generated_at: datetime | None = None) -> str:
    """The index page as one HTML string (inline CSS, no external assets)."""
    esc = html.escape
    generated_at = generated_at or datetime.now()
    failed = sum(r["status"] != "ok" for r in rows)
    summary = f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'}"
    summary += f", {failed} failed" if failed else ", all ok" if rows else ""
    body = []
    for r in rows:
        ok = r["status"] == "ok"
        title = esc(r["title"])
        link = f'<a href="{esc(r["html"], quote=True)}">{title}</a>' if r["html"] else title
        badge = f'<span class="badge{"" if ok else " failed"}">{"ok" if ok else esc(r["status"].upper())}</span>'
        error = f'<div class="error">{esc(r["error"])}</div>' if r["error"] else ""
        headline = "".join(
            f"<dt>{esc(str(k))}</dt><dd>{esc(format_value(v, name=str(k)))}</dd>" for k, v in r["headline"].items()
        )
        headline = f"<dl>{headline}</dl>" if headline else '<span class="empty">none</span>'
        report = f'<a href="{esc(r["html"], quote=True)}">report</a>' if r["html"] else ""
        body.append(
            "<tr>"
            f'<td>{link}<div class="id">{esc(r["number"] + " " if r["number"] else "")}{esc(r["study"])}</div></td>'
            f"<td>{esc(r['preset'])}</td>"
            f"<td>{badge}{error}</td>"
            f'<td class="num">{esc(format_date(r["finished_at"]))}</td>'
            f'<td class="num">{esc(format_seconds(r["wall_seconds"]))}</td>'
            f"<td>{headline}</td>"
            f"<td>{report}</td>"
            "</tr>"
        )
    rows_html = "\n".join(body) or '<tr><td colspan="7" class="empty">No reports yet: run python -m helpers.run</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>advlab reports</title>
<style>{_CSS}</style>
</head>
<body>
<h1>advlab reports</h1>
<p class="sub">{esc(summary)} · generated {esc(generated_at.strftime("%Y-%m-%d %H:%M"))} by <code>python -m helpers.run</code></p>
<table>
<thead><tr><th>Study</th><th>Preset</th><th>Status</th><th>Date</th><th>Wall time</th><th>Headline</th><th></th></tr></thead>
<tbody>
{rows_html}
</tbody>
</table>
</body>
</html>
"""


def write_index(reports_root: str | Path | None = None) -> Path:
    """Build ``<reports root>/index.html`` from the report folders there; returns its path."""
    root = Path(reports_root) if reports_root is not None else paths.reports_root()
    root.mkdir(parents=True, exist_ok=True)
    page = render_index(collect_rows(root))
    target = root / "index.html"
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".index-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    print(write_index())
