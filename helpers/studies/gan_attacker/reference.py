"""What the source study reports, set beside this run's numbers.

The study gives its results as approximate statements in its text (read off in this project's issue 6),
not as tables: "~20%", "near chance", "almost no transfer". ``STUDY_REFERENCE`` keeps those statements
verbatim for the final table; ``REFERENCE`` holds the ones that are numbers, in percent, keyed like the
headline metrics of ``report.headline``. Their tolerances are wide because the study's values are
approximate (a "~20%" read from prose), and each applies only at the intensity the study states it for.
"""
from __future__ import annotations

from helpers.headline import Reference

SOURCE = (
    "The generative-attacker study behind notebook 04: an encoder-decoder attacker network A trained against an "
    "MNIST classifier C1 (consecutive and alternating modes, 20 + 20 epochs on all 60,000 digits, intensities "
    "0.01 to 0.64), with a second classifier C2 measuring transfer; results stated approximately in its text"
)

STUDY_INTENSITIES = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)

# The study's approximate results, as read from its text (issue 6). They are the "study" column of the
# final table, next to the numbers this run measures; None where the study states nothing.
STUDY_REFERENCE: dict[tuple[str, float], tuple[str | None, str | None]] = {
    ("consecutive", 0.01): ("no effect (~clean)", "no effect (~clean)"),
    ("consecutive", 0.02): ("no effect (~clean)", "no effect (~clean)"),
    ("consecutive", 0.04): ("~80%", "almost no transfer (~clean)"),
    ("consecutive", 0.08): ("~20%", "~90%"),
    ("consecutive", 0.16): ("near chance (~10%)", None),
    ("consecutive", 0.32): ("near chance (~10%)", None),
    ("consecutive", 0.64): ("near chance (~10%)", None),
    ("alternating", 0.04): ("harmless (~clean)", None),
    ("alternating", 0.08): ("degrades less than consecutive", None),
}

REFERENCE_INTENSITY = 0.08
"""The intensity of the study's sharpest statement (C1 ~20%, C2 ~90%): the headline reports every mode
and PGD at the run's intensity nearest to it."""

NEAR_CHANCE_INTENSITIES = tuple(t for (mode, t), (c1, _) in STUDY_REFERENCE.items()
                                if mode == "consecutive" and c1 and c1.startswith("near chance"))
"""Intensities at which the study states C1 is attacked down to chance (0.16 and above)."""

COMPARED_INTENSITIES = (0.04, 0.08)
"""The intensities at which the study compares the consecutive and alternating modes."""

REFERENCE: dict[str, Reference] = {
    "consecutive_c1_accuracy": Reference(
        20.0, source="text, consecutive mode, t = 0.08: C1 under attack", tolerance=10.0,
        note="'~20%' after 20 + 20 epochs on 60,000 digits; applies only when the run has t = 0.08",
    ),
    "consecutive_c2_accuracy": Reference(
        90.0, source="text, consecutive mode, t = 0.08: transfer to C2", tolerance=5.0,
        note="'~90%': the perturbation barely transfers; applies only when the run has t = 0.08",
    ),
    "consecutive_c1_strongest_accuracy": Reference(
        10.0, source="text, consecutive mode, t = 0.16 to 0.64: C1 under attack", tolerance=5.0,
        note="'near chance (~10%)'; applies only when the run's largest intensity is one of 0.16, 0.32, 0.64",
    ),
}


def study_reference(mode: str, intensity: float) -> tuple[str, str]:
    """The study's approximate (C1, C2) attacked accuracy for a mode and intensity, '-' where not stated."""
    c1, c2 = STUDY_REFERENCE.get((mode, round(intensity, 4)), (None, None))
    return c1 or "-", c2 or "-"


STUDY_C1_PERCENT: dict[tuple[str, float], float] = {
    ("consecutive", 0.04): 80.0,
    ("consecutive", 0.08): 20.0,
    ("consecutive", 0.16): 10.0,
    ("consecutive", 0.32): 10.0,
    ("consecutive", 0.64): 10.0,
}
"""The study's C1 statements read as numbers (percent): '~80%', '~20%', 'near chance (~10%)'. Only these are
placed against the ceilings measured on our C1; 'no effect' and 'degrades less' are not numbers."""


def study_c1_percent(mode: str, intensity: float) -> float | None:
    """The study's approximate C1 attacked accuracy in percent, or None where it states no number."""
    return STUDY_C1_PERCENT.get((mode, round(intensity, 4)))
