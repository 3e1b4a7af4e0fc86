"""Study 2 orchestration: parameters, the study's reference numbers and the functions the notebook
``notebooks/02_cifar_robust_training.ipynb`` calls.

Source: a student study (the "study") training MobileNetV3-small from scratch on CIFAR-10 for 200 epochs
and defending it with adversarial training, a denoising autoencoder and the prototype conformity loss.
Its numbers below are quoted from the issue that summarizes it; they are never measured here and are
shown only in columns labelled "study".
"""
from __future__ import annotations

import numpy as np
import torch

from helpers.params import RUN_PARAMETERS, Param
from . import adversarial_training as at
from . import denoiser as dae
from . import pcl as pcl_module
from .evaluation import evaluate_model
from .model import CifarMobileNetV3, train_cached

STUDY = "cifar_robust_training"
TITLE = "Robust training on CIFAR-10: MobileNetV3 with adversarial training, a denoising autoencoder and prototype conformity"

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=100, high=50_000, help="training images (offline copy: at most 20,000)"),
    "test_size": Param(int, low=20, high=10_000, help="test images the attacks run on"),
    "width": Param(float, low=0.1, high=2.0, help="MobileNetV3 width multiplier (1.0 = the original)"),
    "batch_size": Param(int, low=8, high=4096),
    "learning_rate": Param(float, low=1e-6, high=1.0, help="Adam learning rate (study: 0.001)"),
    "epochs": Param(int, low=1, high=1000, help="natural training epochs (study: 200); also PCL's first phase"),
    "adv_epochs": Param(int, low=1, high=1000, help="epochs of each adversarially trained model"),
    "epsilon": Param(float, low=0.0, high=1.0, help="L-infinity budget of training and evaluation attacks (8/255 = 0.0314)"),
    "train_pgd_steps": Param(int, low=1, high=100, help="k of the training-time PGD-k"),
    "alpha": Param(float, low=0.0, high=1.0, help="weight of the clean loss in alpha*J(x)+(1-alpha)*J(x+delta)"),
    "regularized_attack": Param(str, choices=("fgsm", "pgd"), help="where delta of the regularized loss comes from"),
    "eval_pgd_steps": Param(int, low=1, high=1000, help="PGD iterations when evaluating"),
    "curve_epsilons": Param(list, item=float, low=0.0, high=1.0, help="budgets of the accuracy-versus-epsilon figure"),
    "curve_size": Param(int, low=10, high=10_000, help="test images per point of that figure"),
    "deepfool_size": Param(int, low=1, high=10_000, help="test images DeepFool runs on (slow on a CPU)"),
    "deepfool_steps": Param(int, low=1, high=1000, help="DeepFool's max_iter (ART default 100; ours 50)"),
    "denoiser_sigma": Param(float, low=0.0, high=1.0, help="std of the Gaussian noise (training and input noise)"),
    "denoiser_epochs": Param(int, low=1, high=1000),
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

# ---------------------------------------------------------------------------------------------------
# The study's numbers (200 epochs on 50,000 images, full-width MobileNetV3-small); not measured here.
MISSING = "–"
REFERENCE = {
    "natural": {"natural": 0.7773, "fgsm": 0.0957, "pgd": 0.0324},
    "pgd_at": {"natural": 0.6253, "fgsm": 0.106, "pgd": 0.3428},   # the study suspected a bug in its FGSM number
    "pcl": {"natural": 0.6211, "attacked": 0.4113},                  # attack not named in the summary
}
#: Denoiser table (natural, FGSM) by (stacked layers, input noise).
REFERENCE_DENOISER = {
    (0, False): (0.7773, 0.0957), (1, False): (0.7010, 0.0966), (1, True): (0.7138, 0.3544),
    (2, True): (0.6826, 0.449), (3, True): (0.6728, 0.490), (4, True): (0.6572, 0.5332),
}
MODEL_LABELS = {
    "natural": "natural training",
    "pgd_at": "adversarial training, PGD examples",
    "fgsm_at": "adversarial training, FGSM examples",
    "regularized": "regularized loss alpha*J(x)+(1-alpha)*J(x+delta)",
    "pcl": "prototype conformity loss (2 phases)",
}


def pgd_step_size(params: dict) -> float:
    return 2.5 * params["epsilon"] / params["train_pgd_steps"]


def new_model(params: dict) -> CifarMobileNetV3:
    torch.manual_seed(params["seed"])
    return CifarMobileNetV3(width=params["width"])


