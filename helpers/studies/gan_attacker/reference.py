"""What the source study reports, set beside this run's numbers, and the claims the run checks.

The study gives its results as approximate statements in its text (Section 3), not as tables: "about 20%",
"hardly better than guessing randomly", "stays almost unchanged". ``STUDY_REFERENCE`` keeps those statements
for the final table; ``REFERENCE`` holds the ones that are numbers, in percent, keyed like the headline metrics of
``report.headline``. Their tolerances are wide because the study's values are approximate, and each applies
only at the intensity the study states it for. ``FINDINGS`` are the claims ``report.findings`` judges.
"""
from __future__ import annotations

from helpers.findings import Finding
from helpers.headline import Reference

SOURCE = (
    'Johannes Heidecke, "DL autonomous lab: Defending and attacking convolutional image classifiers with generative '
    'adversarial training" (November 2017): an encoder-decoder attacker network A trained against an MNIST classifier C1 '
    "(consecutive and alternating modes, 20 + 20 epochs on all 60,000 digits, intensities 0.01 to 0.64), with a second "
    "classifier C2 measuring transfer; results stated approximately in its text (Section 3)"
)

PROTOCOL_PRESETS = ("full",)
"""The full preset follows the study's protocol (its architecture, widths, epochs, digits and intensities)."""

STUDY_INTENSITIES = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)

# The study's approximate results, as read from its Section 3 (Figures 3, 5 and 6 and the text around them). They
# are the "study" column of the final table, next to the numbers this run measures; None where it states nothing.
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
        20.0, source="Section 3.2 (Figure 3a), consecutive mode, t = 0.08: C1 under attack", tolerance=10.0,
        note="'~20%' after 20 + 20 epochs on 60,000 digits; applies only when the run has t = 0.08",
    ),
    "consecutive_c2_accuracy": Reference(
        90.0, source="Section 3.2 (Figure 3b), consecutive mode, t = 0.08: transfer to C2", tolerance=5.0,
        note="'~90%': the perturbation barely transfers; applies only when the run has t = 0.08",
    ),
    "consecutive_c1_strongest_accuracy": Reference(
        10.0, source="Section 3.2 (Figure 3a), consecutive mode, t = 0.16 to 0.64: C1 under attack", tolerance=5.0,
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


FINDINGS: tuple[Finding, ...] = (
    Finding("c1_falls_at_008",
            "Trained against the frozen C1 at t = 0.08, the attacker brings C1's accuracy down to about 20% (judged: within 10 points).",
            "Heidecke, Section 3.2 (Figure 3a)"),
    Finding("alternating_resists",
            "Alternating training makes C1 resist its attacker: C1 trained in turns with A is more accurate under A than the "
            "frozen C1 under its own A (judged at the shared intensity nearest 0.08).",
            "Heidecke, Section 3.3 (Figures 5 and 6b)"),
    Finding("little_transfer",
            "A's attacks transfer little: on the same attacked digits the unseen C2 loses at most half the accuracy C1 loses "
            "(judged at the largest intensity).",
            "Heidecke, Section 3.2 (Figure 3b)"),
    Finding("between_ceilings",
            "The learned attacker sits between its two ceilings at the largest intensity: stronger than the best universal "
            "perturbation (one pattern for all digits), weaker than converged white-box PGD.",
            "this collection's evaluation: both ceilings measured on the same digits and budget", ours=True),
)
