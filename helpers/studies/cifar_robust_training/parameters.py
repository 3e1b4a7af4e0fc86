"""Parameters of ``notebooks/02_cifar_robust_training.ipynb`` and the checks across them."""
from __future__ import annotations

from typing import Any, Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=100, high=50_000, help="training images (offline copy: at most 20,000)"),
    "test_size": Param(int, low=20, high=10_000, help="test images the attacks run on"),
    "width": Param(float, low=0.1, high=2.0, help="MobileNetV3 width multiplier (1.0 = the original)"),
    "stem_stride": Param(int, choices=(1, 2), help="stride of the first convolution (torchvision: 2; 1 keeps a 2x2 map at the end)"),
    "batch_size": Param(int, low=8, high=4096),
    "learning_rate": Param(float, low=1e-6, high=10.0, help="peak of the one-cycle SGD schedule, natural training (study: 0.001, optimizer not named)"),
    "label_smoothing": Param(float, low=0.0, high=0.5, help="label smoothing of natural training's cross-entropy"),
    "epochs": Param(int, low=1, high=1000, help="natural training epochs (study: 200); also PCL's first phase"),
    "finetune": Param(bool, help="adversarial training starts from the natural model (a deviation from the study)"),
    "adv_epochs": Param(int, low=1, high=1000, help="epochs of the PGD- and FGSM-trained models"),
    "regularized_epochs": Param(int, low=1, high=1000, help="epochs of the regularized-loss model"),
    "adv_learning_rate": Param(float, low=1e-6, high=10.0, help="peak of the one-cycle SGD schedule, adversarial training"),
    "monitor_size": Param(int, low=10, high=10_000, help="test images the per-epoch FGSM / PGD accuracy of adversarial training is measured on"),
    "epsilon": Param(float, low=0.0, high=1.0, help="L-infinity budget of training and evaluation attacks (8/255 = 0.0314)"),
    "train_pgd_steps": Param(int, low=1, high=100, help="k of the training-time PGD-k"),
    "alpha": Param(float, low=0.0, high=1.0, help="weight of the clean loss in alpha*J(x)+(1-alpha)*J(x+delta)"),
    "regularized_attack": Param(str, choices=("fgsm", "pgd"), help="where delta of the regularized loss comes from"),
    "eval_pgd_steps": Param(int, low=1, high=1000, help="PGD iterations when evaluating (run again with twice as many)"),
    "autoattack_size": Param(int, low=0, high=10_000, help="test images AutoAttack runs on (0: none)"),
    "autoattack_steps": Param(int, low=1, high=10_000, help="iterations of each APGD attack (AutoAttack: 100)"),
    "autoattack_version": Param(str, choices=("apgd-ce+dlr", "standard"), help="the APGD pair (CPU) or ART's standard list"),
    "curve_epsilons": Param(list, item=float, low=0.0, high=1.0, help="budgets of the accuracy-versus-epsilon figure"),
    "curve_size": Param(int, low=10, high=10_000, help="test images per point of that figure"),
    "deepfool_size": Param(int, low=1, high=10_000, help="test images DeepFool runs on (slow on a CPU)"),
    "deepfool_steps": Param(int, low=1, high=1000, help="DeepFool's max_iter (ART default 100; ours 50)"),
    "denoiser_sigma": Param(float, low=0.0, high=1.0, help="std of the Gaussian noise (training and input noise)"),
    "denoiser_epochs": Param(int, low=1, high=1000),
    "denoiser_channels": Param(int, low=4, high=256, help="channels of the autoencoder's full-resolution layers"),
    "denoiser_layers": Param(int, low=1, high=8, help="largest number of stacked autoencoders (study: 4)"),
    "adaptive_size": Param(int, low=10, high=10_000, help="test images of the adaptive attack on the chain"),
    "adaptive_steps": Param(int, low=1, high=1000),
    "adaptive_eot": Param(int, low=1, high=100, help="noise draws averaged per adaptive PGD step"),
    "pcl_epochs": Param(int, low=1, high=1000, help="second phase: cross-entropy + PCL epochs (study: 100 after 50)"),
    "pcl_weight": Param(float, low=0.0, high=100.0),
    "pcl_dim": Param(int, low=2, high=1024, help="dimension of each auxiliary branch"),
    "pcl_cap": Param(float, low=0.1, high=1e6, help="bound on the push distances"),
    "pcl_learning_rate": Param(float, low=1e-6, high=1.0),
    "projection_size": Param(int, low=20, high=10_000, help="test images in the feature projection"),
    "cost_batches": Param(int, low=1, high=100, help="batches per round when timing a PGD-k step against a natural one"),
}

# Subsets taken from the front of the test images: none can hold more images than there are.
TEST_SUBSETS = ("curve_size", "deepfool_size", "adaptive_size", "projection_size", "monitor_size", "autoattack_size")


def check_combinations(params: Mapping[str, Any]) -> None:
    """Every subset of test images (curve, DeepFool, adaptive attack, projection) is the first images of the
    ``test_size`` test images, so none may ask for more of them."""
    too_large = [name for name in TEST_SUBSETS if params[name] > params["test_size"]]
    if too_large:
        listed = ", ".join(f"{name} ({params[name]})" for name in too_large)
        raise ParameterError(
            f"{listed} must not exceed test_size ({params['test_size']}): these subsets are the first test images"
        )