def _train_parts(params: dict, **extra) -> dict:
    return {"width": params["width"], "first_stride": 1, **extra}


def training_loss(kind: str, params: dict):
    """The ``loss_fn`` of each adversarially trained model."""
    eps, k = params["epsilon"], params["train_pgd_steps"]
    if kind == "pgd_at":
        return at.pgd_loss(eps=eps, steps=k, step_size=pgd_step_size(params))
    if kind == "fgsm_at":
        return at.fgsm_loss(eps=eps)
    if kind == "regularized":
        perturb = at.make_perturbation(params["regularized_attack"], eps=eps, steps=k, step_size=pgd_step_size(params))
        return at.regularized_loss(alpha=params["alpha"], perturb=perturb)
    raise ValueError(f"unknown adversarial training {kind!r}")


def train_natural(data, params: dict, device):
    return train_cached("natural", new_model(params), data, parts=_train_parts(params, loss="ce"), epochs=params["epochs"],
                        batch_size=params["batch_size"], learning_rate=params["learning_rate"], seed=params["seed"],
                        device=device, desc="natural training")


def train_adversarial(kind: str, data, params: dict, device):
    parts = _train_parts(params, loss=kind, epsilon=params["epsilon"])
    if kind in ("pgd_at", "regularized"):
        parts.update(steps=params["train_pgd_steps"])
    if kind == "regularized":
        parts.update(alpha=params["alpha"], attack=params["regularized_attack"])
    return train_cached(kind, new_model(params), data, parts=parts, epochs=params["adv_epochs"], batch_size=params["batch_size"],
                        learning_rate=params["learning_rate"], seed=params["seed"], device=device,
                        loss_fn=training_loss(kind, params), desc=MODEL_LABELS[kind])


def train_pcl(natural_model, data, params: dict, device):
    """Phase two on a copy of the natural model (phase one): centroids at the class means, then CE + PCL."""
    import copy

    net = copy.deepcopy(natural_model).cpu()
    model = pcl_module.PCLNet(net, dim=params["pcl_dim"])
    torch.manual_seed(params["seed"])
    for branch in model.branches.values():
        branch.reset_parameters()
    model.to(device).init_centroids(data.x_train[:2000], data.y_train[:2000])
    parts = _train_parts(params, loss="pcl", phase1_epochs=params["epochs"], weight=params["pcl_weight"], dim=params["pcl_dim"],
                         cap=params["pcl_cap"], natural_learning_rate=params["learning_rate"])
    return train_cached("pcl", model, data, parts=parts, epochs=params["pcl_epochs"], batch_size=params["batch_size"],
                        learning_rate=params["pcl_learning_rate"], seed=params["seed"] + 1, device=device,
                        loss_fn=pcl_module.pcl_loss(weight=params["pcl_weight"], cap=params["pcl_cap"]), desc="PCL phase 2")


def measure_cost(data, params: dict, device) -> dict:
    """PGD-k training step over a natural one, timed interleaved in this process (see ``epoch_cost_ratio``)."""
    loss = at.pgd_loss(eps=params["epsilon"], steps=params["train_pgd_steps"], step_size=pgd_step_size(params))
    result = at.epoch_cost_ratio(new_model(params), data.x_train, data.y_train, loss, batch_size=params["batch_size"],
                                 batches=params["cost_batches"], rounds=2, device=device)
    result["expected"] = params["train_pgd_steps"] + 1
    return result


def history_ratio(histories: dict) -> float | None:
    """Seconds per PGD-AT epoch over seconds per natural epoch, from this run's training (None if either was cached)."""
    nat, adv = histories.get("natural"), histories.get("pgd_at")
    if not nat or not adv or nat.get("cached") or adv.get("cached"):
        return None
    per = lambda h: np.mean([e["seconds"] for e in h["history"]]) / 1.0
    return float(per(adv) / per(nat))


def evaluate(name: str, model, data, params: dict, device) -> dict:
    return evaluate_model(model, data.x_test, data.y_test, fgsm_eps=params["epsilon"], pgd_eps=params["epsilon"],
                          pgd_steps=params["eval_pgd_steps"], deepfool_size=params["deepfool_size"],
                          deepfool_steps=params["deepfool_steps"],
                          batch_size=params["batch_size"], device=device, name=name)


# ---------------------------------------------------------------------------------------------------
# Denoiser


def denoiser_configs(params: dict) -> list[tuple[int, bool]]:
    return [(layers, noise) for layers in range(params["denoiser_layers"] + 1) for noise in (False, True)]


