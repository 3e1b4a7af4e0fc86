"""Findings: the claims a study makes, each checked against the numbers this run measured.

A ``Finding`` is a sentence (the claim), where it comes from (the source study's table, figure or section, or
``ours`` for a claim a careful evaluation adds) and nothing else; ``reference.py`` of each study lists them.
``report.findings(...)`` of the study then judges each one on this run's numbers with the checks below and
returns ``Outcome`` records: the verdict and the numbers it rests on.

A check respects the intervals of the numbers it compares: a difference that its interval does not separate
from the claim's boundary is ``NOT_SHOWN`` ("not shown at this scale"), never ``HOLDS``. Estimates are
``helpers.metrics.Interval`` (estimate, low, high); a bare number is an interval of width zero.

    >>> from helpers.metrics import Interval
    >>> exceeds(Interval(0.30, 0.27, 0.33), Interval(0.04, 0.03, 0.05), by=0.15)
    'holds'
    >>> exceeds(Interval(0.30, 0.20, 0.40), Interval(0.25, 0.15, 0.35))
    'not shown at this scale'
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

from helpers.metrics import Interval

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_SHOWN = "not shown at this scale"
STATUSES = (HOLDS, DOES_NOT_HOLD, NOT_SHOWN)


@dataclass(frozen=True)
class Finding:
    """A claim about the studied system, and where it is stated (``source``: author, table/figure/section)."""

    key: str
    claim: str
    source: str
    ours: bool = False  # a claim this collection's evaluation makes (adaptive attacks, ceilings), not the study's

    def judge(self, status: str, evidence: str, *, measured: str = "") -> "Outcome":
        """This finding's verdict on this run; ``evidence`` names the numbers it rests on.

        ``measured`` is, for a claim the run contradicts, what the run found instead (shown beside the claim).
        """
        if status not in STATUSES:
            raise ValueError(f"a finding's status is one of {STATUSES}, got {status!r}")
        return Outcome(self.key, self.claim, self.source, self.ours, status, evidence, measured)


@dataclass(frozen=True)
class Outcome:
    key: str
    claim: str
    source: str
    ours: bool
    status: str
    evidence: str
    measured: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "Outcome":
        names = {"key", "claim", "source", "ours", "status", "evidence", "measured"}
        values = {k: record.get(k, "") for k in names}
        values["ours"] = bool(record.get("ours", False))
        return cls(**{k: (v if k == "ours" else str(v)) for k, v in values.items()})


def as_interval(value: Interval | float | int) -> Interval:
    """A bare number as an interval of width zero; an ``Interval`` with undefined (NaN) bounds likewise."""
    if isinstance(value, Interval):
        low = value.low if math.isfinite(value.low) else value.estimate
        high = value.high if math.isfinite(value.high) else value.estimate
        return Interval(float(value.estimate), float(low), float(high))
    return Interval(float(value), float(value), float(value))


def _half_width(value: Interval) -> float:
    return max(value.estimate - value.low, value.high - value.estimate, 0.0)


def exceeds(a: Interval | float, b: Interval | float, *, by: float = 0.0) -> str:
    """Whether ``a - b > by``, judged on the difference's interval (the two half-widths added in quadrature)."""
    a, b = as_interval(a), as_interval(b)
    difference = a.estimate - b.estimate
    half = math.hypot(_half_width(a), _half_width(b))
    if difference - half > by:
        return HOLDS
    if difference + half <= by:
        return DOES_NOT_HOLD
    return NOT_SHOWN


def at_most(a: Interval | float, bound: float) -> str:
    """Whether ``a <= bound``: holds when the whole interval is at or under it, fails when it is all above."""
    a = as_interval(a)
    if a.high <= bound:
        return HOLDS
    if a.low > bound:
        return DOES_NOT_HOLD
    return NOT_SHOWN


def at_least(a: Interval | float, bound: float) -> str:
    """Whether ``a >= bound`` on ``a``'s interval."""
    a = as_interval(a)
    if a.low >= bound:
        return HOLDS
    if a.high < bound:
        return DOES_NOT_HOLD
    return NOT_SHOWN


def within(a: Interval | float, b: Interval | float, *, tolerance: float) -> str:
    """Whether ``|a - b| <= tolerance``: the difference's interval inside the band holds, outside it fails."""
    a, b = as_interval(a), as_interval(b)
    difference = a.estimate - b.estimate
    half = math.hypot(_half_width(a), _half_width(b))
    if abs(difference) + half <= tolerance:
        return HOLDS
    if abs(difference) - half > tolerance:
        return DOES_NOT_HOLD
    return NOT_SHOWN


def all_of(*statuses: str) -> str:
    """Every part holds -> holds; any part fails -> does not hold; otherwise not shown."""
    if any(s == DOES_NOT_HOLD for s in statuses):
        return DOES_NOT_HOLD
    if statuses and all(s == HOLDS for s in statuses):
        return HOLDS
    return NOT_SHOWN


def any_of(*statuses: str) -> str:
    """One part holds -> holds; every part fails -> does not hold; otherwise (or no part at all) not shown."""
    if any(s == HOLDS for s in statuses):
        return HOLDS
    if statuses and all(s == DOES_NOT_HOLD for s in statuses):
        return DOES_NOT_HOLD
    return NOT_SHOWN


def percent(value: Interval | float | None) -> str:
    """A fraction (or an interval of fractions) as ``30.2% (27.4-33.1)`` for the evidence column."""
    from helpers.formatting import format_interval

    return format_interval(value, scale=100, unit="%")


def counts(outcomes: Iterable[Outcome]) -> dict[str, int]:
    tally = {s: 0 for s in STATUSES}
    for outcome in outcomes:
        tally[outcome.status] = tally.get(outcome.status, 0) + 1
    return tally


def as_records(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    keys = [o.key for o in outcomes]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"finding {duplicated[0]!r} judged twice")
    return [o.as_dict() for o in outcomes]


def from_records(records: Any) -> list[Outcome]:
    if not isinstance(records, list):
        return []
    return [Outcome.from_dict(r) for r in records if isinstance(r, Mapping) and r.get("status") in STATUSES]


def _cell(text: str) -> str:
    """The project's own text in a table cell: one line, no column break."""
    return " ".join(str(text).splitlines()).replace("|", "\\|")


def findings_markdown(outcomes: Sequence[Outcome]) -> str:
    """The findings as a Markdown table: claim (with its source), verdict, the numbers it rests on.

    Claims, sources and evidence are the study package's own text (a study escapes any foreign string, such
    as a class name, with ``helpers.formatting.escape_markdown`` before it puts it into the evidence)."""
    lines = ["| finding | source | this run | rests on |", "|---|---|---|---|"]
    for o in outcomes:
        claim = _cell(o.claim) + (f"<br>*this run measured:* {_cell(o.measured)}" if o.measured else "")
        source = "ours: a careful evaluation adds it" if o.ours else _cell(o.source)
        lines.append(f"| {claim} | {source} | **{o.status}** | {_cell(o.evidence)} |")
    return "\n".join(lines)
