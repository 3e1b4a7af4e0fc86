"""The source study and its findings.

Vangipurapu and Khot report their results in words and plots, not as numbers, so ``REFERENCE`` is empty:
nothing numeric stands beside the headline. ``FINDINGS`` lists their claims, each with the part of the report
that states it, and the claims a careful evaluation adds (``ours=True``: what each alteration is worth as a
defense against an attacker who attacks through it). ``report.findings`` judges each on this run's numbers with
95% intervals (Wilson for accuracies, Student-t over images for SSIM).
"""
from __future__ import annotations

from helpers.findings import Finding
from helpers.headline import Reference

SOURCE = (
    'Rigveda Vangipurapu, Tanmay Khot, "Analyzing impacts of Attacks and Counters on Image Classifiers", '
    "ECE-GY 6143 Machine Learning project: 500 Flickr photos per class (ambulance, golden retriever, Persian cat, "
    "school bus, traffic light), VGG16 and ResNet50 with a new head, FGSM/PGD through ART, random pixel noise, blur, "
    "PCA and JPEG, agreement with the original prediction and SSIM; findings stated in words, no numbers"
)
REFERENCE: dict[str, Reference] = {}
PROTOCOL_PRESETS = ("full",)  # 500 photos per class, VGG16 and ResNet50, as the study

STUDY_CLASSES = ("ambulance", "golden retriever", "Persian cat", "school bus", "traffic light")

_WHERE = "Vangipurapu and Khot"
FINDINGS: tuple[Finding, ...] = (
    Finding("attacks_lower_accuracy",
            "FGSM and PGD lower the true-label accuracy of every backbone below its accuracy on the clean photos.",
            f"{_WHERE}, Conclusion, points 3 and 4"),
    Finding("pgd_fools_more_than_fgsm",
            "PGD fools the models more than FGSM at the same budget.",
            f"{_WHERE}, Section 'Quad Chart' (Results) and Conclusion, point 4"),
    Finding("fgsm_images_more_similar",
            "FGSM images stay more similar to the originals (higher SSIM) than PGD images at the same budget.",
            f"{_WHERE}, Section 'Quad Chart' (Results)"),
    Finding("attacks_keep_ssim_high",
            "Attacked images keep a high SSIM to the originals (taken here as a mean SSIM of at least 0.8).",
            f"{_WHERE}, Conclusion, point 3"),
    Finding("pca_looks_similar_but_fools",
            "A PCA reconstruction that keeps the photo's look (SSIM of at least 0.8) costs the models more than 10 "
            "points of true-label accuracy, with no attack at all.",
            f"{_WHERE}, Section 'Results' (PCA) and Conclusion, point 1"),
    Finding("blur_does_not_help",
            "Blurring attacked photos does not recover true-label accuracy (by 5 points or more).",
            f"{_WHERE}, Section 'Results' (blurring) and Conclusion, point 2"),
    Finding("jpeg_better_than_blur",
            "JPEG compression counters the attacks better than blur (a suggestion the study left untested).",
            f"{_WHERE}, Conclusion, point 1 and Section 'Future Scope'"),
    Finding("resnet_beats_vgg",
            "ResNet50 is more accurate than VGG16.",
            f"{_WHERE}, Conclusion, point 5"),
    Finding("jpeg_falls_to_bpda",
            "JPEG compression recovers accuracy against PGD made for the bare model, and PGD through it with BPDA "
            "(real JPEG forward, identity backward) takes that back (at one budget of section 6 at least).",
            "ours", ours=True),
    Finding("blur_fails_through_it",
            "Blur recovers accuracy against PGD made for the bare model, and PGD through the blur (an exact "
            "gradient: blur is a convolution) takes that back (at one budget of section 6 at least).",
            "ours", ours=True),
    Finding("pca_fails_through_it",
            "PCA reconstruction recovers accuracy against PGD made for the bare model, and PGD through the "
            "reconstruction (a linear map with the components held fixed) takes that back (at one budget of "
            "section 6 at least).",
            "ours", ours=True),
    Finding("noise_falls_to_eot",
            "Random pixel noise recovers accuracy against PGD made for the bare model, and PGD with the gradient "
            "averaged over noise draws (EOT) takes that back (at one budget of section 6 at least).",
            "ours", ours=True),
)

HIGH_SSIM = 0.8  # what "looked similar" / "SSIM high" is taken to mean
HELPS = 0.05  # a defense "helps" when it recovers at least 5 points of true-label accuracy
PCA_COSTS = 0.10  # "fools the classifier": at least 10 points of true-label accuracy lost without an attack