def evaluate_denoisers(classifier, autoencoder, data, natural_eval: dict, params: dict, device) -> list[dict]:
    """Every (layers, noise) configuration: natural, transfer FGSM / PGD / DeepFool, and the adaptive EOT-PGD."""
    x, y = data.x_test, data.y_test
    adv = {k: torch.as_tensor(v) for k, v in natural_eval["adversarials"].items()}
    m = min(params["adaptive_size"], len(x))
    rows = []
    for layers, noise in denoiser_configs(params):
        chain = dae.DefendedClassifier(classifier, autoencoder if layers else None, layers, params["denoiser_sigma"] if noise else 0.0)
        acc = lambda images, labels: dae.chain_accuracy(chain, images, labels, device=device, seed=params["seed"])
        row = {"layers": layers, "noise": noise, "natural": acc(x, y), "fgsm": acc(adv["fgsm"], y), "pgd": acc(adv["pgd"], y)}
        if "deepfool" in adv:
            row["deepfool"] = acc(adv["deepfool"], y[: len(adv["deepfool"])])
        row["pgd_subset"] = acc(adv["pgd"][:m], y[:m])
        if layers == 0 and not noise:
            row["adaptive"] = row["pgd_subset"]  # the bare classifier: the transfer attack is the white-box one
        else:
            x_adaptive = dae.adaptive_pgd(chain, x[:m], y[:m], eps=params["epsilon"], steps=params["adaptive_steps"],
                                          eot=params["adaptive_eot"], batch_size=params["batch_size"], device=device, seed=params["seed"])
            row["adaptive"] = acc(x_adaptive, y[:m])
        row["adaptive_images"] = m
        rows.append(row)
    return rows


def denoiser_table(rows: list[dict]):
    out = []
    for r in rows:
        ref = REFERENCE_DENOISER.get((r["layers"], r["noise"]), (MISSING, MISSING))
        label = "no layer" if r["layers"] == 0 else f"{r['layers']} layer{'s' if r['layers'] > 1 else ''}"
        out.append([label, "yes" if r["noise"] else "no", r["natural"], r["fgsm"], r["pgd"], r["pgd_subset"], r["adaptive"], *ref])
    m = rows[0]["adaptive_images"]
    return out, ["autoencoders", "input noise", "natural", "FGSM (transfer)", "PGD (transfer)", f"PGD transfer, first {m}",
                 f"PGD adaptive EOT, first {m}", "study natural", "study FGSM"]


# ---------------------------------------------------------------------------------------------------
# Final table and prose


def final_rows(evals: dict, denoiser_rows: list[dict], params: dict) -> list[dict]:
    """One dict per model / defense with every accuracy measured and the study's numbers."""
    rows = []
    for key, e in evals.items():
        ref = REFERENCE.get(key, {})
        rows.append({"name": MODEL_LABELS[key], "natural": e["natural"], "fgsm": e["fgsm"], "pgd": e["pgd"],
                     "deepfool": e.get("deepfool", MISSING), "adaptive": "white-box",
                     "study natural": ref.get("natural", MISSING), "study FGSM": ref.get("fgsm", MISSING),
                     "study PGD": ref.get("pgd", ref.get("attacked", MISSING))})
    for r in denoiser_rows:
        if r["layers"] == 0 or not r["noise"]:
            continue
        ref = REFERENCE_DENOISER.get((r["layers"], r["noise"]), (MISSING, MISSING))
        rows.append({"name": f"noise + {r['layers']} autoencoder(s) + natural model", "natural": r["natural"], "fgsm": r["fgsm"],
                     "pgd": r["pgd"], "deepfool": r.get("deepfool", MISSING), "adaptive": r["adaptive"],
                     "study natural": ref[0], "study FGSM": ref[1], "study PGD": MISSING})
    return rows


FINAL_COLUMNS = ["name", "natural", "fgsm", "pgd", "deepfool", "adaptive", "study natural", "study FGSM", "study PGD"]


def final_table(rows: list[dict], params: dict, deepfool_n: int, adaptive_n: int):
    header = ["model / defense", "natural", f"FGSM eps={params['epsilon']:.4f}", f"PGD-{params['eval_pgd_steps']}",
              f"DeepFool (first {deepfool_n})", f"adaptive EOT-PGD (first {adaptive_n})", "study natural", "study FGSM",
              "study PGD (PCL: 'attacked')"]
    return [[r[c] for c in FINAL_COLUMNS] for r in rows], header


