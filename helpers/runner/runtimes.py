"""The README's runtime table, regenerated from the ``run.json`` files of a real run.

    python -m helpers.runner.runtimes                 # print the table for the reports root
    python -m helpers.runner.runtimes --update README.md

Each row is one study in the reports root: the preset it ran at, its status, its measured wall time
(kernel start included) and the device ``metrics.json`` recorded. ``--update`` replaces the block
between ``<!-- runtimes:start -->`` and ``<!-- runtimes:end -->`` and leaves the rest of the file alone,
so the README states no runtime that no run measured.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from helpers import paths
from helpers.formatting import format_date, format_seconds
from helpers.runner.index import collect_rows

START, END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"


def runtime_table(reports_root: Path) -> str:
    rows = collect_rows(reports_root)
    lines = ["| study | preset | status | wall time | device | measured |", "|---|---|---|---|---|---|"]
    for r in rows:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['error'].split('. ')[0][:120]}"
        lines.append(
            f"| `{r['number']}_{r['study']}` | {r['preset']} | {status} | {format_seconds(r['wall_seconds'])} "
            f"| {r['device']} | {format_date(r['finished_at'])} |"
        )
    return "\n".join(lines)


def update(document: Path, table: str) -> None:
    text = document.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{document} has no {START} ... {END} block")
    document.write_text(pattern.sub(lambda _: f"{START}\n{table}\n{END}", text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.runner.runtimes", description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=None, help="reports root (default: $ADVLAB_REPORTS or reports/)")
    parser.add_argument("--update", type=Path, metavar="FILE", help="rewrite the runtime block of FILE (the README)")
    args = parser.parse_args(argv)
    table = runtime_table(args.reports or paths.reports_root())
    if args.update:
        update(args.update, table)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
