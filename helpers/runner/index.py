"""``reports/index.html`` and ``reports/index.csv``: every study report in the reports root at a glance.

Each ``reports/<study>/`` folder may hold ``metrics.json`` (written by the notebook: headline metrics
with labels, units and the source study's values) and ``run.json`` (written by the runner: status,
preset, wall time, error, the two HTML files). A section is built from whichever is there, so failed
runs show up too, and running one study keeps the other studies' sections. Staging folders
(``<study>.partial``) and other dotted names are skipped. The page is self-contained: inline CSS,
figures linked from the report folders beside it, nothing from a network.
"""
from __future__ import annotations

import csv
import html
import io
import json
import sys
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers import paths
from helpers.formatting import format_date, format_number, format_seconds
from helpers.findings import DOES_NOT_HOLD, HOLDS, STATUSES, Outcome
from helpers.findings import from_records as findings_from_records
from helpers.headline import Metric, from_records, verdict


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


FAILED_DIR = "failed"  # <study>/failed/: the latest failed attempt, beside the last good report
RUNS_DIR = "runs"  # <study>/runs/<run id>/: the runs of a sweep (helpers.runner.sweep)
AGGREGATE = "aggregate"  # <study>/aggregate.{json,html,csv,png}: the sweep's summary over its runs
SWEEP_ENTRIES = (RUNS_DIR, *(f"{AGGREGATE}.{ext}" for ext in ("json", "html", "csv", "png", "svg")))


def _link(folder: Path, name: Any, prefix: str = "") -> str:
    """``<study>/<name>`` (relative to the reports root) when that file exists in the folder, else empty."""
    if not isinstance(name, str) or not name or "/" in name:
        return ""
    return f"{prefix or folder.name}/{name}" if (folder / name).is_file() else ""


def _latest_failure(folder: Path, run: dict[str, Any]) -> dict[str, str] | None:
    """The failed attempt kept beside a good report, when it is newer than that report."""
    failed = _read_json(folder / FAILED_DIR / "run.json")
    if not failed or run.get("status") != "ok" or str(failed.get("finished_at", "")) < str(run.get("finished_at", "")):
        return None
    study = folder.name
    return {
        "error": failed.get("error") or "failed",
        "finished_at": failed.get("finished_at") or "",
        "html": _link(folder / FAILED_DIR, failed.get("html") or f"{study}.html", f"{study}/{FAILED_DIR}"),
    }


_FIELD_TYPES = {"number": (str, int), "title": str, "preset": str, "status": str, "error": str, "finished_at": str,
                "wall_seconds": (int, float, type(None)), "html": str, "reader_html": str, "parameters": dict,
                "headline": (list, dict), "device": str, "key_figure": (str, type(None)), "findings": (list, type(None))}


def _malformed(*records: dict[str, Any]) -> str:
    """Why a report folder's ``run.json`` / ``metrics.json`` cannot be shown (one line), or empty."""
    for name, record in zip(("run.json", "metrics.json"), records):
        for key, kinds in _FIELD_TYPES.items():
            if key in record and (not isinstance(record[key], kinds) or isinstance(record[key], bool)):
                return f"its {name} has {key!r} of type {type(record[key]).__name__}"
    return ""


