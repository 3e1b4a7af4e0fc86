"""The interval-aware checks behind every finding: a difference inside its interval is never called "holds"."""
from __future__ import annotations

import pytest

from helpers.findings import (DOES_NOT_HOLD, HOLDS, NOT_SHOWN, Finding, all_of, any_of, at_least, at_most, exceeds,
                              from_records, within)
from helpers.metrics import Interval


def test_exceeds_needs_the_difference_beyond_its_interval():
    assert exceeds(Interval(0.30, 0.27, 0.33), Interval(0.04, 0.03, 0.05), by=0.15) == HOLDS
    assert exceeds(Interval(0.30, 0.20, 0.40), Interval(0.25, 0.15, 0.35)) == NOT_SHOWN
    assert exceeds(Interval(0.10, 0.08, 0.12), Interval(0.30, 0.28, 0.32)) == DOES_NOT_HOLD
    assert exceeds(0.3, 0.1, by=0.1) == HOLDS  # bare numbers: intervals of width zero


def test_bounds_and_bands():
    assert at_most(Interval(0.3, 0.25, 0.35), 0.4) == HOLDS and at_most(Interval(0.3, 0.25, 0.45), 0.4) == NOT_SHOWN
    assert at_most(Interval(0.6, 0.5, 0.7), 0.4) == DOES_NOT_HOLD
    assert at_least(Interval(0.9, 0.85, 0.95), 0.8) == HOLDS and at_least(Interval(0.5, 0.4, 0.6), 0.8) == DOES_NOT_HOLD
    assert within(0.22, 0.20, tolerance=0.05) == HOLDS and within(0.9, 0.2, tolerance=0.1) == DOES_NOT_HOLD
    assert at_most(Interval(0.3, float("nan"), float("nan")), 0.4) == HOLDS  # one seed: no interval, the point


def test_combinations():
    assert all_of(HOLDS, HOLDS) == HOLDS and all_of(HOLDS, NOT_SHOWN) == NOT_SHOWN and all_of(HOLDS, DOES_NOT_HOLD) == DOES_NOT_HOLD
    assert any_of(NOT_SHOWN, HOLDS) == HOLDS and any_of(DOES_NOT_HOLD, DOES_NOT_HOLD) == DOES_NOT_HOLD
    assert any_of() == NOT_SHOWN and all_of() == NOT_SHOWN


def test_outcomes_round_trip_and_refuse_unknown_statuses():
    finding = Finding("k", "a claim", "Author, Table 1")
    outcome = finding.judge(DOES_NOT_HOLD, "30% (25-35)", measured="it did not")
    assert from_records([outcome.as_dict(), {"status": "maybe"}]) == [outcome]
    with pytest.raises(ValueError):
        finding.judge("maybe", "")
