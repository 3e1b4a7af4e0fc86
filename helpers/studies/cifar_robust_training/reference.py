"""The study this notebook follows: its numbers beside ours, and its claims (with the ones we add) as findings.

The source is a student report that trained torchvision's MobileNetV3-small from scratch on CIFAR-10 (200
epochs, learning rate 0.001) and defended it with PGD adversarial training, a denoising autoencoder stacked one
to four times behind Gaussian input noise, and the prototype conformity loss. Its numbers are quoted from the
report, each with its section or table; they are never measured here. The report does not state its attack
budget, its optimizer or how many test images it used. ``REFERENCE_MODELS`` and ``REFERENCE_DENOISER`` are its
two result tables as fractions (the "study" columns of our tables); ``REFERENCE`` holds the same numbers in
percent under our headline keys; ``FINDINGS`` lists the claims ``report.findings`` judges on every run.
"""
from __future__ import annotations

from helpers.findings import Finding
from helpers.headline import Reference

SOURCE = (
    'Brahim Driss, Ahmed Choukarah, Mikail Duzenli, "Training robust neural networks", Data Science Project, '
    "Assignment 3, December 20, 2021: MobileNetV3-small trained from scratch on CIFAR-10, defended with PGD "
    "adversarial training, stacked denoising autoencoders behind input noise and the prototype conformity loss "
    "of Mustafa et al. (ICCV 2019)"
)

#: The presets whose protocol follows the study's (all training images, its epochs, every test image).
PROTOCOL_PRESETS = ("full",)

#: Shown where the study has no number.
MISSING = "–"

#: The study's model numbers: accuracy (fraction) of each trained model, natural and under attack (the report
#: does not state the budget): Section 3.1.2 (natural), the table of Section 3.3.1 (PGD adversarial training)
#: and Section 3.3.3 (PCL).
REFERENCE_MODELS = {
    "natural": {"natural": 0.7773, "fgsm": 0.0957, "pgd": 0.0324},
    "pgd_at": {"natural": 0.6253, "fgsm": 0.106, "pgd": 0.3428},   # the authors suspected a bug in their FGSM number
    "pcl": {"natural": 0.6211, "attacked": 0.4113},                  # the attack is not named
}
#: The study's Table 1 (Section 3.3.2): (natural, FGSM) accuracy by (stacked layers, input noise).
REFERENCE_DENOISER = {
    (0, False): (0.7773, 0.0957), (1, False): (0.7010, 0.0966), (1, True): (0.7138, 0.3544),
    (2, True): (0.6826, 0.449), (3, True): (0.6728, 0.490), (4, True): (0.6572, 0.5332),
}
#: The study's best denoiser configuration (highest FGSM accuracy): noise + 4 autoencoders.
BEST_DENOISER = max(
    (config for config in REFERENCE_DENOISER if config[1] and config[0] > 0), key=lambda c: REFERENCE_DENOISER[c][1]
)


def _percent(fraction: float) -> float:
    return round(100 * fraction, 2)


_NATURAL = "Section 3.1.2, natural training (200 epochs)"
_PGD_AT = "Section 3.3.1, table (PGD adversarial training, 100 epochs)"
_PCL = "Section 3.3.3, PCL (50 + 100 epochs)"
_DENOISER = "Table 1 (Section 3.3.2)"

