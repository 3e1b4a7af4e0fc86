"""Natural, FGSM, PGD, DeepFool and AutoAttack accuracy of a model through ART (``helpers.attacks``).

FGSM and PGD run at the parameterized L-infinity budgets on ``x``; PGD has a random start and runs a
second time with twice the steps on the same images, so the table can show it has converged (the two
accuracies should differ by less than a point). DeepFool (a minimal-perturbation attack, no budget: it
runs until the label flips or ``max_iter``) is slow on a CPU, so it runs on the first ``deepfool_size``
images only, and its row says how many. For DeepFool we also report the median L-infinity size of the
perturbations it needed: a robust model needs larger ones.

**AutoAttack** (Croce & Hein 2020) through ART's ``AutoAttack`` (which needs the ``multiprocess`` package even
without a worker pool), on the first ``autoattack_size`` images,
in one of two versions (``AUTOATTACK_VERSIONS``): the pair of untargeted APGD attacks (cross-entropy and
difference-of-logits-ratio losses, 100 iterations, one restart each) that a CPU budget allows, or ART's
standard list (both APGD losses with 5 restarts, DeepFool and the Square attack with 5,000 queries). An
image counts as robust only if every attack of the list fails on it (per-image worst case).

**The readable versions.** ART is the fast path; ``helpers.gradient_attacks``' ``fgsm`` and ``pgd`` and this
module's ``deepfool`` are the same methods written out in plain PyTorch. ``compare_with_art`` runs both on the
same images (PGD from the same random start) and reports how closely they agree.
"""
from __future__ import annotations

import numpy as np
import torch

from helpers import attacks, metrics
from helpers.gradient_attacks import default_step_size, fgsm, in_batches, input_gradient, pgd
from helpers.training import predict

INPUT_SHAPE = (3, 32, 32)


def art_classifier(model, device):
    return attacks.as_art_classifier(model.to(device).eval(), input_shape=INPUT_SHAPE, nb_classes=10, device=device)


def adversarial_examples(model, x: torch.Tensor, y: torch.Tensor, attack: str, *, eps: float | None = None, steps: int = 10,
                         batch_size: int = 128, device="cpu", desc: str | None = None, deepfool_steps: int = 50) -> np.ndarray:
    """Adversarial copies of ``x`` made with ART's ``attack`` ("fgsm", "pgd" or "deepfool") on ``model``."""
    classifier = art_classifier(model, device)
    options = {"max_iter": steps} if attack == "pgd" else {"max_iter": deepfool_steps} if attack == "deepfool" else {}
    made = attacks.make_attack(attack, classifier, eps=eps, batch_size=batch_size, **options)
    return attacks.generate(made, x.numpy(), y.numpy(), desc=desc or attacks.attack_title(attack, eps))


def accuracy_on(model, x, y, device="cpu") -> float:
    return metrics.accuracy(predict(model, torch.as_tensor(x), device=device), y)


#: AutoAttack versions: the name shown in the tables, and whether it is the standard (all-attack) list.
AUTOATTACK_VERSIONS = {
    "apgd-ce+dlr": "AutoAttack (ART), APGD-CE + APGD-DLR, 100 iterations x 1 restart",
    "standard": "AutoAttack (ART standard list): APGD-CE + APGD-DLR, 100 iterations x 5 restarts, DeepFool, Square 5,000 queries",
}


def autoattack_list(classifier, *, eps: float, version: str, batch_size: int = 128, steps: int = 100) -> list:
    """The ART attacks of AutoAttack's ``version``, in the order they run (the list ART's ``AutoAttack`` builds)."""
    from art.attacks.evasion import AutoProjectedGradientDescent, DeepFool, SquareAttack

    if version not in AUTOATTACK_VERSIONS:
        raise ValueError(f"unknown AutoAttack version {version!r}; choose from {', '.join(AUTOATTACK_VERSIONS)}")
    restarts = 1 if version == "apgd-ce+dlr" else 5
    out = [AutoProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=steps, nb_random_init=restarts,
                                        batch_size=batch_size, loss_type=loss, verbose=False)
           for loss in ("cross_entropy", "difference_logits_ratio")]
    if version == "standard":
        out += [DeepFool(classifier, max_iter=100, epsilon=1e-3, nb_grads=10, batch_size=batch_size, verbose=False),
                SquareAttack(classifier, norm=np.inf, eps=eps, max_iter=5000, p_init=0.8, nb_restarts=5, batch_size=batch_size,
                             verbose=False)]
    return out


