"""Headline metrics: the few numbers a study run stands for, each beside the source study's value.

A ``Metric`` has a stable ``key`` (the same at every preset and seed, so runs can be compared and
aggregated; parameter values such as the budget go into ``detail``, never into the key), a human
``label``, a ``unit`` and, where the source study reports the same quantity, the study's value with
where in the study it comes from. Accuracies are reported in percent (``unit="%"``), as studies print them.

    >>> reference = {"pgd_accuracy": Reference(3.24, "Table 2, natural model", tolerance=5)}
    >>> m = metric("pgd_accuracy", "PGD accuracy", 0.031, unit="%", reference=reference, eps=8 / 255)
    >>> m.value, m.study, m.reproduced
    (3.1, 3.24, True)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Reference:
    """A number the source study reports, in the unit of the matching metric.

    ``tolerance`` is how far ours may be from it (same unit) and still count as reproduced; ``source``
    says where the study gives it (table, figure, section).
    """

    value: float
    source: str
    tolerance: float = 5.0
    note: str = ""


@dataclass
class Metric:
    key: str
    label: str
    value: Any
    unit: str = ""
    study: float | None = None
    study_source: str = ""
    tolerance: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    comparable: bool = True  # the run followed the study's protocol for this number (see ``at_preset``)

    @property
    def reproduced(self) -> bool | None:
        """Whether ours is within the tolerance of the study's value; None when there is nothing to compare
        or when the run did not follow the study's protocol (then the two numbers measure different things)."""
        if not self.comparable or self.study is None or self.tolerance is None or not _is_number(self.value):
            return None
        return abs(float(self.value) - float(self.study)) <= self.tolerance

    def at_preset(self, preset: str, protocol_presets: Iterable[str]) -> "Metric":
        """This metric as a run at ``preset`` may show it.

        At a preset that follows the study's protocol (``protocol_presets``, from the study's ``reference.py``)
        the study's value is a yardstick and gets a verdict. At any other preset it is shown as the study's
        number at its own scale, without a verdict; at the smoke preset, whose numbers mean nothing, not at all.
        """
        if preset in set(protocol_presets):
            return replace(self, comparable=True)
        if preset == "smoke":
            return replace(self, study=None, study_source="", tolerance=None, comparable=False)
        return replace(self, comparable=False)

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["reproduced"] = self.reproduced
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "Metric":
        names = {"key", "label", "value", "unit", "study", "study_source", "tolerance", "detail", "comparable"}
        return cls(**{k: v for k, v in record.items() if k in names})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric(
    key: str,
    label: str,
    value: Any,
    *,
    unit: str = "",
    reference: Mapping[str, Reference] | None = None,
    **detail: Any,
) -> Metric:
    """A headline metric; with ``unit="%"`` a fraction in [0, 1] is stored as a percentage.

    ``reference`` is the study's ``REFERENCE`` mapping: the entry under ``key``, if any, becomes the
    study's value beside ours. Keyword arguments are the metric's metadata (budget, steps, sizes).
    """
    if not key.isidentifier():
        raise ValueError(f"metric key must be a plain identifier (values belong in the detail), got {key!r}")
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if unit == "%" and _is_number(value):
        value = round(100.0 * float(value), 4)
    ref = (reference or {}).get(key)
    return Metric(
        key, label, value, unit,
        study=ref.value if ref else None,
        study_source=ref.source if ref else "",
        tolerance=ref.tolerance if ref else None,
        detail={k: (v.item() if hasattr(v, "item") else v) for k, v in detail.items()},
    )


def as_records(metrics: Iterable[Metric]) -> list[dict[str, Any]]:
    """Metrics as JSON-ready dicts; duplicate keys are an error (a key names one quantity)."""
    records, seen = [], set()
    for m in metrics:
        if m.key in seen:
            raise ValueError(f"headline metric {m.key!r} given twice")
        seen.add(m.key)
        records.append(m.as_dict())
    return records


def from_records(records: Any) -> list[Metric]:
    """Metrics read back from ``metrics.json``; an older ``{name: value}`` headline is read too."""
    if isinstance(records, Mapping):
        return [Metric(key=str(k), label=str(k), value=v) for k, v in records.items()]
    if not isinstance(records, list):
        return []
    return [Metric.from_dict(r) for r in records if isinstance(r, Mapping) and "key" in r]


def verdict(m: Metric) -> str:
    """"reproduced", "not reproduced", "the study's, at its scale" (a run off the study's protocol) or ""."""
    if m.reproduced is None:
        return "the study's, at its scale" if m.study is not None and not m.comparable else ""
    return "reproduced" if m.reproduced else "not reproduced"
