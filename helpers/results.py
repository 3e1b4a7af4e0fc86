"""Stage timing and the ``metrics.json`` every notebook writes last.

``metrics.json`` holds the study, the preset, the parameters, the findings with their verdicts, the headline metrics, wall time per
stage, the device and library versions: enough to compare runs and to rebuild ``reports/index.html``.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .cache import atomic_write_text, library_versions
from .findings import as_records as finding_records
from .headline import Metric, as_records, from_records
from .paths import report_dir


class StageTimer:
    """Wall time per named stage: ``with timer.stage("train"): ...``; ``timer.seconds`` maps stage -> s."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - begun, 3)

    @property
    def wall_seconds(self) -> float:
        return round(time.perf_counter() - self.started, 3)


def _plain(value: Any) -> Any:
    """Make numpy / torch scalars and tuples JSON-friendly."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def write_metrics(
    study: str,
    *,
    title: str,
    preset: str,
    parameters: Mapping[str, Any],
    headline: Iterable[Metric] | Mapping[str, Any],
    timer: StageTimer,
    findings: Iterable[Any] = (),
    device: str,
    frameworks: tuple[str, ...] = ("torch",),
    extra: Mapping[str, Any] | None = None,
    key_figure: str | None = None,
) -> Path:
    """Write ``<report dir>/metrics.json`` atomically and return its path.

    ``headline`` is a list of ``helpers.headline.Metric`` (a plain ``{name: value}`` mapping is
    accepted and stored with the names as keys and labels).
    """
    metrics = from_records(dict(headline)) if isinstance(headline, Mapping) else list(headline)
    record = {
        "study": study,
        "title": title,
        "preset": preset,
        "parameters": _plain(parameters),
        "headline": _plain(as_records(metrics)),
        "findings": _plain(finding_records(list(findings))),
        "stage_seconds": dict(timer.seconds),
        "wall_seconds": timer.wall_seconds,
        "device": device,
        "versions": library_versions(frameworks),
        "finished_at": _dt.datetime.now().isoformat(timespec="seconds"),
        "key_figure": key_figure,
    }
    if extra:
        record["extra"] = _plain(extra)
    path = report_dir(study) / "metrics.json"
    atomic_write_text(path, json.dumps(record, indent=2, allow_nan=True))
    return path
