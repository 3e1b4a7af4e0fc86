"""What the source study reports, beside which our numbers are shown, and the claims this run checks.

"study" is Lu Wang and Shuo Zhang's reproduction of Alshemali, Graham and Kalita, "Toward robust image
classification" (2019); "paper" is the original, whose values that reproduction gives in parentheses. Its
Table 1 is the undefended accuracy on the mixed sets, Table 2 the hybrid detector's confusion counts, Table 3
the images the detector labels clean. Nothing here is measured by this project.

Which BIM the study ran: it does not say, but its BIM row is most likely Feinman et al.'s BIM-A (stop each
digit as soon as it is misclassified), which is the variant its detector follows. Its BIM digits fool the
undefended model almost always (49.6% accuracy on a 50/50 set) *and* are caught 96.5% of the time, more often
than its FGSM digits (92.9%): digits left just past the decision boundary are exactly where dropout passes
disagree. BIM-B (fixed iterations) pushes digits far past the boundary, where the model is confidently
wrong and the dropout passes agree, which makes them harder to detect than FGSM, not easier. So the study's
BIM numbers sit under our BIM-A keys; BIM-B is reported beside them without a study value.
"""
from __future__ import annotations

from helpers.findings import Finding
from helpers.headline import Reference

SOURCE = (
    'Lu Wang and Shuo Zhang, "Reproducing \'Toward Robust Image Classification\'" (the "study"), a reproduction of '
    'Alshemali, Graham and Kalita, "Toward robust image classification" (2019; the "paper"): LeNet with MC-dropout '
    'uncertainty and crop-and-resize voting against FGSM, BIM and JSMA'
)

#: Numeric verdicts beside the study's values only where the run follows its protocol (10,000-image mixed sets).
PROTOCOL_PRESETS = ("full",)

#: Largest fraction of clean digits the detector may reject for "few false positives": the study's worst
#: case is 194 of 4,960 clean FGSM digits (3.9%, Table 2).
CLEAN_REJECTION_BOUND = 0.05
#: "Falls to the adaptive attack": at least this fraction of its adversarial digits pass and fool.
ADAPTIVE_BOUND = 0.5

FINDINGS: tuple[Finding, ...] = (
    Finding("hybrid_beats_crops_on_bim",
            "On BIM digits the hybrid detector is more accurate than crop-and-resize voting alone.",
            "Section 6 (the hybrid beats the preprocessing-based defense of Graese et al.); Table 2, row BIM"),
    Finding("uncertainty_flags_fgsm",
            "MC-dropout uncertainty is higher for FGSM digits than for clean ones: a threshold on it alone flags most "
            "FGSM digits and fewer clean ones.",
            "Section 2 and Figure 1 (uncertainty distributions of clean and adversarial MNIST digits)"),
    Finding("few_clean_rejected",
            f"The hybrid detector rejects few clean digits: at most {100 * CLEAN_REJECTION_BOUND:.0f}% of them for "
            "each of FGSM, BIM and JSMA.",
            "Table 2 (false positives: 194, 28 and 66 of about 4,960 clean digits) and Table 3"),
    Finding("falls_to_adaptive_attack",
            f"An attacker who knows the detector (a margin loss over the dropout passes) gets at least "
            f"{100 * ADAPTIVE_BOUND:.0f}% of its digits past the deployed detector and misclassified, more than BIM-A does.",
            "Carlini and Wagner, \"Adversarial examples are not easily detected\" (2017)", ours=True),
)

