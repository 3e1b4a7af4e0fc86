"""What study 2's results say: tables, prose written from the measured numbers, and the headline.

Accuracies are fractions throughout (tables show them as percentages); the study's own numbers come from
``reference.py`` and appear only in columns labelled "study".
"""
from __future__ import annotations

from typing import Any, Mapping

from helpers.headline import Metric, metric
from helpers.tables import show_table

from .reference import MISSING, REFERENCE, REFERENCE_DENOISER, REFERENCE_MODELS
from .study import MODEL_LABELS, Models, Projection, Trained, best_denoiser, history_ratio


def pct(v) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, float) else str(v)


def _how(trained: Trained, what: str) -> str:
    return "loaded from cache" if trained.from_cache else what


# ---------------------------------------------------------------------------------------------------
# Natural model and attacks


def show_natural_training(natural: Trained, data, params: Mapping[str, Any]) -> None:
    trained = f"trained {params['epochs']} epochs on {len(data.x_train)} images"
    print(f"MobileNetV3-small, width {params['width']}: {natural.parameter_count:,} parameters; {_how(natural, trained)}")


def attack_summary(e: dict) -> str:
    ref = REFERENCE_MODELS["natural"]
    return (f"On {e['images']} test images the naturally trained model is {pct(e['natural'])} accurate (study {pct(ref['natural'])} "
            f"after 200 epochs), {pct(e['fgsm'])} under FGSM (study {pct(ref['fgsm'])}) and {pct(e['pgd'])} under PGD "
            f"(study {pct(ref['pgd'])}). DeepFool, run on the first {e.get('deepfool_images', 0)} images, leaves "
            f"{pct(e.get('deepfool', float('nan')))}; the median L-infinity size of its perturbations is "
            f"{e.get('deepfool_median_linf', float('nan')):.4f} ({255 * e.get('deepfool_median_linf', float('nan')):.1f}/255).")


def show_attack_summary(natural_eval: dict) -> None:
    print(attack_summary(natural_eval))


# ---------------------------------------------------------------------------------------------------
# Adversarial training


def show_cost(cost: dict, params: Mapping[str, Any]) -> None:
    print(f"PGD-{params['train_pgd_steps']} step {cost['adversarial_batch_seconds']:.3f} s, natural step "
          f"{cost['natural_batch_seconds']:.3f} s ({cost['batches_timed']} batches each, interleaved): ratio "
          f"{cost['ratio']:.2f} (expected about {cost['expected']})")


def adversarial_table(models: Models, params: Mapping[str, Any]):
    """Rows and header: each model's natural, FGSM, PGD and DeepFool accuracy beside the study's numbers."""
    rows = []
    for kind, e in models.evals.items():
        ref = REFERENCE_MODELS.get(kind, {})
        rows.append([MODEL_LABELS[kind], e["natural"], e["fgsm"], e["pgd"], e["deepfool"], ref.get("natural", MISSING),
                     ref.get("fgsm", MISSING), ref.get("pgd", MISSING)])
    deepfool_n = models.evals["natural"].get("deepfool_images")
    return rows, ["model", "natural", "FGSM", f"PGD-{params['eval_pgd_steps']}", f"DeepFool (first {deepfool_n})",
                  "study natural", "study FGSM", "study PGD"]


def show_adversarial(models: Models, cost: dict, params: Mapping[str, Any]) -> None:
    """Where each adversarially trained model came from, the table of all models so far, and what it shows."""
    for kind, trained in models.trained.items():
        if kind != "natural":
            print(f"{MODEL_LABELS[kind]}: {_how(trained, 'trained ' + str(params['adv_epochs']) + ' epochs')}")
    show_table(*adversarial_table(models, params))
    print(adversarial_summary(models.evals, cost, history_ratio(models), params))


def adversarial_summary(evals: dict, cost: dict, hist_ratio: float | None, params: Mapping[str, Any]) -> str:
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


# ---------------------------------------------------------------------------------------------------
# Denoiser


def show_denoiser_training(autoencoder: Trained) -> None:
    how = "loaded from cache" if autoencoder.from_cache else "trained"
    mse = (f"; reconstruction MSE on noisy training images: {autoencoder.history[-1]['loss']:.4f}"
           if autoencoder.history else "")
    print(f"denoiser {how}{mse}")


def denoiser_table(rows: list[dict]):
    out = []
    for r in rows:
        ref = REFERENCE_DENOISER.get((r["layers"], r["noise"]), (MISSING, MISSING))
        label = "no layer" if r["layers"] == 0 else f"{r['layers']} layer{'s' if r['layers'] > 1 else ''}"
        out.append([label, "yes" if r["noise"] else "no", r["natural"], r["fgsm"], r["pgd"], r["pgd_subset"], r["adaptive"], *ref])
    m = rows[0]["adaptive_images"]
    return out, ["autoencoders", "input noise", "natural", "FGSM (transfer)", "PGD (transfer)", f"PGD transfer, first {m}",
                 f"PGD adaptive EOT, first {m}", "study natural", "study FGSM"]


def show_denoisers(rows: list[dict]) -> None:
    show_table(*denoiser_table(rows))
    print(denoiser_summary(rows))


def denoiser_summary(rows: list[dict]) -> str:
    base = next(r for r in rows if r["layers"] == 0 and not r["noise"])
    best = best_denoiser(rows)
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


# ---------------------------------------------------------------------------------------------------
# Prototype conformity loss


def show_pcl_training(pcl: Trained, params: Mapping[str, Any]) -> None:
    print(f"PCL model {_how(pcl, 'trained ' + str(params['pcl_epochs']) + ' epochs of phase two')}")