def autoattack_examples(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, version: str = "apgd-ce+dlr",
                        batch_size: int = 128, device="cpu", steps: int = 100) -> np.ndarray:
    """AutoAttack's adversarial copies of ``x`` through ART's ``AutoAttack`` (untargeted, no worker pool): each
    attack of the list runs on the images still classified right, and an image keeps the first adversarial
    inside the budget that fools the model; per image, the worst case."""
    from art.attacks.evasion import AutoAttack

    classifier = art_classifier(model, device)
    attack = AutoAttack(classifier, norm=np.inf, eps=eps, eps_step=2 * eps, batch_size=batch_size, targeted=False,
                        attacks=autoattack_list(classifier, eps=eps, version=version, batch_size=batch_size, steps=steps),
                        parallel_pool_size=0)
    return attack.generate(x.numpy().astype(np.float32), y=y.numpy()).astype(np.float32)


def autoattack_accuracy(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, version: str = "apgd-ce+dlr",
                        batch_size: int = 128, device="cpu", steps: int = 100) -> dict:
    """AutoAttack accuracy on ``x``, the number of images and the version's name (with the APGD iterations)."""
    x_aa = autoattack_examples(model, x, y, eps=eps, version=version, batch_size=batch_size, device=device, steps=steps)
    if np.abs(x_aa - x.numpy()).max() > eps + 1e-5:
        raise AssertionError("AutoAttack left the epsilon ball")
    return {"autoattack": accuracy_on(model, x_aa, y, device), "autoattack_images": len(x),
            "autoattack_version": AUTOATTACK_VERSIONS[version].replace("100 iterations", f"{steps} iterations")
            if steps != 100 else AUTOATTACK_VERSIONS[version], "autoattack_steps": steps}


def evaluate_model(model, x: torch.Tensor, y: torch.Tensor, *, fgsm_eps: float, pgd_eps: float, pgd_steps: int,
                   deepfool_size: int, deepfool_steps: int = 50, batch_size: int = 128, device="cpu", name: str = "",
                   pgd_check: bool = True, autoattack_size: int = 0, autoattack_version: str = "apgd-ce+dlr",
                   autoattack_steps: int = 100) -> dict:
    """Accuracies (fractions) under natural, FGSM, PGD (and PGD with twice the steps), DeepFool and AutoAttack,
    plus the adversarial images made."""
    out = {"natural": accuracy_on(model, x, y, device), "images": len(x), "pgd_steps": pgd_steps}
    adv = {}
    for attack, eps in (("fgsm", fgsm_eps), ("pgd", pgd_eps)):
        adv[attack] = adversarial_examples(model, x, y, attack, eps=eps, steps=pgd_steps, batch_size=batch_size, device=device,
                                           desc=f"{name} {attacks.attack_title(attack, eps)}")
        out[attack] = accuracy_on(model, adv[attack], y, device)
    if pgd_check:
        doubled = adversarial_examples(model, x, y, "pgd", eps=pgd_eps, steps=2 * pgd_steps, batch_size=batch_size, device=device,
                                       desc=f"{name} PGD-{2 * pgd_steps} (convergence check)")
        out["pgd_double"] = accuracy_on(model, doubled, y, device)
    m = min(autoattack_size, len(x))
    if m > 0:
        out.update(autoattack_accuracy(model, x[:m], y[:m], eps=pgd_eps, version=autoattack_version, batch_size=batch_size,
                                       device=device, steps=autoattack_steps))
        out["pgd_on_autoattack_images"] = accuracy_on(model, adv["pgd"][:m], y[:m], device)  # the same images: the gap
    n = min(deepfool_size, len(x))
    if n > 0:
        adv["deepfool"] = adversarial_examples(model, x[:n], y[:n], "deepfool", batch_size=batch_size, device=device, deepfool_steps=deepfool_steps,
                                               desc=f"{name} DeepFool")
        out["deepfool"] = accuracy_on(model, adv["deepfool"], y[:n], device)
        sizes = np.abs(adv["deepfool"] - x[:n].numpy()).reshape(n, -1).max(1)
        out["deepfool_median_linf"] = float(np.median(sizes))
        out["deepfool_images"] = n
    out["adversarials"] = adv
    return out


def accuracy_vs_epsilon(model, x, y, epsilons, *, pgd_steps: int, batch_size: int = 128, device="cpu", name: str = "") -> dict:
    """{"FGSM": {eps: accuracy}, "PGD": {eps: accuracy}} over ``epsilons`` (eps 0 is the natural accuracy)."""
    natural = accuracy_on(model, x, y, device)
    curves = {"FGSM": {}, "PGD": {}}
    for eps in epsilons:
        for attack, label in (("fgsm", "FGSM"), ("pgd", "PGD")):
            if eps == 0:
                curves[label][0.0] = natural
                continue
            adv = adversarial_examples(model, x, y, attack, eps=eps, steps=pgd_steps, batch_size=batch_size, device=device,
                                       desc=f"{name} {attacks.attack_title(attack, eps)}")
            curves[label][float(eps)] = accuracy_on(model, adv, y, device)
    return curves


