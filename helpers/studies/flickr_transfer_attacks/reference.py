"""The source study: a Flickr-built 5-class photo set, VGG16 and ResNet50 by transfer learning, attacked
(FGSM, PGD) and altered (noise, blur, PCA, JPEG), with SSIM.

The study (summarised in the project's issue 7) reports its results as findings in words, not as
numbers, so ``REFERENCE`` is empty: nothing numeric can be set beside the headline. Its findings are
kept here as reference text, and ``report.compare_with_study`` sets each beside what this run measured,
judged by the thresholds below.
"""
from __future__ import annotations

from helpers.headline import Reference

SOURCE = (
    "Flickr transfer-learning study (summarised in the project's issue 7): 500 Flickr photos per class "
    "(ambulance, golden retriever, Persian cat, school bus, traffic light), VGG16 and ResNet50 with a new head, "
    "FGSM/PGD, random pixel noise, blur, PCA and JPEG, agreement with the original prediction and SSIM; "
    "findings stated in words, no numbers"
)
REFERENCE: dict[str, Reference] = {}

STUDY_CLASSES = ("ambulance", "golden retriever", "Persian cat", "school bus", "traffic light")

# What the study reports (summarised in issue 7), as reference text for the comparison table.
STUDY_FINDINGS: dict[str, str] = {
    "pgd_vs_fgsm": "PGD fooled the models more than FGSM",
    "fgsm_ssim": "FGSM images stayed more similar to the originals (higher SSIM) than PGD images",
    "attack_ssim": "both attacks kept SSIM high",
    "blur": "blur did not help",
    "pca": "PCA reconstructions looked similar but fooled the models even unattacked",
    "jpeg": "JPEG compression suggested as the better remedy",
    "resnet_vs_vgg": "ResNet mostly beat VGG",
}
HIGH_SSIM = 0.8  # what "looked similar" / "SSIM high" is taken to mean in the comparison
HELPS = 0.05  # a defense "helps" when it recovers at least 5 points of true-label accuracy on average
