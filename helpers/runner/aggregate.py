"""The summary of a sweep: every headline metric over the runs, as mean and 95% interval.

For each combination of swept values (seeds pooled), each headline metric gets n, mean, standard
deviation and the two-sided 95% Student t interval of the mean; one run gives no interval. Written
beside the runs as ``aggregate.json``, ``aggregate.csv`` and a self-contained ``aggregate.html`` with
one figure per metric against the swept parameter (interval as a band) and links to every run.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

from helpers.formatting import format_number
from helpers.headline import from_records
from helpers.metrics import mean_interval
from helpers.runner.index import AGGREGATE, RUNS_DIR


def summary_statistics(values: Sequence[float], confidence: float = 0.95) -> dict[str, float | int | None]:
    """n, mean, sample standard deviation and the Student t interval of the mean (None where undefined)."""
    xs = [float(v) for v in values]
    if not xs:
        return {"n": 0, "mean": None, "std": None, "low": None, "high": None}
    interval = mean_interval(xs, confidence)
    spread = len(xs) > 1
    std = math.sqrt(sum((x - interval.estimate) ** 2 for x in xs) / (len(xs) - 1)) if spread else None
    return {"n": len(xs), "mean": interval.estimate, "std": std,
            "low": interval.low if spread else None, "high": interval.high if spread else None}


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def summarize(runs: Sequence[dict[str, Any]], swept_keys: Sequence[str]) -> dict[str, Any]:
    """Group the finished runs by their swept values (seed pooled) and summarize each headline metric.

    ``runs``: one record per planned run with ``run_id``, ``swept`` ({key: value}, seed included),
    ``status``, ``error`` and ``headline`` (metric records).
    """
    grouping = [k for k in swept_keys if k != "seed"]
    groups: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.get("status") != "ok":
            continue
        setting = {k: run["swept"].get(k) for k in grouping}
        group = groups.setdefault(json.dumps(setting, sort_keys=True), {"setting": setting, "runs": [], "metrics": {}})
        group["runs"].append(run["run_id"])
        for metric in from_records(run.get("headline")):
            entry = group["metrics"].setdefault(metric.key, {"label": metric.label, "unit": metric.unit,
                                                              "study": metric.study, "values": []})
            if _numeric(metric.value):
                entry["values"].append(float(metric.value))
    for group in groups.values():
        for entry in group["metrics"].values():
            entry.update(summary_statistics(entry["values"]))
    left_out = [{"run_id": r["run_id"], "error": r.get("error") or r.get("status")} for r in runs if r.get("status") != "ok"]
    return {"grouping": grouping, "groups": list(groups.values()), "left_out": left_out}


def _interval_text(entry: dict[str, Any]) -> str:
    if entry.get("mean") is None:
        return "-"
    unit = entry.get("unit", "")
    text = format_number(entry["mean"], unit)
    if entry.get("low") is not None:
        text += f" [{format_number(entry['low'], unit)}, {format_number(entry['high'], unit)}]"
    return text


def _figure(summary: dict[str, Any]) -> bytes | None:
    """Each numeric metric against the one numeric swept parameter, mean with its interval band."""
    grouping = summary["grouping"]
    if len(grouping) != 1 or not summary["groups"]:
        return None
    key = grouping[0]
    groups = [g for g in summary["groups"] if _numeric(g["setting"].get(key))]
    if len(groups) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from helpers.plots import use_style

    use_style()
    groups.sort(key=lambda g: g["setting"][key])
    metrics = [m for m in groups[0]["metrics"] if all(g["metrics"].get(m, {}).get("mean") is not None for g in groups)]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.0), squeeze=False)
    xs = [g["setting"][key] for g in groups]
    for ax, name in zip(axes[0], metrics):
        entries = [g["metrics"][name] for g in groups]
        ax.plot(xs, [e["mean"] for e in entries], marker="o")
        lows = [e["low"] if e["low"] is not None else e["mean"] for e in entries]
        highs = [e["high"] if e["high"] is not None else e["mean"] for e in entries]
        ax.fill_between(xs, lows, highs, alpha=0.25, label="95% interval")
        unit = entries[0].get("unit") or ""
        ax.set(title=entries[0]["label"], xlabel=key, ylabel=unit)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_aggregate(folder: Path, *, study: str, title: str, preset: str, swept_keys: Sequence[str],
                    runs: Sequence[dict[str, Any]]) -> Path:
    """Write ``aggregate.json``, ``.csv``, ``.html`` (and ``.png`` when there is a figure) into ``folder``."""
    summary = summarize(runs, swept_keys)
    record = {"study": study, "title": title, "preset": preset, "swept": list(swept_keys), **summary,
              "runs": [{k: r.get(k) for k in ("run_id", "swept", "status", "error", "wall_seconds", "reader_html")}
                       for r in runs]}
    (folder / f"{AGGREGATE}.json").write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["study", *summary["grouping"], "key", "label", "unit", "n", "mean", "std", "low", "high", "study_value"])
    for group in summary["groups"]:
        for name, entry in group["metrics"].items():
            writer.writerow([study, *(group["setting"].get(k) for k in summary["grouping"]), name, entry["label"],
                             entry["unit"], entry["n"], entry["mean"], entry["std"], entry["low"], entry["high"], entry["study"]])
    (folder / f"{AGGREGATE}.csv").write_text(out.getvalue(), encoding="utf-8")

    figure = _figure(summary)
    if figure:
        (folder / f"{AGGREGATE}.png").write_bytes(figure)
    page = folder / f"{AGGREGATE}.html"
    page.write_text(_render(record, figure), encoding="utf-8")
    return page


def _render(record: dict[str, Any], figure: bytes | None) -> str:
    esc = html.escape
    parts = [f"<h1>{esc(record['title'])}: {len(record['runs'])} runs</h1>",
             f"<p>preset {esc(record['preset'])}; swept: {esc(', '.join(record['swept']))}. Each cell is the mean over the "
             "runs with that setting and its 95% Student t interval (none for a single run).</p>"]
    for group in record["groups"]:
        setting = ", ".join(f"{k} = {v}" for k, v in group["setting"].items()) or "all runs"
        rows = "".join(
            f"<tr><td>{esc(e['label'])}</td><td>{e['n']}</td><td>{esc(_interval_text(e))}</td>"
            f"<td>{esc(format_number(e['std'], e['unit'])) if e['std'] is not None else '-'}</td>"
            f"<td>{esc(format_number(e['study'], e['unit'])) if e['study'] is not None else ''}</td></tr>"
            for e in group["metrics"].values() if e["n"]
        )
        parts.append(f"<h2>{esc(setting)}</h2><table><tr><th>metric</th><th>n</th><th>mean [95% interval]</th>"
                     f"<th>std</th><th>study</th></tr>{rows}</table>")
    if figure:
        parts.append(f'<img alt="metrics against the swept parameter" src="data:image/png;base64,{base64.b64encode(figure).decode()}">')
    if record["left_out"]:
        items = "".join(f"<li>{esc(r['run_id'])}: {esc(str(r['error']))}</li>" for r in record["left_out"])
        parts.append(f"<h2>Runs left out of the summary</h2><ul class=\"bad\">{items}</ul>")
    links = "".join(
        f'<li><a href="{RUNS_DIR}/{esc(r["run_id"], quote=True)}/{esc(r.get("reader_html") or "", quote=True)}">{esc(r["run_id"])}</a> '
        f"({esc(str(r['status']))})</li>" for r in record["runs"]
    )
    parts.append(f"<h2>Every run</h2><ul>{links}</ul>")
    style = ("body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse}td,th{padding:.3rem .7rem;border-bottom:1px solid #d0d7de;text-align:left}"
             ".bad{color:#cf222e}img{max-width:100%}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(record["title"])}: sweep</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
