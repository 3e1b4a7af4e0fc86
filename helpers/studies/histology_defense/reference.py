"""The numbers the source study reports (summarized in the project's issue 3). They are not measured
here: they appear only in columns labelled "study" and beside our headline metrics.

The study tuned ART's pre-processors and post-processors (and LightGBM on the softmax outputs) for a fixed
colorectal-histology CNN by the harmonic mean of clean and adversarial accuracy, on its own sample of
6,929 clean and 22,228 adversarial images (44% clean).
"""
from __future__ import annotations

from helpers.headline import Reference
from helpers.metrics import harmonic_mean

SOURCE = (
    "The source study of issue 3: defending a fixed colorectal-histology CNN (four tissue groups) with ART's "
    "pre-processors and post-processors plus LightGBM on the softmax outputs, scored by the harmonic mean of "
    "clean and adversarial accuracy on 6,929 clean and 22,228 adversarial images"
)

#: Clean / adversarial accuracy of the best setting of each pre-processor, and the best value.
STUDY_PREPROCESSORS = {
    "spatial_smoothing": {"clean": 0.97, "adversarial": 0.50, "best_value": 6},
    "jpeg": {"clean": 0.93, "adversarial": 0.60, "best_value": 22},
    "feature_squeezing": {"clean": 1.00, "adversarial": 0.30, "best_value": None},
    "total_variation": {"clean": None, "adversarial": None, "best_value": None},
}
#: LightGBM settings the study chose.
STUDY_LIGHTGBM = {"learning_rate": 0.1, "num_leaves": 81, "n_estimators": 50, "validation_split": 0.2}
#: Results table on the study's sample (44% clean / 56% adversarial): model, pre-processed and post-processed accuracy.
STUDY_MODEL_ACCURACY = 0.4405
STUDY_TABLE = {
    ("spatial_smoothing", "high_confidence"): (0.4405, 0.6256, 0.6411),
    ("spatial_smoothing", "lightgbm"): (0.4405, 0.6256, 0.9339),
    ("jpeg", "high_confidence"): (0.4405, 0.7225, 0.7319),
    ("jpeg", "lightgbm"): (0.4405, 0.7225, 0.8634),
}
#: Final evaluation (the study scored LightGBM on all images, its training images included).
STUDY_FINAL = {"clean_correct": 6368, "clean_total": 6929, "adversarial_correct": 17369, "adversarial_total": 22228, "harmonic": 0.8446}


def _preprocessor_harmonic(name: str) -> float:
    """The harmonic mean of the study's clean and adversarial accuracy at its best setting, in percent."""
    ref = STUDY_PREPROCESSORS[name]
    return round(100 * harmonic_mean(ref["clean"], ref["adversarial"]), 2)


#: Our headline keys -> the study's value (percent) and where it gives it.
REFERENCE = {
    "undefended_accuracy": Reference(
        round(100 * STUDY_MODEL_ACCURACY, 2), source="Results table, column model accuracy (every row)", tolerance=5.0,
        note="the clean share of the study's mix (the undefended model is right on clean and wrong on adversarial "
             "images by construction); ours follows from the attack mix and the attacks' success rates",
    ),
    "spatial_smoothing_harmonic": Reference(
        _preprocessor_harmonic("spatial_smoothing"), source="Pre-processor results, spatial smoothing (best window 6): 97% clean / 50% adversarial",
        tolerance=5.0, note="harmonic mean computed here from the study's clean and adversarial accuracy",
    ),
    "jpeg_harmonic": Reference(
        _preprocessor_harmonic("jpeg"), source="Pre-processor results, JPEG compression (best quality 22): 93% clean / 60% adversarial",
        tolerance=5.0, note="harmonic mean computed here from the study's clean and adversarial accuracy",
    ),
    "final_harmonic_all_images": Reference(
        round(100 * STUDY_FINAL["harmonic"], 2), source="Final evaluation, harmonic mean (6368/6929 clean, 17369/22228 adversarial)",
        tolerance=5.0, note="scored on every image, LightGBM's training images included",
    ),
}