def collect_rows(reports_root: str | Path | None = None) -> list[dict[str, Any]]:
    """One dict per report folder holding ``metrics.json`` or ``run.json``, in study order."""
    root = Path(reports_root) if reports_root is not None else paths.reports_root()
    rows: list[dict[str, Any]] = []
    if not root.is_dir():
        return rows
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if "." in folder.name:  # staging (.partial), swap (.old) or hidden folders; study ids have no dots
            continue
        metrics = _read_json(folder / "metrics.json")
        run = _read_json(folder / "run.json")
        aggregate = _read_json(folder / f"{AGGREGATE}.json")
        if not metrics and not run and not aggregate:
            continue
        problem = _malformed(run, metrics)
        if problem:
            print(f"index: skipped {folder.name}/ ({problem})", file=sys.stderr)
            continue
        study = folder.name
        parameters = metrics.get("parameters") or run.get("parameters") or {}
        rows.append({
            "study": study,
            "number": str(run.get("number", "")),
            "title": metrics.get("title") or run.get("title") or aggregate.get("title") or study,
            "preset": metrics.get("preset") or run.get("preset") or aggregate.get("preset") or "",
            "seed": parameters.get("seed") if isinstance(parameters, dict) else None,
            "status": run.get("status") or ("ok" if metrics or aggregate else "unknown"),
            "error": run.get("error") or "",
            "finished_at": run.get("finished_at") or metrics.get("finished_at") or "",
            "wall_seconds": run.get("wall_seconds", metrics.get("wall_seconds")),
            "device": metrics.get("device", ""),
            "headline": from_records(metrics.get("headline")),
            "findings": findings_from_records(metrics.get("findings")),
            "html": _link(folder, run.get("html") or f"{study}.html"),
            "reader_html": _link(folder, run.get("reader_html") or f"{study}.reader.html"),
            "metrics": _link(folder, "metrics.json"),
            "key_figure": _link(folder, f"{metrics.get('key_figure')}.png") if metrics.get("key_figure") else "",
            "latest_failure": _latest_failure(folder, run),
            "aggregate": dict(aggregate, html=_link(folder, f"{AGGREGATE}.html")) if aggregate else None,
        })
    rows.sort(key=lambda r: (int(r["number"]) if r["number"].isdigit() else 10**9, r["study"]))
    return rows


_CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
p.sub { color: var(--muted); margin: 0 0 1.5rem; }
section { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem; margin: 0 0 1.2rem; }
section h2 { font-size: 1.15rem; margin: 0 0 .3rem; }
.meta { color: var(--muted); font-size: .9rem; margin: 0 0 .6rem; }
.meta span + span::before { content: " · "; }
.body { display: flex; gap: 1.2rem; align-items: flex-start; }
.body table { flex: 1; }
.thumb img { width: 260px; max-width: 30vw; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .6rem; border-bottom: 1px solid var(--line); }
th { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.src { color: var(--muted); font-size: .85rem; }
.detail { color: var(--muted); font-size: .85rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .78rem;
         font-weight: 600; color: #fff; background: var(--ok); white-space: nowrap; }
.badge.failed, .badge.no { background: var(--bad); }
.badge.open { background: var(--muted); }
.scale { color: var(--muted); font-size: .85rem; }
table.scoreboard { margin: 0 0 1.5rem; }
.error { color: var(--bad); font-family: ui-monospace, monospace; font-size: .9rem; word-break: break-word; }
.links a { margin-right: 1rem; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
.empty { color: var(--muted); font-style: italic; }
"""


def _headline_table(metrics: list[Metric]) -> str:
    esc = html.escape
    if not metrics:
        return '<p class="empty">no headline metrics</p>'
    rows = []
    for m in metrics:
        detail = ", ".join(f"{k} {v}" for k, v in m.detail.items())
        label = esc(m.label) + (f' <span class="detail">({esc(detail)})</span>' if detail else "")
        study = esc(format_number(m.study, m.unit)) if m.study is not None else ""
        judged = verdict(m)
        if m.reproduced is None:  # no comparison at this preset: the study's number is shown for scale only
            badge = f'<span class="scale">{esc(judged)}</span>' if judged else ""
        else:
            badge = f'<span class="badge{"" if m.reproduced else " no"}">{esc(judged)}</span>'
        rows.append(
            f"<tr><td>{label}</td><td class=\"num\">{esc(format_number(m.value, m.unit))}</td>"
            f'<td class="num">{study}</td><td class="src">{esc(m.study_source)}</td><td>{badge}</td></tr>'
        )
    return (
        "<table><thead><tr><th>metric</th><th>this run</th><th>study</th><th>where in the study</th><th></th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


_STATUS_CLASS = {HOLDS: "", DOES_NOT_HOLD: " no"}


def _status_badge(status: str) -> str:
    return f'<span class="badge{_STATUS_CLASS.get(status, " open")}">{html.escape(status)}</span>'


def _findings_rows(findings: list[Outcome], study_cell: str = "") -> list[str]:
    esc = html.escape
    rows = []
    for f in findings:
        claim = esc(f.claim) + (f'<br><span class="detail">this run measured: {esc(f.measured)}</span>' if f.measured else "")
        source = "ours (a careful evaluation)" if f.ours else esc(f.source)
        rows.append(f"<tr>{study_cell}<td>{claim}</td><td class=\"src\">{source}</td><td>{_status_badge(f.status)}</td>"
                    f'<td class="src">{esc(f.evidence)}</td></tr>')
    return rows


def _findings_table(findings: list[Outcome]) -> str:
    if not findings:
        return ""
    return ("<table><thead><tr><th>finding</th><th>source</th><th>this run</th><th>rests on</th></tr></thead>"
            f"<tbody>{''.join(_findings_rows(findings))}</tbody></table>")


def _scoreboard(rows: list[dict[str, Any]]) -> str:
    """Every study's findings and their verdicts in one table: what this collection's runs show."""
    esc = html.escape
    body = []
    for r in rows:
        if not r.get("findings"):
            continue
        link = f'<a href="#{esc(r["study"], quote=True)}">{esc(r["title"])}</a>'
        cell = f'<td>{link}<br><span class="detail">preset {esc(r["preset"] or "?")}</span></td>'
        body.extend(_findings_rows(r["findings"], cell))
    if not body:
        return ""
    return ('<h2>Findings</h2><table class="scoreboard"><thead><tr><th>study</th><th>finding</th><th>source</th>'
            f"<th>this run</th><th>rests on</th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def _aggregate_table(aggregate: dict[str, Any]) -> str:
    """Mean and 95% interval of every headline metric over a sweep's runs, one block per swept setting."""
    esc = html.escape
    runs = aggregate.get("runs") or []
    ok = sum(r.get("status") == "ok" for r in runs)
    rows = []
    for group in aggregate.get("groups") or []:
        setting = ", ".join(f"{k} {v}" for k, v in (group.get("setting") or {}).items())
        for entry in (group.get("metrics") or {}).values():
            if entry.get("mean") is None:
                continue
            unit = entry.get("unit", "")
            interval = (f"[{format_number(entry['low'], unit)}, {format_number(entry['high'], unit)}]"
                        if entry.get("low") is not None else "")
            study = format_number(entry["study"], unit) if entry.get("study") is not None else ""
            label = esc(entry.get("label", "")) + (f' <span class="detail">({esc(setting)})</span>' if setting else "")
            rows.append(f'<tr><td>{label}</td><td class="num">{esc(format_number(entry["mean"], unit))} '
                        f'<span class="detail">{esc(interval)}</span></td><td class="num">{entry.get("n")}</td>'
                        f'<td class="num">{esc(study)}</td></tr>')
    left = aggregate.get("left_out") or []
    note = f'<p class="error">left out: {esc(", ".join(str(r.get("run_id")) for r in left))}</p>' if left else ""
    link = f' (<a href="{esc(aggregate["html"], quote=True)}">aggregate report</a>)' if aggregate.get("html") else ""
    return (
        f'<p class="meta">Sweep over {esc(", ".join(aggregate.get("swept") or []))}: {ok} of {len(runs)} runs ok{link}</p>{note}'
        "<table><thead><tr><th>metric</th><th>mean [95% interval]</th><th>n</th><th>study</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _section(r: dict[str, Any]) -> str:
    esc = html.escape
    ok = r["status"] == "ok"
    badge = f'<span class="badge{"" if ok else " failed"}">{"ok" if ok else esc(r["status"].upper())}</span>'
    meta = [f"{esc(r['number'])} {esc(r['study'])}".strip(), badge, f"preset {esc(r['preset'] or '?')}"]
    if r["seed"] is not None:
        meta.append(f"seed {esc(str(r['seed']))}")
    for value in (format_seconds(r["wall_seconds"]), format_date(r["finished_at"]), r["device"]):
        if value:
            meta.append(esc(str(value)))
    links = [
        (r["reader_html"], "report"), (r["html"], "full notebook with code"), (r["metrics"], "metrics.json"),
    ]
    links_html = " ".join(f'<a href="{esc(href, quote=True)}">{text}</a>' for href, text in links if href)
    error = f'<p class="error">{esc(r["error"])}</p>' if r["error"] else ""
    failure = r.get("latest_failure")
    if failure:
        link = f' (<a href="{esc(failure["html"], quote=True)}">its report</a>)' if failure["html"] else ""
        error += (
            f'<p class="error"><span class="badge failed">latest attempt FAILED</span> {esc(format_date(failure["finished_at"]))}: '
            f'{esc(failure["error"])}{link}. The results below are from the last good run.</p>'
        )
    thumb = (
        f'<a class="thumb" href="{esc(r["reader_html"] or r["html"] or r["key_figure"], quote=True)}">'
        f'<img src="{esc(r["key_figure"], quote=True)}" alt="key figure of {esc(r["title"])}"></a>'
        if r["key_figure"] else ""
    )
    return (
        f'<section id="{esc(r["study"], quote=True)}"><h2>{esc(r["title"])}</h2>'
        f'<p class="meta">{"".join(f"<span>{m}</span>" for m in meta)}</p>{error}'
        f'{_findings_table(r.get("findings") or [])}'
        f'<div class="body">{_headline_table(r["headline"]) if r["headline"] or (ok and not r["aggregate"]) else ""}{thumb}</div>'
        f'{_aggregate_table(r["aggregate"]) if r["aggregate"] else ""}'
        f'<p class="links">{links_html}</p></section>'
    )


def render_index(rows: list[dict[str, Any]], generated_at: datetime | None = None) -> str:
    """The index page as one HTML string."""
    esc = html.escape
    generated_at = generated_at or datetime.now()
    failed = sum(r["status"] != "ok" or bool(r.get("latest_failure")) for r in rows)
    summary = f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'}"
    summary += f", {failed} failed" if failed else ", all ok" if rows else ""
    outcomes = [f for r in rows for f in r.get("findings") or []]
    if outcomes:
        tally = ", ".join(f"{sum(f.status == s for f in outcomes)} {s}" for s in STATUSES)
        summary += f"; findings: {tally}"
    sections = "\n".join(_section(r) for r in rows) or '<p class="empty">No reports yet: run python -m helpers.run</p>'
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
<p class="sub">{esc(summary)} · generated {esc(generated_at.strftime("%Y-%m-%d %H:%M"))} by <code>python -m helpers.run</code>.
A finding <em>holds</em> when this run's numbers show it beyond their 95% intervals, <em>does not hold</em> when
they show the opposite, and is <em>not shown at this scale</em> otherwise. A number is called "reproduced" only at a
preset that follows the source study's protocol; elsewhere the study's number stands beside ours for scale. A copy
for spreadsheets is in <a href="index.csv">index.csv</a>.</p>
{_scoreboard(rows)}
{sections}
</body>
</html>
"""


CSV_COLUMNS = [
    "study", "number", "title", "status", "preset", "seed", "wall_seconds", "finished_at", "kind",
    "key", "label", "value", "unit", "study_value", "study_source", "tolerance", "reproduced", "detail",
    "finding_status", "finding_source", "finding_evidence", "latest_attempt_error",
]


def render_csv(rows: list[dict[str, Any]]) -> str:
    """One row per study and finding (kind "finding") and per headline metric (kind "metric"); a failed
    study without either gets one row. Every cell that could start a spreadsheet formula is neutralised."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        base = {k: r.get(k) for k in ("study", "number", "title", "status", "preset", "seed", "wall_seconds", "finished_at")}
        base["latest_attempt_error"] = (r.get("latest_failure") or {}).get("error", "")
        for f in r.get("findings") or []:
            writer.writerow(_csv_safe(dict(base, kind="finding", key=f.key, label=f.claim, finding_status=f.status,
                                           finding_source="ours" if f.ours else f.source, finding_evidence=f.evidence)))
        for m in r["headline"] or ([] if r.get("findings") else [None]):
            record = dict(base)
            if m is not None:
                record.update(
                    kind="metric", key=m.key, label=m.label, value=m.value, unit=m.unit, study_value=m.study,
                    study_source=m.study_source, tolerance=m.tolerance, reproduced=m.reproduced,
                    detail=json.dumps(m.detail, sort_keys=True) if m.detail else "",
                )
            writer.writerow(_csv_safe(record))
    return out.getvalue()


def _csv_safe(record: dict[str, Any]) -> dict[str, Any]:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading apostrophe."""
    return {k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v) for k, v in record.items()}


def _write_atomic(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=target.suffix)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def write_index(reports_root: str | Path | None = None) -> Path:
    """Build ``index.html`` and ``index.csv`` in the reports root from the report folders; returns the HTML path."""
    root = Path(reports_root) if reports_root is not None else paths.reports_root()
    root.mkdir(parents=True, exist_ok=True)
    rows = collect_rows(root)
    _write_atomic(root / "index.csv", render_csv(rows))
    target = root / "index.html"
    _write_atomic(target, render_index(rows))
    return target


if __name__ == "__main__":
    print(write_index())