REFERENCE = {
    "natural_accuracy": Reference(
        _percent(REFERENCE_MODELS["natural"]["natural"]), f"{_NATURAL}, natural accuracy", tolerance=5.0),
    "natural_fgsm_accuracy": Reference(
        _percent(REFERENCE_MODELS["natural"]["fgsm"]), f"{_NATURAL}, FGSM accuracy", tolerance=3.0),
    "natural_pgd_accuracy": Reference(
        _percent(REFERENCE_MODELS["natural"]["pgd"]), f"{_NATURAL}, PGD accuracy", tolerance=3.0),
    "pgd_at_natural_accuracy": Reference(
        _percent(REFERENCE_MODELS["pgd_at"]["natural"]), f"{_PGD_AT}, natural accuracy",
        tolerance=5.0),
    "pgd_at_pgd_accuracy": Reference(
        _percent(REFERENCE_MODELS["pgd_at"]["pgd"]), f"{_PGD_AT}, PGD accuracy", tolerance=5.0),
    "denoiser_fgsm_accuracy": Reference(
        _percent(REFERENCE_DENOISER[BEST_DENOISER][1]),
        f"{_DENOISER}, noise + {BEST_DENOISER[0]} autoencoders (its best), FGSM accuracy", tolerance=5.0,
        note="FGSM crafted on the bare classifier and fed through the defense (transfer)"),
    "pcl_natural_accuracy": Reference(
        _percent(REFERENCE_MODELS["pcl"]["natural"]), f"{_PCL}, natural accuracy",
        tolerance=5.0),
    "pcl_pgd_accuracy": Reference(
        _percent(REFERENCE_MODELS["pcl"]["attacked"]), f"{_PCL}, attacked accuracy",
        tolerance=5.0, note="the report does not name the attack; ours is PGD"),
}


#: How far above the natural model "well above" is, in accuracy (the study's gains were 31 to 44 points).
GAIN = 0.10
#: The most a defense may keep above the natural model under the stronger attack for its gain to count as gone.
VANISHED = 0.05

FINDINGS = (
    Finding("pgd_at_raises_pgd_accuracy",
            "PGD adversarial training raises PGD accuracy well above (by more than 10 points) the naturally trained model's.",
            "Section 3.3.1, table: PGD accuracy 3.24% natural, 34.28% adversarially trained"),
    Finding("pgd_at_costs_clean_accuracy",
            "PGD adversarial training costs clean accuracy.",
            "Section 3.3.1, table: natural accuracy 77.73% before, 62.53% after"),
    Finding("pgd_at_fgsm_below_pgd",
            "The PGD-trained model is less accurate under FGSM than under PGD.",
            "Section 3.3.1, table: FGSM 10.6%, PGD 34.28% (the authors suspect a bug)"),
    Finding("denoiser_raises_fgsm_accuracy",
            "Input noise and stacked denoising autoencoders in front of the classifier raise FGSM accuracy well above "
            "(by more than 10 points) the undefended model's.",
            "Table 1 (Section 3.3.2): 9.57% undefended, 53.32% with noise and four autoencoders"),
    Finding("denoiser_needs_input_noise",
            "One autoencoder raises FGSM accuracy only when Gaussian noise is added before it.",
            "Table 1 (Section 3.3.2): one layer 9.66% without noise, 35.44% with noise"),
    Finding("stacking_denoisers_raises_fgsm_accuracy",
            "Stacking more autoencoders (with input noise) raises FGSM accuracy further than one.",
            "Table 1 (Section 3.3.2): 35.44% with one layer, 53.32% with four"),
    Finding("pcl_raises_attacked_accuracy",
            "Training with the prototype conformity loss raises accuracy under attack well above (by more than 10 "
            "points) the naturally trained model's.",
            "Section 3.3.3: 41.13% after attack (attack not named), against 3.24% under PGD for the natural model "
            "(Section 3.1.2)"),
    Finding("denoiser_falls_to_eot",
            "Against PGD through noise, autoencoders and classifier with the loss averaged over noise draws (EOT), the "
            "best denoiser keeps at most 5 points more accuracy than the undefended model keeps under white-box PGD: "
            "its gain against transferred attacks vanishes.",
            "", ours=True),
    Finding("pgd_at_survives_autoattack",
            "PGD adversarial training's robustness holds under AutoAttack: more than 10 points above the natural model.",
            "", ours=True),
    Finding("regularized_gain_vanishes_under_autoattack",
            "Under AutoAttack the regularized-loss model (FGSM for delta) keeps at most 5 points more accuracy than the "
            "natural model, whatever PGD showed.",
            "", ours=True),
    Finding("pcl_gain_vanishes_under_autoattack",
            "Under AutoAttack the PCL model keeps at most 5 points more accuracy than the natural model, whatever PGD "
            "showed.",
            "", ours=True),
)