def pct(v) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, float) else str(v)


def attack_summary(e: dict) -> str:
    ref = REFERENCE["natural"]
    return (f"On {e['images']} test images the naturally trained model is {pct(e['natural'])} accurate (study {pct(ref['natural'])} "
            f"after 200 epochs), {pct(e['fgsm'])} under FGSM (study {pct(ref['fgsm'])}) and {pct(e['pgd'])} under PGD "
            f"(study {pct(ref['pgd'])}). DeepFool, run on the first {e.get('deepfool_images', 0)} images, leaves "
            f"{pct(e.get('deepfool', float('nan')))}; the median L-infinity size of its perturbations is "
            f"{e.get('deepfool_median_linf', float('nan')):.4f} ({255 * e.get('deepfool_median_linf', float('nan')):.1f}/255).")


def adversarial_summary(evals: dict, cost: dict, hist_ratio: float | None, params: dict) -> str:
    nat, pgd_at = evals["natural"], evals["pgd_at"]
    best = max(("pgd_at", "fgsm_at", "regularized"), key=lambda k: evals[k]["pgd"])
    text = (f"PGD adversarial training moves PGD accuracy from {pct(nat['pgd'])} to {pct(pgd_at['pgd'])} and natural accuracy from "
            f"{pct(nat['natural'])} to {pct(pgd_at['natural'])} (study: 3.2% -> 34.3% and 77.7% -> 62.5%). "
            f"Of the three adversarially trained models, {MODEL_LABELS[best]} is the most PGD-robust ({pct(evals[best]['pgd'])}). ")
    text += (f"A PGD-{params['train_pgd_steps']} training step cost {cost['ratio']:.2f}x a natural one when timed interleaved in this "
             f"process (expected about {cost['expected']}x: {params['train_pgd_steps']} input-gradient passes plus the update)")
    if hist_ratio is not None:
        text += f"; the whole-epoch times of this run's training give {hist_ratio:.2f}x (sensitive to machine load)."
    else:
        text += "; the epoch times are not compared because a model came from the cache."
    return text


def denoiser_summary(rows: list[dict]) -> str:
    base = next(r for r in rows if r["layers"] == 0 and not r["noise"])
    noisy = [r for r in rows if r["noise"] and r["layers"] > 0]
    best = max(noisy, key=lambda r: r["fgsm"])
    lowered = [r for r in rows if (r["layers"] or r["noise"]) and r["adaptive"] < r["pgd_subset"]]
    defended = [r for r in rows if r["layers"] or r["noise"]]
    gap = max(defended, key=lambda r: r["pgd_subset"] - r["adaptive"])
    text = (f"Without a defense FGSM leaves {pct(base['fgsm'])}. The best transfer-FGSM accuracy is {pct(best['fgsm'])} with input "
            f"noise and {best['layers']} autoencoder(s), at a natural accuracy of {pct(best['natural'])} (no defense: {pct(base['natural'])}). "
            f"The adaptive attack is stronger than the transfer PGD on the same images for {len(lowered)} of {len(defended)} defended "
            f"configurations; the largest gap is with {gap['layers']} autoencoder(s) and {'' if gap['noise'] else 'no '}noise: "
            f"{pct(gap['pgd_subset'])} under transfer PGD, {pct(gap['adaptive'])} under adaptive PGD. ")
    if len(lowered) == len(defended):
        text += ("So part of what the denoiser gains against transfer attacks disappears once the attacker differentiates through it "
                 "(noise included, by averaging over draws).")
    else:
        text += "Where the adaptive attack is not stronger, more steps or noise draws are the next thing to try before trusting the defense."
    return text


def pcl_summary(evals: dict, scores: dict) -> str:
    nat, p = evals["natural"], evals["pcl"]
    ref = REFERENCE["pcl"]
    sep = "more" if scores["PCL"] > scores["natural"] else "not more"
    return (f"After the PCL phase the model is {pct(p['natural'])} accurate naturally, {pct(p['fgsm'])} under FGSM and "
            f"{pct(p['pgd'])} under PGD (natural model: {pct(nat['natural'])} / {pct(nat['fgsm'])} / {pct(nat['pgd'])}; study "
            f"{pct(ref['natural'])} natural, {pct(ref['attacked'])} attacked). Its hidden features are {sep} clustered by class "
            f"(silhouette {scores['PCL']:.3f} vs {scores['natural']:.3f}).")