def deepfool(model, x: torch.Tensor, *, steps: int = 50, overshoot: float = 0.02) -> torch.Tensor:
    """DeepFool (Moosavi-Dezfooli et al. 2016) as ART runs it: from x, step onto the nearest linearized decision
    boundary between the predicted class l and another class k, until the label flips or ``steps`` run out;
    the total perturbation is then stretched by ``1 + overshoot``. No budget: it looks for the smallest change."""
    model.eval()
    rows = torch.arange(len(x))
    x_adv = x.detach().clone()
    label = model(x_adv).argmax(1)  # the class to leave
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        active = logits.argmax(1) == label  # images not yet fooled
        if not active.any():
            break
        grads = torch.stack([torch.autograd.grad(logits[:, k].sum(), x_adv, retain_graph=True)[0]
                             for k in range(logits.shape[1])], 1)  # (N, K, C, H, W): the gradient of each logit
        w = (grads - grads[rows, label][:, None]).flatten(2)  # grad f_k - grad f_l
        f = (logits - logits[rows, label][:, None]).detach()  # f_k - f_l (negative while l wins)
        distance = f.abs() / (w.norm(dim=2) + 1e-7)  # to each linearized boundary
        distance[rows, label] = float("inf")
        k = distance.argmin(1)  # the nearest one
        r = f[rows, k].abs()[:, None] / (w[rows, k].norm(dim=1, keepdim=True) ** 2 + 1e-7) * w[rows, k]
        x_adv = (x_adv.detach() + active[:, None, None, None] * r.view_as(x)).clamp(0, 1)
    return (x + (1 + overshoot) * (x_adv.detach() - x)).clamp(0, 1)


def compare_with_art(model, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, deepfool_images: int,
                     deepfool_steps: int, batch_size: int = 128, device="cpu", seed: int = 0) -> dict:
    """FGSM, PGD-``steps`` and DeepFool through ART (the evaluation's path) and through the readable functions, on
    the same images; PGD starts from the same random point in both (generators seeded alike).

    Per attack: both accuracies, the share of images on which the two agree (right or wrong), the largest pixel
    difference between the two adversarial images, and for DeepFool the median L-infinity size of each's."""
    classifier = art_classifier(model, device)
    art_pgd = attacks.make_attack("pgd", classifier, eps=eps, batch_size=batch_size, max_iter=steps)
    art_pgd.generator = torch.Generator().manual_seed(seed)  # TorchNativePGD's random start
    gradient = input_gradient(model.to(device))
    generator = torch.Generator().manual_seed(seed)
    n = min(deepfool_images, len(x))
    made = {
        "FGSM": (attacks.generate(attacks.make_attack("fgsm", classifier, eps=eps, batch_size=batch_size), x.numpy(), y.numpy(),
                                  desc="ART FGSM"),
                 in_batches(lambda a, b: fgsm(gradient, a, b, eps=eps), x, y, batch_size=batch_size, device=device)),
        f"PGD-{steps}": (attacks.generate(art_pgd, x.numpy(), y.numpy(), desc=f"ART PGD-{steps}"),
                         in_batches(lambda a, b: pgd(gradient, a, b, eps=eps, steps=steps, step_size=default_step_size(eps, steps),
                                                     generator=generator), x, y, batch_size=batch_size, device=device)),
    }
    if n > 0:
        made["DeepFool"] = (
            attacks.generate(attacks.make_attack("deepfool", classifier, batch_size=batch_size, max_iter=deepfool_steps),
                             x[:n].numpy(), y[:n].numpy(), desc="ART DeepFool"),
            in_batches(lambda a, b: deepfool(model, a, steps=deepfool_steps), x[:n], y[:n], batch_size=batch_size, device=device))
    out = {}
    for name, (art_images, ours) in made.items():
        labels = y[: len(ours)]
        right_art = predict(model, torch.as_tensor(art_images), device=device).argmax(1) == labels
        right_ours = predict(model, ours, device=device).argmax(1) == labels
        row = {"images": len(ours), "art": float(right_art.float().mean()), "readable": float(right_ours.float().mean()),
               "agree": float((right_art == right_ours).float().mean()),
               "max_pixel_difference": float((torch.as_tensor(art_images) - ours).abs().max())}
        if name == "DeepFool":
            size = lambda images: float(np.median((torch.as_tensor(images) - x[:n]).abs().flatten(1).max(1).values))  # noqa: E731
            row.update(art_median_linf=size(art_images), readable_median_linf=size(ours))
        out[name] = row
    return out
