"""The numbers and claims of the source study. The numbers are not measured here: they appear only in columns
labelled "study" and beside our headline metrics. The claims (``FINDINGS``) are judged on every run's numbers by
``report.findings``.

The study tuned ART's pre-processors and post-processors (and LightGBM on the softmax outputs) for a fixed
colorectal-histology CNN by the harmonic mean of clean and adversarial accuracy, on its own sample of
6,929 clean and 22,228 adversarial images (44% clean).
"""
from __future__ import annotations

from helpers.findings import Finding
from helpers.headline import Reference
from helpers.metrics import harmonic_mean

SOURCE = (
    'Tey Shiwei, "Defending Adversarial Attacks against CNN", course project, CS5260 Neural Networks and Deep Learning II: '
    "a fixed colorectal-histology CNN (four tissue groups) defended with ART's pre-processors and post-processors plus "
    "LightGBM on the softmax outputs, scored by the harmonic mean of clean and adversarial accuracy on 6,929 clean and "
    "22,228 adversarial images"
)

#: The presets whose protocol follows the study's (its scale, its CNN and data set), where numbers are compared.
PROTOCOL_PRESETS = ("full",)

#: The study's claims (``ours=False``) and the ones a careful evaluation adds (``ours=True``), judged by ``report.findings``.
FINDINGS = (
    Finding("smoothing_best_preprocessor",
            "Spatial smoothing (a median filter) is the best of ART's pre-processors by the harmonic mean of clean and "
            "adversarial accuracy.",
            "Tey, Section 'Experimental Study, Pre-processor' (Figures 2 and 3) and the closing summary: spatial smoothing chosen"),
    Finding("lightgbm_raises_harmonic",
            "LightGBM trained on the pre-processed CNN's softmax outputs, as a post-processor, raises the harmonic mean "
            "over the pre-processor alone.",
            "Tey, Section 'Exploration Phase' (post-processors: about 10% more) and the Results table (62.56% -> 93.39%)"),
    Finding("falls_to_bpda",
            "The chosen defense falls to PGD through its pre-processor (BPDA): at most half of the tiles survive.",
            "ours: Athalye, Carlini and Wagner (2018), applied here", ours=True),
    Finding("falls_to_end_to_end",
            "The chosen defense falls to the end-to-end attack through a surrogate of LightGBM: at most half of the tiles survive.",
            "ours: a differentiable stand-in for the tree ensemble", ours=True),
    Finding("lightgbm_gain_does_not_survive",
            "Against an attacker who goes through it, LightGBM adds nothing: in the worst case over the three attacks, the "
            "final pre-processor with LightGBM keeps no more of the tiles than the pre-processor alone.",
            "ours: the study's LightGBM finding under the adaptive attacks", ours=True),
    Finding("adaptive_attacks_converged",
            "The adaptive attacks have converged: doubling their steps lowers the defense's accuracy by less than the "
            "half-width of its 95% interval.",
            "ours: a check on the attacks behind the two findings above", ours=True),
    Finding("hopskipjump_agrees",
            "HopSkipJump, from the pipeline's answers alone, agrees with the gradient attacks: it breaks at most 5% of the "
            "tiles that all three of them left standing, so their numbers are not an artefact of misleading gradients.",
            "ours: a gradient-free check on BPDA's and the surrogate's gradients", ours=True),
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
        round(100 * STUDY_MODEL_ACCURACY, 2), source="Tey, Results table, column model accuracy (every row)", tolerance=5.0,
        note="the clean share of the study's mix (the undefended model is right on clean and wrong on adversarial "
             "images by construction); ours follows from the attack mix and the attacks' success rates",
    ),
    "spatial_smoothing_harmonic": Reference(
        _preprocessor_harmonic("spatial_smoothing"), source="Tey, Section 'Exploration Phase' (pre-processors) and Figure 3: spatial smoothing, best window 6, 97% clean / 50% adversarial",
        tolerance=5.0, note="harmonic mean computed here from the study's clean and adversarial accuracy",
    ),
    "jpeg_harmonic": Reference(
        _preprocessor_harmonic("jpeg"), source="Tey, Section 'Exploration Phase' (pre-processors) and Figure 2: JPEG compression, best quality 22, 93% clean / 60% adversarial",
        tolerance=5.0, note="harmonic mean computed here from the study's clean and adversarial accuracy",
    ),
    "final_harmonic_all_images": Reference(
        round(100 * STUDY_FINAL["harmonic"], 2), source="Tey, Section 'Final Results': harmonic mean 0.8446 (6368/6929 clean, 17369/22228 adversarial)",
        tolerance=5.0, note="scored on every image, LightGBM's training images included",
    ),
}
