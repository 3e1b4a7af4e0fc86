"""The quickstart follows no single study, so no study's numbers stand beside its own (``SOURCE`` is None and
``REFERENCE`` empty, and no preset follows a study's protocol). What it checks are claims from the papers of
the methods it teaches, judged on this run's numbers by ``report.findings``.
"""
from __future__ import annotations

from helpers.findings import Finding
from helpers.headline import Reference

SOURCE = None
REFERENCE: dict[str, Reference] = {}
PROTOCOL_PRESETS: tuple[str, ...] = ()

MADRY = "Madry, Makelov, Schmidt, Tsipras and Vladu, \"Towards Deep Learning Models Resistant to Adversarial Attacks\" (ICLR 2018)"
XU = "Xu, Evans and Qi, \"Feature Squeezing: Detecting Adversarial Examples in Deep Neural Networks\" (NDSS 2018)"
ATHALYE = ("Athalye, Carlini and Wagner, \"Obfuscated Gradients Give a False Sense of Security: Circumventing Defenses "
           "to Adversarial Examples\" (ICML 2018)")

FINDINGS: tuple[Finding, ...] = (
    Finding(
        "pgd_at_least_as_strong_as_fgsm",
        "PGD (many projected steps) is at least as strong as FGSM (one step) at every budget: the model's accuracy "
        "under PGD is never above its accuracy under FGSM.",
        f"{MADRY}, Section 2.1 (PGD as the multi-step attack that FGSM is one step of) and Table 1 (MNIST, eps 0.3)",
    ),
    Finding(
        "pgd_breaks_an_undefended_mnist_cnn",
        "At eps 0.3 PGD drives a naturally trained MNIST network to almost no correct answers (at most 5% accuracy).",
        f"{MADRY}, Section 4 and Figure 4 (naturally trained MNIST networks of growing capacity, attacked at eps 0.3)",
    ),
    Finding(
        "squeezing_looks_robust_to_transfer",
        "Feature squeezing looks robust against attacks that ignore it: the PGD digits made on the undefended model "
        "are classified correctly more often once squeezed than by the undefended model (largest budget).",
        f"{XU}, the section on colour-depth reduction (MNIST squeezed to one bit per pixel)",
    ),
    Finding(
        "squeezing_falls_to_bpda",
        "Feature squeezing falls to an adaptive attack: PGD through the squeezer with the straight-through gradient "
        "(BPDA) leaves the squeezed model less accurate than the transferred digits do (largest budget).",
        f"{ATHALYE}, Section 4.1 (backward pass differentiable approximation), applied here to the squeezer",
        ours=True,
    ),
)