#: Undefended accuracy on the 50/50 mixed sets (Table 1).
REFERENCE_UNDEFENDED = {
    "study": {"fgsm": 0.585, "bim": 0.496, "jsma": 0.511},
    "paper": {"fgsm": 0.590, "bim": 0.500, "jsma": 0.520},
}
#: Hybrid detector confusion counts and accuracy on the mixed sets (Table 2).
REFERENCE_DETECTION = {
    "study": {
        "fgsm": {"fn": 515, "fp": 194, "tn": 4766, "tp": 4445, "accuracy": 0.929},
        "bim": {"fn": 323, "fp": 28, "tn": 4928, "tp": 4633, "accuracy": 0.965},
        "jsma": {"fn": 116, "fp": 66, "tn": 4893, "tp": 4843, "accuracy": 0.982},
    },
    "paper": {
        "fgsm": {"fn": 252, "fp": 134, "tn": 4796, "tp": 4725, "accuracy": 0.961},
        "bim": {"fn": 249, "fp": 104, "tn": 4826, "tp": 4728, "accuracy": 0.964},
        "jsma": {"fn": 85, "fp": 74, "tn": 4856, "tp": 4892, "accuracy": 0.983},
    },
}
#: Among images labeled clean (Table 3): fractions clean-correct / clean-incorrect / adv-correct / adv-incorrect
#: and reclassification accuracy, the study's and, in parentheses there, the paper's.
REFERENCE_LABELED_CLEAN = {
    "study": {
        "fgsm": {"clean_correct": 0.958, "clean_incorrect": 0.0, "adv_correct": 0.002, "adv_incorrect": 0.039, "accuracy": 0.961},
        "bim": {"clean_correct": 0.993, "clean_incorrect": 0.0, "adv_correct": 0.0, "adv_incorrect": 0.006, "accuracy": 0.994},
        "jsma": {"clean_correct": 0.986, "clean_incorrect": 0.0, "adv_correct": 0.011, "adv_incorrect": 0.002, "accuracy": 0.998},
    },
    "paper": {
        "fgsm": {"clean_correct": 0.973, "clean_incorrect": 0.0, "adv_correct": 0.017, "adv_incorrect": 0.010, "accuracy": 0.990},
        "bim": {"clean_correct": 0.978, "clean_incorrect": 0.0, "adv_correct": 0.012, "adv_incorrect": 0.001, "accuracy": 0.990},
        "jsma": {"clean_correct": 0.985, "clean_incorrect": 0.0, "adv_correct": 0.014, "adv_incorrect": 0.001, "accuracy": 0.999},
    },
}
#: The LeNet's clean test accuracy as the study states it (Section 5: 98%).
REFERENCE_CLEAN_ACCURACY = 0.98
MISSING = "–"

_TITLES = {"fgsm": "FGSM", "bim": "BIM", "jsma": "JSMA"}
#: Our headline key prefix for each of the study's rows.
_KEYS = {"fgsm": "fgsm", "bim": "bim_a", "jsma": "jsma"}

#: Other papers' numbers the prose compares with (not the study's, so not in ``REFERENCE``).
#: Madry et al. (2018): white-box PGD accuracy of their PGD-trained MNIST model at eps 0.3 (89-92%,
#: depending on the attack); Carlini and Wagner (2017): success of their attack on a dropout-uncertainty
#: detector on MNIST (about 98%).
MADRY_PGD_ACCURACY = (0.89, 0.92)
CARLINI_WAGNER_SUCCESS = 0.98


def _percent(fraction: float) -> float:
    return round(100 * fraction, 1)


def _detection(attack: str) -> Reference:
    paper = REFERENCE_DETECTION["paper"][attack]["accuracy"]
    variant = " (most likely BIM-A)" if attack == "bim" else ""
    return Reference(_percent(REFERENCE_DETECTION["study"][attack]["accuracy"]), source=f"Table 2, row {_TITLES[attack]}{variant}",
                     tolerance=3.0, note=f"hybrid detector on ~10,000 mixed images; paper: {_percent(paper)}%")


def _reclassification(attack: str) -> Reference:
    paper = REFERENCE_LABELED_CLEAN["paper"][attack]["accuracy"]
    variant = " (most likely BIM-A)" if attack == "bim" else ""
    return Reference(_percent(REFERENCE_LABELED_CLEAN["study"][attack]["accuracy"]), source=f"Table 3, row {_TITLES[attack]}{variant}",
                     tolerance=3.0, note=f"accuracy on the images the detector labels clean; paper: {_percent(paper)}%")


#: The study's values under our headline keys, in the metrics' units (accuracies in percent).
REFERENCE: dict[str, Reference] = {
    "clean_accuracy": Reference(_percent(REFERENCE_CLEAN_ACCURACY), source="Section 5 (LeNet with dropout 0.5: 98% on clean digits)", tolerance=2.0,
                                note="LeNet with dropout, dropout off at test time"),
    **{f"{_KEYS[attack]}_detection_accuracy": _detection(attack) for attack in _TITLES},
    **{f"{_KEYS[attack]}_reclassification_accuracy": _reclassification(attack) for attack in _TITLES},
}