def pcl_summary(evals: dict, scores: dict) -> str:
    nat, p = evals["natural"], evals["pcl"]
    ref = REFERENCE_MODELS["pcl"]
    sep = "more" if scores["PCL"] > scores["natural"] else "not more"
    return (f"After the PCL phase the model is {pct(p['natural'])} accurate naturally, {pct(p['fgsm'])} under FGSM and "
            f"{pct(p['pgd'])} under PGD (natural model: {pct(nat['natural'])} / {pct(nat['fgsm'])} / {pct(nat['pgd'])}; study "
            f"{pct(ref['natural'])} natural, {pct(ref['attacked'])} attacked). Its hidden features are {sep} clustered by class "
            f"(silhouette {scores['PCL']:.3f} vs {scores['natural']:.3f}).")


def show_pcl(models: Models, projection: Projection) -> None:
    print(pcl_summary(models.evals, projection.scores))


# ---------------------------------------------------------------------------------------------------
# Final table


def final_rows(evals: dict, denoiser_rows: list[dict], params: Mapping[str, Any]) -> list[dict]:
    """One dict per model / defense with every accuracy measured and the study's numbers."""
    rows = []
    for key, e in evals.items():
        ref = REFERENCE_MODELS.get(key, {})
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


def final_table(rows: list[dict], params: Mapping[str, Any], deepfool_n: int, adaptive_n: int):
    header = ["model / defense", "natural", f"FGSM eps={params['epsilon']:.4f}", f"PGD-{params['eval_pgd_steps']}",
              f"DeepFool (first {deepfool_n})", f"adaptive EOT-PGD (first {adaptive_n})", "study natural", "study FGSM",
              "study PGD (PCL: 'attacked')"]
    return [[r[c] for c in FINAL_COLUMNS] for r in rows], header


def show_final(models: Models, denoiser_rows: list[dict], data, params: Mapping[str, Any]) -> None:
    """Every model and defense in one table, then the scale of this run."""
    rows = final_rows(models.evals, denoiser_rows, params)
    show_table(*final_table(rows, params, models.evals["natural"].get("deepfool_images", 0), params["adaptive_size"]))
    print(f"preset {params['preset']!r}: {len(data.x_train)} training images, width {params['width']}, natural {params['epochs']} "
          f"epochs, adversarial {params['adv_epochs']} epochs, PCL {params['epochs']}+{params['pcl_epochs']} epochs; "
          f"{len(data.x_test)} test images ({data.name}).")


# ---------------------------------------------------------------------------------------------------
# Headline and the detail beside it


def headline(models: Models, denoiser_rows: list[dict], cost: dict, params: Mapping[str, Any]) -> list[Metric]:
    """Stable keys at every preset; budgets, steps and sizes are each metric's detail."""
    nat, pgd_at, pcl = models.evals["natural"], models.evals["pgd_at"], models.evals["pcl"]
    best = best_denoiser(denoiser_rows)
    eps, steps = params["epsilon"], params["eval_pgd_steps"]
    on = {"eps": eps, "images": nat["images"]}
    defense = {"layers": best["layers"], "sigma": params["denoiser_sigma"], "eps": eps}
    return [
        metric("natural_accuracy", "natural model, clean accuracy", nat["natural"], unit="%", reference=REFERENCE,
               images=nat["images"], epochs=params["epochs"]),
        metric("natural_fgsm_accuracy", "natural model, FGSM accuracy", nat["fgsm"], unit="%", reference=REFERENCE, **on),
        metric("natural_pgd_accuracy", "natural model, PGD accuracy", nat["pgd"], unit="%", reference=REFERENCE,
               steps=steps, **on),
        metric("pgd_at_natural_accuracy", "PGD adversarial training, clean accuracy", pgd_at["natural"], unit="%",
               reference=REFERENCE, images=pgd_at["images"], epochs=params["adv_epochs"],
               train_steps=params["train_pgd_steps"]),
        metric("pgd_at_pgd_accuracy", "PGD adversarial training, PGD accuracy", pgd_at["pgd"], unit="%",
               reference=REFERENCE, steps=steps, train_steps=params["train_pgd_steps"], **on),
        metric("denoiser_fgsm_accuracy", "best denoiser (noise + autoencoders), transferred FGSM", best["fgsm"], unit="%",
               reference=REFERENCE, images=nat["images"], **defense),
        metric("denoiser_adaptive_accuracy", "best denoiser, adaptive EOT-PGD through the chain", best["adaptive"],
               unit="%", reference=REFERENCE, steps=params["adaptive_steps"], eot=params["adaptive_eot"],
               images=best["adaptive_images"], **defense),
        metric("pcl_natural_accuracy", "prototype conformity loss, clean accuracy", pcl["natural"], unit="%",
               reference=REFERENCE, images=pcl["images"], epochs=params["epochs"] + params["pcl_epochs"]),
        metric("pcl_pgd_accuracy", "prototype conformity loss, PGD accuracy", pcl["pgd"], unit="%", reference=REFERENCE,
               steps=steps, **on),
        metric("pgd_step_cost_ratio", "PGD-k training step over a natural step", round(cost["ratio"], 3), unit="x",
               reference=REFERENCE, train_steps=params["train_pgd_steps"], expected=cost["expected"]),
    ]


def extra(models: Models, cost: dict, denoiser_rows: list[dict], curves: dict, projection: Projection) -> dict:
    """What ``metrics.json`` keeps beside the headline: every measured number of the run."""
    return {"cost": cost, "history_ratio": history_ratio(models), "denoiser": denoiser_rows, "curves": curves,
            "silhouette": projection.scores,
            "evaluations": {k: {c: v for c, v in e.items() if c != "adversarials"} for k, e in models.evals.items()},
            "from_cache": {k: t.from_cache for k, t in models.trained.items()}}
