"""The study this notebook follows, and its numbers beside ours.

The source is a student study (the "study") that trained torchvision's MobileNetV3-small from scratch on
CIFAR-10 (all 50,000 training images, full width, Adam at 0.001 for 200 epochs) and defended it with
adversarial training, a denoising autoencoder stacked 0 to 4 times with Gaussian input noise, and the
prototype conformity loss. Its numbers are quoted from the issue that summarizes it; they are never
measured here. ``REFERENCE_MODELS`` and ``REFERENCE_DENOISER`` are its two result tables as fractions (the
"study" columns of our tables); ``REFERENCE`` holds the same numbers in percent under our headline keys.
"""
from __future__ import annotations

from helpers.headline import Reference

SOURCE = (
    "Student study: MobileNetV3-small trained from scratch on CIFAR-10 (50,000 images, 200 epochs, Adam 0.001), "
    "defended with PGD adversarial training, stacked denoising autoencoders with input noise and the prototype "
    "conformity loss of Mustafa et al. (ICCV 2019); numbers as quoted in the issue that summarizes it"
)

#: Shown where the study has no number.
MISSING = "–"

#: The study's model table: accuracy (fraction) of each trained model, natural and under attack at eps 8/255.
REFERENCE_MODELS = {
    "natural": {"natural": 0.7773, "fgsm": 0.0957, "pgd": 0.0324},
    "pgd_at": {"natural": 0.6253, "fgsm": 0.106, "pgd": 0.3428},   # the study suspected a bug in its FGSM number
    "pcl": {"natural": 0.6211, "attacked": 0.4113},                  # attack not named in the summary
}
#: The study's denoiser table: (natural, FGSM) accuracy by (stacked layers, input noise).
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


_MODELS = "model results (200 epochs, full width)"
_DENOISER = "denoiser results"

REFERENCE = {
    "natural_accuracy": Reference(
        _percent(REFERENCE_MODELS["natural"]["natural"]), f"{_MODELS}, natural training, natural accuracy", tolerance=5.0),
    "natural_fgsm_accuracy": Reference(
        _percent(REFERENCE_MODELS["natural"]["fgsm"]), f"{_MODELS}, natural training, FGSM accuracy", tolerance=3.0),
    "natural_pgd_accuracy": Reference(
        _percent(REFERENCE_MODELS["natural"]["pgd"]), f"{_MODELS}, natural training, PGD accuracy", tolerance=3.0),
    "pgd_at_natural_accuracy": Reference(
        _percent(REFERENCE_MODELS["pgd_at"]["natural"]), f"{_MODELS}, PGD adversarial training, natural accuracy",
        tolerance=5.0),
    "pgd_at_pgd_accuracy": Reference(
        _percent(REFERENCE_MODELS["pgd_at"]["pgd"]), f"{_MODELS}, PGD adversarial training, PGD accuracy", tolerance=5.0),
    "denoiser_fgsm_accuracy": Reference(
        _percent(REFERENCE_DENOISER[BEST_DENOISER][1]),
        f"{_DENOISER}, noise + {BEST_DENOISER[0]} autoencoders (its best), FGSM accuracy", tolerance=5.0,
        note="FGSM crafted on the bare classifier and fed through the defense (transfer)"),
    "pcl_natural_accuracy": Reference(
        _percent(REFERENCE_MODELS["pcl"]["natural"]), f"{_MODELS}, PCL (50 + 100 epochs), natural accuracy",
        tolerance=5.0),
    "pcl_pgd_accuracy": Reference(
        _percent(REFERENCE_MODELS["pcl"]["attacked"]), f"{_MODELS}, PCL (50 + 100 epochs), attacked accuracy",
        tolerance=5.0, note="the study's summary does not name the attack; ours is PGD"),
}
