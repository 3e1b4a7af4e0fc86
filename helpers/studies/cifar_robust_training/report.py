"""What study 2's results say: tables, prose written from the measured numbers, the findings and the headline.

Accuracies are fractions throughout (tables show them as percentages); the study's own numbers come from
``reference.py`` and appear only in columns labelled "study". Prose that reads measured numbers is shown as
Markdown (``show_*``); ``findings`` judges the study's claims, and ours, on this run's numbers.
"""
from __future__ import annotations

from typing import Any, Mapping

import math

from helpers import metrics as stats
from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN, Outcome, all_of, exceeds, percent
from helpers.formatting import escape_markdown, format_interval, format_percent
from helpers.headline import Metric, metric
from helpers.tables import show_table

from .reference import FINDINGS, GAIN, MISSING, REFERENCE, REFERENCE_DENOISER, REFERENCE_MODELS, VANISHED
from .study import MODEL_LABELS, Models, Projection, Trained, adversarial_epochs, best_denoiser, history_ratio


def show_markdown(text: str) -> None:
    """Prose written from this run's numbers, displayed as Markdown."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _how(trained: Trained, what: str) -> str:
    return "loaded from cache" if trained.from_cache else what


def interval(accuracy: float, n: int) -> stats.Interval:
    """The 95% Wilson interval of an accuracy measured on ``n`` images (the estimate is the accuracy itself)."""
    ci = stats.wilson_interval(round(accuracy * n), n)
    return stats.Interval(float(accuracy), ci.low, ci.high)


def with_ci(accuracy, n: int) -> str:
    """"71.2% (68.3-73.9)": the accuracy with its 95% Wilson interval on ``n`` images."""
    if not isinstance(accuracy, float) or math.isnan(accuracy) or n <= 0:
        return format_percent(accuracy) if isinstance(accuracy, float) else str(accuracy)
    return format_interval(interval(accuracy, n), scale=100, unit="%")


def _points(a: float, b: float) -> str:
    return f"{100 * (a - b):+.1f} pt"


# ---------------------------------------------------------------------------------------------------
# Natural model and attacks


def training_summary(trained: Trained, epochs: int, images: int) -> str:
    """Epochs, images, seconds and images per second of a training run (or that it came from the cache)."""
    if trained.from_cache or not trained.history:
        return f"loaded from cache ({_epochs(epochs)} on {images} images when it was trained)"
    seconds = sum(e["seconds"] for e in trained.history)
    rate = sum(e["images_per_second"] * e["seconds"] for e in trained.history) / seconds
    return (f"trained {_epochs(epochs)} on {images} images in {seconds:.0f} s ({rate:.0f} images/s on this machine), "
            f"last-epoch training accuracy {format_percent(trained.history[-1]['accuracy'])} (augmented images)")


def show_natural_training(natural: Trained, data, params: Mapping[str, Any]) -> None:
    show_markdown(f"MobileNetV3-small, width {params['width']}, stem stride {params['stem_stride']}: {natural.parameter_count:,} "
          f"parameters; {training_summary(natural, params['epochs'], len(data.x_train))}")


def convergence_note(e: dict) -> str:
    """Whether PGD with twice the steps moved the accuracy by less than a point."""
    if "pgd_double" not in e:
        return ""
    moved = abs(e["pgd"] - e["pgd_double"])
    verdict = "converged (less than a point)" if moved < 0.01 else "not converged: more steps are needed"
    return (f"PGD-{e['pgd_steps']} leaves {format_percent(e['pgd'])}, PGD-{2 * e['pgd_steps']} {format_percent(e['pgd_double'])}: doubling the steps "
            f"moves it {100 * moved:.1f} points, {verdict}.")


def autoattack_note(e: dict) -> str:
    if "autoattack" not in e:
        return ""
    return (f"{e['autoattack_version']} on the first {e['autoattack_images']} images: {with_ci(e['autoattack'], e['autoattack_images'])}, "
            f"PGD on the same images {format_percent(e['pgd_on_autoattack_images'])} (gap {_points(e['pgd_on_autoattack_images'], e['autoattack'])}).")


def attack_summary(e: dict) -> str:
    ref = REFERENCE_MODELS["natural"]
    n = e["images"]
    return (f"On {n} test images (95% Wilson intervals in brackets) the naturally trained model is {with_ci(e['natural'], n)} accurate "
            f"(study {format_percent(ref['natural'])} after 200 epochs), {with_ci(e['fgsm'], n)} under FGSM (study {format_percent(ref['fgsm'])}) and "
            f"{with_ci(e['pgd'], n)} under PGD (study {format_percent(ref['pgd'])}). {convergence_note(e)} {autoattack_note(e)} "
            f"DeepFool, run on the first {e.get('deepfool_images', 0)} images, leaves "
            f"{format_percent(e.get('deepfool', float('nan')))}; the median L-infinity size of its perturbations is "
            f"{e.get('deepfool_median_linf', float('nan')):.4f} ({255 * e.get('deepfool_median_linf', float('nan')):.1f}/255).")


def show_attack_summary(natural_eval: dict) -> None:
    show_markdown(attack_summary(natural_eval))


# ---------------------------------------------------------------------------------------------------
# Adversarial training


def show_cost(cost: dict, params: Mapping[str, Any]) -> None:
    show_markdown(f"PGD-{params['train_pgd_steps']} step {cost['adversarial_batch_seconds']:.3f} s, natural step "
          f"{cost['natural_batch_seconds']:.3f} s ({cost['batches_timed']} batches each, interleaved): ratio "
          f"{cost['ratio']:.2f} (expected about {cost['expected']})")


def adversarial_table(models: Models, params: Mapping[str, Any]):
    """Rows and header: each model's natural, FGSM, PGD (and doubled-step PGD), AutoAttack and DeepFool accuracy,
    with 95% intervals, the PGD-minus-AutoAttack gap, and the study's numbers."""
    rows = []
    for kind, e in models.evals.items():
        ref = REFERENCE_MODELS.get(kind, {})
        n, m = e["images"], e.get("autoattack_images", 0)
        aa = [with_ci(e["autoattack"], m), _points(e["pgd_on_autoattack_images"], e["autoattack"])] if m else [MISSING, MISSING]
        rows.append([MODEL_LABELS[kind], with_ci(e["natural"], n), with_ci(e["fgsm"], n), with_ci(e["pgd"], n),
                     e.get("pgd_double", MISSING), *aa, e.get("deepfool", MISSING), ref.get("natural", MISSING),
                     ref.get("fgsm", MISSING), ref.get("pgd", ref.get("attacked", MISSING))])
    first = models.evals["natural"]
    k = params["eval_pgd_steps"]
    return rows, ["model", f"natural ({first['images']} images)", "FGSM", f"PGD-{k}", f"PGD-{2 * k}",
                  f"AutoAttack (first {first.get('autoattack_images', 0)})", "PGD minus AutoAttack (same images)",
                  f"DeepFool (first {first.get('deepfool_images', 0)})", "study natural", "study FGSM", "study PGD"]


def autoattack_summary(evals: dict) -> str:
    """How far PGD overstates robustness: the PGD-minus-AutoAttack gap on the same images, largest first."""
    gaps = {k: e["pgd_on_autoattack_images"] - e["autoattack"] for k, e in evals.items() if "autoattack" in e}
    if not gaps:
        return "AutoAttack did not run."
    worst = max(gaps, key=gaps.get)
    converged = [k for k, e in evals.items() if "pgd_double" in e and abs(e["pgd"] - e["pgd_double"]) < 0.01]
    text = (f"On the same images AutoAttack leaves up to {100 * gaps[worst]:.1f} points less than PGD ({MODEL_LABELS[worst]}: "
            f"PGD {format_percent(evals[worst]['pgd_on_autoattack_images'])}, AutoAttack {format_percent(evals[worst]['autoattack'])}); ")
    if gaps[worst] > 0.02 and worst in converged:
        text += ("since more PGD steps do not close that gap, the weak point is the cross-entropy loss PGD climbs (it flattens "
                 "where the softmax saturates, which label smoothing makes more likely), which AutoAttack's DLR loss avoids; ")
    text += (f"doubling the PGD steps moved the accuracy by less than a point for {len(converged)} of {len(evals)} models "
             f"(columns PGD-k and PGD-2k).")
    return text


def autoattack_version(models: Models) -> str:
    versions = sorted({e["autoattack_version"] for e in models.evals.values() if "autoattack_version" in e})
    return "; ".join(versions) if versions else "AutoAttack did not run (autoattack_size 0)"


def show_adversarial(models: Models, cost: dict, params: Mapping[str, Any]) -> None:
    """Where each adversarially trained model came from, the table of all models so far, and what it shows."""
    start = "fine-tuned from the natural model" if params["finetune"] else "trained from scratch"
    lines = [f"- {MODEL_LABELS[kind]} ({start}): {training_summary(trained, adversarial_epochs(kind, params), params['train_size'])}"
             for kind, trained in models.trained.items() if kind != "natural"]
    show_markdown("\n".join(lines))
    show_table(*adversarial_table(models, params))
    show_markdown(f"AutoAttack version: {autoattack_version(models)}.\n\n{autoattack_summary(models.evals)}\n\n"
                  f"{adversarial_summary(models.evals, cost, history_ratio(models), params)}\n\n{overfitting_summary(models)}")


COLLAPSE = 0.05
"""A fall of PGD accuracy from its best epoch of at least this much counts as a collapse (catastrophic overfitting)."""


def overfitting(history: list[dict], gap: float = 0.15) -> dict | None:
    """Catastrophic overfitting in a history with per-epoch monitor accuracies: at the last epoch FGSM accuracy
    exceeds PGD accuracy by at least ``gap`` (FGSM no longer finds the adversarials PGD finds), PGD accuracy is
    below its best epoch's and FGSM accuracy above that epoch's. None if it did not happen."""
    if not history or "monitor_pgd" not in history[0]:
        return None
    best = max(history, key=lambda e: e["monitor_pgd"])
    last = history[-1]
    if (last["monitor_fgsm"] - last["monitor_pgd"] >= gap and last["monitor_pgd"] < best["monitor_pgd"]
            and last["monitor_fgsm"] > best["monitor_fgsm"]):
        return {"best_epoch": best["epoch"], "best_pgd": best["monitor_pgd"], "last_pgd": last["monitor_pgd"],
                "best_fgsm": best["monitor_fgsm"], "last_fgsm": last["monitor_fgsm"]}
    return None


def overfitting_summary(models: Models) -> str:
    texts = []
    for kind, trained in models.trained.items():
        found = overfitting(trained.history)
        if found:
            if found["best_pgd"] - found["last_pgd"] >= COLLAPSE:
                texts.append(f"{MODEL_LABELS[kind]} overfits catastrophically: PGD accuracy on the monitor images falls from "
                             f"{format_percent(found['best_pgd'])} (epoch {found['best_epoch']}) to {format_percent(found['last_pgd'])} while FGSM accuracy "
                             f"rises from {format_percent(found['best_fgsm'])} to {format_percent(found['last_fgsm'])}: the model has learned to defeat the "
                             f"single FGSM step, not the attack (see the curves below).")
            else:  # no robustness to lose: FGSM accuracy rises while PGD accuracy stays where it was
                texts.append(f"{MODEL_LABELS[kind]} learns to defeat the single FGSM step without gaining robustness: on the "
                             f"monitor images FGSM accuracy rises from {format_percent(found['best_fgsm'])} to {format_percent(found['last_fgsm'])} while PGD "
                             f"accuracy stays near {format_percent(found['last_pgd'])} (best {format_percent(found['best_pgd'])}, epoch {found['best_epoch']}), "
                             f"the signature of gradient masking rather than a collapse of robustness it had (see the curves below).")
    monitored = [k for k, t in models.trained.items() if t.history and "monitor_pgd" in t.history[0]]
    if not monitored:
        return "The per-epoch curves are not available (models loaded from an older cache entry)."
    if not texts:
        return (f"No catastrophic overfitting in this run: for none of {', '.join(MODEL_LABELS[k] for k in monitored)} does "
                f"the per-epoch PGD accuracy collapse while FGSM accuracy rises (the figure below shows the curves).")
    return " ".join(texts)


def most_robust_sentence(evals: dict) -> str:
    """Which adversarially trained model resists PGD best, or which tie: a runner-up inside the best one's 95%
    interval is not beaten by this run's images."""
    best, second = sorted(("pgd_at", "fgsm_at", "regularized"), key=lambda k: evals[k]["pgd"], reverse=True)[:2]
    a, b, n = evals[best]["pgd"], evals[second]["pgd"], evals[best]["images"]
    ci = interval(a, n)
    if ci.low <= b:
        return (f"Of the three adversarially trained models, {MODEL_LABELS[best]} ({format_percent(a)}) and {MODEL_LABELS[second]} "
                f"({format_percent(b)}) resist PGD best, tied within the 95% interval of {n} images ({format_percent(ci.low)}-{format_percent(ci.high)}).")
    return f"Of the three adversarially trained models, {MODEL_LABELS[best]} is the most PGD-robust ({format_percent(a)}; 95% interval {format_percent(ci.low)}-{format_percent(ci.high)})."


def adversarial_summary(evals: dict, cost: dict, hist_ratio: float | None, params: Mapping[str, Any]) -> str:
    nat, pgd_at = evals["natural"], evals["pgd_at"]
    text = (f"PGD adversarial training moves PGD accuracy from {format_percent(nat['pgd'])} to {format_percent(pgd_at['pgd'])} and natural accuracy from "
            f"{format_percent(nat['natural'])} to {format_percent(pgd_at['natural'])} (study: {format_percent(REFERENCE_MODELS['natural']['pgd'])} to "
            f"{format_percent(REFERENCE_MODELS['pgd_at']['pgd'])} and {format_percent(REFERENCE_MODELS['natural']['natural'])} to "
            f"{format_percent(REFERENCE_MODELS['pgd_at']['natural'])}). "
            f"{most_robust_sentence(evals)} ")
    text += (f"A PGD-{params['train_pgd_steps']} training step cost {cost['ratio']:.2f}x a natural one when timed interleaved in this "
             f"process (expected about {cost['expected']}x: {params['train_pgd_steps']} input-gradient passes plus the update)")
    if hist_ratio is not None:
        text += f"; the whole-epoch times of this run's training give {hist_ratio:.2f}x (sensitive to machine load)."
    else:
        text += "; the epoch times are not compared because a model came from the cache."
    return text


# ---------------------------------------------------------------------------------------------------
# Denoiser


def show_denoiser_training(autoencoder: Trained, quality: dict | None = None, params: Mapping[str, Any] | None = None) -> None:
    how = "loaded from cache" if autoencoder.from_cache or not autoencoder.history else "trained"
    if how == "trained" and params is not None:
        how += (f" {_epochs(params['denoiser_epochs'])} on {params['train_size']} noisy images in "
                f"{sum(e['seconds'] for e in autoencoder.history):.0f} s")
    mse = (f"; reconstruction MSE on noisy training images: {autoencoder.history[-1]['loss']:.4f}"
           if autoencoder.history else "")
    show_markdown(f"Denoiser ({autoencoder.parameter_count:,} parameters) {how}{mse}.")
    if quality is not None:
        show_table(*quality_table(quality), percent=False)
        show_markdown(quality_summary(quality))


def quality_table(quality: dict):
    rows = [["noisy input", f"{quality['noisy']:.2f}"], ["clean image through one autoencoder", f"{quality['clean_through']:.2f}"]]
    rows += [[f"noisy input through {k} autoencoder{'s' if k > 1 else ''}", f"{v:.2f}"] for k, v in quality["denoised"].items()]
    return rows, ["images (first " + str(quality["images"]) + " test images)", "PSNR against the clean image (dB)"]


def quality_summary(quality: dict) -> str:
    one = quality["denoised"].get(1, float("nan"))
    moves = "lifts" if one > quality["noisy"] else "does not lift"
    return (f"One pass {moves} the noisy input's PSNR ({quality['noisy']:.1f} dB before, {one:.1f} dB after); a clean image "
            f"passed through comes back at {quality['clean_through']:.1f} dB (higher is closer to the original).")


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
    show_markdown(denoiser_summary(rows))


def denoiser_summary(rows: list[dict]) -> str:
    base = next(r for r in rows if r["layers"] == 0 and not r["noise"])
    best = best_denoiser(rows)
    lowered = [r for r in rows if (r["layers"] or r["noise"]) and r["adaptive"] < r["pgd_subset"]]
    defended = [r for r in rows if r["layers"] or r["noise"]]
    gap = max(defended, key=lambda r: r["pgd_subset"] - r["adaptive"])
    text = (f"Without a defense FGSM leaves {format_percent(base['fgsm'])}. The best transfer-FGSM accuracy is {format_percent(best['fgsm'])} with input "
            f"noise and {best['layers']} autoencoder(s), at a natural accuracy of {format_percent(best['natural'])} (no defense: {format_percent(base['natural'])}). "
            f"The adaptive attack is stronger than the transfer PGD on the same images for {len(lowered)} of {len(defended)} defended "
            f"configurations; the largest gap is with {gap['layers']} autoencoder(s) and {'' if gap['noise'] else 'no '}noise: "
            f"{format_percent(gap['pgd_subset'])} under transfer PGD, {format_percent(gap['adaptive'])} under adaptive PGD. ")
    if len(lowered) == len(defended):
        text += ("So part of what the denoiser gains against transfer attacks disappears once the attacker differentiates through it "
                 "(noise included, by averaging over draws).")
    else:
        text += "Where the adaptive attack is not stronger, more steps or noise draws are the next thing to try before trusting the defense."
    return text


# ---------------------------------------------------------------------------------------------------
# Prototype conformity loss


def show_pcl_training(pcl: Trained, params: Mapping[str, Any]) -> None:
    show_markdown(f"PCL model {_how(pcl, 'trained ' + _epochs(params['pcl_epochs']) + ' of phase two')}.")


def pcl_summary(evals: dict, scores: dict) -> str:
    nat, p = evals["natural"], evals["pcl"]
    ref = REFERENCE_MODELS["pcl"]
    n = p["images"]
    sep = "more" if scores["PCL"] > scores["natural"] else "not more"
    aa = (f" and {with_ci(p['autoattack'], p['autoattack_images'])} under AutoAttack (first {p['autoattack_images']} images)"
          if "autoattack" in p else "")
    return (f"After the PCL phase the model is {with_ci(p['natural'], n)} accurate naturally, {with_ci(p['fgsm'], n)} under FGSM, "
            f"{with_ci(p['pgd'], n)} under PGD{aa} (natural model: {format_percent(nat['natural'])} / {format_percent(nat['fgsm'])} / {format_percent(nat['pgd'])}; "
            f"study {format_percent(ref['natural'])} natural, {format_percent(ref['attacked'])} attacked). Its hidden features are {sep} clustered by "
            f"class (silhouette {scores['PCL']:.3f} after vs {scores['natural']:.3f} before). Whatever the separation, PCL "
            f"trained without adversarial examples has not held up against strong white-box attacks elsewhere: AutoAttack "
            f"left the original method's CIFAR-10 model at about 0.3% (Croce & Hein 2020); compare this run's AutoAttack "
            f"column with its PGD column.")


def show_pcl(models: Models, projection: Projection) -> None:
    show_markdown(pcl_summary(models.evals, projection.scores))


# ---------------------------------------------------------------------------------------------------
# Final table


def final_rows(evals: dict, denoiser_rows: list[dict], params: Mapping[str, Any]) -> list[dict]:
    """One dict per model / defense with every accuracy measured and the study's numbers."""
    rows = []
    for key, e in evals.items():
        ref = REFERENCE_MODELS.get(key, {})
        rows.append({"name": MODEL_LABELS[key], "natural": e["natural"], "fgsm": e["fgsm"], "pgd": e["pgd"],
                     "autoattack": e.get("autoattack", MISSING),
                     "deepfool": e.get("deepfool", MISSING), "adaptive": "white-box",
                     "study natural": ref.get("natural", MISSING), "study FGSM": ref.get("fgsm", MISSING),
                     "study PGD": ref.get("pgd", ref.get("attacked", MISSING))})
    for r in denoiser_rows:
        if r["layers"] == 0 or not r["noise"]:
            continue
        ref = REFERENCE_DENOISER.get((r["layers"], r["noise"]), (MISSING, MISSING))
        rows.append({"name": f"noise + {r['layers']} autoencoder(s) + natural model", "natural": r["natural"], "fgsm": r["fgsm"],
                     "pgd": r["pgd"], "autoattack": MISSING, "deepfool": r.get("deepfool", MISSING), "adaptive": r["adaptive"],
                     "study natural": ref[0], "study FGSM": ref[1], "study PGD": MISSING})
    return rows


FINAL_COLUMNS = ["name", "natural", "fgsm", "pgd", "autoattack", "deepfool", "adaptive", "study natural", "study FGSM", "study PGD"]


def final_table(rows: list[dict], params: Mapping[str, Any], deepfool_n: int, adaptive_n: int, autoattack_n: int | None = None):
    autoattack_n = params.get("autoattack_size", 0) if autoattack_n is None else autoattack_n
    header = ["model / defense", "natural", f"FGSM eps={params['epsilon']:.4f}", f"PGD-{params['eval_pgd_steps']}",
              f"AutoAttack (first {autoattack_n})", f"DeepFool (first {deepfool_n})", f"adaptive EOT-PGD (first {adaptive_n})",
              "study natural", "study FGSM", "study PGD (PCL: 'attacked')"]
    return [[r[c] for c in FINAL_COLUMNS] for r in rows], header


def show_final(models: Models, denoiser_rows: list[dict], data, params: Mapping[str, Any]) -> None:
    """Every model and defense in one table, then the scale of this run."""
    rows = final_rows(models.evals, denoiser_rows, params)
    show_table(*final_table(rows, params, models.evals["natural"].get("deepfool_images", 0), params["adaptive_size"],
                            models.evals["natural"].get("autoattack_images", 0)))
    start = "fine-tuned from the natural model" if params["finetune"] else "from scratch"
    show_markdown(f"Preset {escape_markdown(params['preset'])}: {len(data.x_train)} training images, width {params['width']}, stem stride "
          f"{params['stem_stride']}, natural {params['epochs']} epochs, adversarial {adversarial_epochs('pgd_at', params)} epochs "
          f"(regularized loss {adversarial_epochs('regularized', params)}; {start}), "
          f"PCL {params['epochs']}+{params['pcl_epochs']} epochs; {len(data.x_test)} test images ({escape_markdown(data.name)}); "
          f"{autoattack_version(models)}. With {len(data.x_test)} images a 95% interval is about "
          f"±{100 * interval(0.5, len(data.x_test)).half_width:.1f} points at 50%.")


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
        metric("pgd_at_autoattack_accuracy", "PGD adversarial training, AutoAttack accuracy", pgd_at.get("autoattack", float("nan")),
               unit="%", reference=REFERENCE, images=pgd_at.get("autoattack_images", 0),
               version=pgd_at.get("autoattack_version", "none"), eps=eps),
    ]


def extra(models: Models, cost: dict, denoiser_rows: list[dict], curves: dict, projection: Projection,
          quality: dict | None = None, comparison: dict | None = None) -> dict:
    """What ``metrics.json`` keeps beside the headline: every measured number of the run."""
    return {"cost": cost, "history_ratio": history_ratio(models), "denoiser": denoiser_rows, "curves": curves,
            "histories": {k: t.history for k, t in models.trained.items()}, "denoiser_psnr": quality,
            "silhouette": projection.scores,
            "evaluations": {k: {c: v for c, v in e.items() if c != "adversarials"} for k, e in models.evals.items()},
            "from_cache": {k: t.from_cache for k, t in models.trained.items()}, "readable_vs_art": comparison}


# ---------------------------------------------------------------------------------------------------
# The readable functions against ART


def agreement_table(comparison: dict):
    """One row per attack: both accuracies, how often the two agree, the largest pixel difference."""
    rows = [[name, r["images"], r["art"], r["readable"], r["agree"], f"{r['max_pixel_difference']:.1e}"]
            for name, r in comparison.items()]
    return rows, ["attack", "images", "ART", "readable function", "same verdict per image", "largest pixel difference"]


def agreement_summary(comparison: dict) -> str:
    gaps = {name: abs(r["art"] - r["readable"]) for name, r in comparison.items()}
    worst = max(gaps, key=gaps.get)
    text = (f"The readable functions and ART's implementations give accuracies at most {100 * gaps[worst]:.1f} points apart "
            f"({worst}); the column of per-image verdicts says on how many images they agree.")
    deep = comparison.get("DeepFool")
    if deep:
        text += (f" DeepFool's median L-infinity perturbation: {deep['art_median_linf']:.4f} through ART, "
                 f"{deep['readable_median_linf']:.4f} through the readable function.")
    return text


def show_agreement(comparison: dict) -> None:
    show_table(*agreement_table(comparison))
    show_markdown(agreement_summary(comparison))


# ---------------------------------------------------------------------------------------------------
# Findings


def _accuracy(value: Any, n: int) -> stats.Interval | None:
    """An accuracy measured on ``n`` images as its 95% Wilson interval; None when it was not measured."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value) or n <= 0:
        return None
    return interval(float(value), n)


def _no_gain_beyond(a: stats.Interval, b: stats.Interval, margin: float) -> str:
    """Whether ``a - b <= margin``: holds when the difference's interval lies at or under the margin."""
    return {HOLDS: DOES_NOT_HOLD, DOES_NOT_HOLD: HOLDS}.get(exceeds(a, b, by=margin), NOT_SHOWN)


def _gain(a: stats.Interval | None, b: stats.Interval | None) -> str:
    return "not measured" if a is None or b is None else f"{100 * (a.estimate - b.estimate):+.1f} points"


def _check(check, *values, **options) -> str:
    """``check(*values)``, or not shown when a value was not measured in this run."""
    return NOT_SHOWN if any(v is None for v in values) else check(*values, **options)


def findings(models: Models | Mapping[str, dict], denoiser_rows: list[dict]) -> list[Outcome]:
    """Each finding of ``reference.FINDINGS`` judged on this run: accuracies as 95% Wilson intervals over the images
    each was measured on (AutoAttack and the adaptive attack on their first images only)."""
    evals = models.evals if isinstance(models, Models) else models
    judged = {f.key: f for f in FINDINGS}
    out = []

    def judge(key: str, status: str, evidence: str, contradicted: str = "") -> None:
        finding = judged[key]
        measured = contradicted if status == DOES_NOT_HOLD and not finding.ours else ""
        out.append(finding.judge(status, evidence, measured=measured))

    def acc(kind: str, column: str, n_key: str = "images"):
        e = evals.get(kind, {})
        return _accuracy(e.get(column), e.get(n_key, 0))

    nat_pgd, at_pgd = acc("natural", "pgd"), acc("pgd_at", "pgd")
    nat_clean, at_clean, at_fgsm = acc("natural", "natural"), acc("pgd_at", "natural"), acc("pgd_at", "fgsm")
    judge("pgd_at_raises_pgd_accuracy", _check(exceeds, at_pgd, nat_pgd, by=GAIN),
          f"PGD accuracy: PGD-trained {percent(at_pgd)}, natural {percent(nat_pgd)} ({_gain(at_pgd, nat_pgd)})",
          f"PGD accuracy {percent(at_pgd)} against {percent(nat_pgd)}")
    judge("pgd_at_costs_clean_accuracy", _check(exceeds, nat_clean, at_clean),
          f"clean accuracy: natural {percent(nat_clean)}, PGD-trained {percent(at_clean)}",
          f"clean accuracy {percent(at_clean)} after, {percent(nat_clean)} before")
    judge("pgd_at_fgsm_below_pgd", _check(exceeds, at_pgd, at_fgsm),
          f"PGD-trained model: FGSM {percent(at_fgsm)}, PGD {percent(at_pgd)}",
          f"FGSM, the weaker attack, leaves {percent(at_fgsm)}, PGD {percent(at_pgd)}")

    rows = {(r["layers"], r["noise"]): r for r in denoiser_rows}
    n_test = evals.get("natural", {}).get("images", 0)
    fgsm = {config: _accuracy(r["fgsm"], n_test) for config, r in rows.items()}
    base, best = rows[(0, False)], best_denoiser(denoiser_rows)
    best_key, deepest = (best["layers"], True), max(layers for layers, _ in rows)
    judge("denoiser_raises_fgsm_accuracy", _check(exceeds, fgsm[best_key], fgsm[(0, False)], by=GAIN),
          f"transferred FGSM: noise + {best['layers']} autoencoder(s) {percent(fgsm[best_key])}, undefended "
          f"{percent(fgsm[(0, False)])}",
          f"FGSM accuracy {percent(fgsm[best_key])} with the best denoiser, {percent(fgsm[(0, False)])} without")
    judge("denoiser_needs_input_noise",
          all_of(_check(exceeds, fgsm[(1, True)], fgsm[(1, False)]), _check(_no_gain_beyond, fgsm[(1, False)], fgsm[(0, False)], VANISHED)),
          f"transferred FGSM: one autoencoder {percent(fgsm[(1, False)])} without noise, {percent(fgsm[(1, True)])} with; "
          f"undefended {percent(fgsm[(0, False)])}",
          f"one autoencoder without noise {percent(fgsm[(1, False)])}, with noise {percent(fgsm[(1, True)])}")
    if deepest > 1:
        judge("stacking_denoisers_raises_fgsm_accuracy", _check(exceeds, fgsm[(deepest, True)], fgsm[(1, True)]),
              f"transferred FGSM with noise: {deepest} autoencoders {percent(fgsm[(deepest, True)])}, one "
              f"{percent(fgsm[(1, True)])}",
              f"{deepest} autoencoders {percent(fgsm[(deepest, True)])}, one {percent(fgsm[(1, True)])}")
    else:
        judge("stacking_denoisers_raises_fgsm_accuracy", NOT_SHOWN, "this run stacks at most one autoencoder")

    pcl_pgd = acc("pcl", "pgd")
    judge("pcl_raises_attacked_accuracy", _check(exceeds, pcl_pgd, nat_pgd, by=GAIN),
          f"PGD accuracy: PCL {percent(pcl_pgd)}, natural {percent(nat_pgd)} ({_gain(pcl_pgd, nat_pgd)})",
          f"PGD accuracy {percent(pcl_pgd)} after PCL, {percent(nat_pgd)} before")

    m = best["adaptive_images"]
    adaptive, white_box = _accuracy(best["adaptive"], m), _accuracy(base["adaptive"], m)
    judge("denoiser_falls_to_eot", _check(_no_gain_beyond, adaptive, white_box, VANISHED),
          f"first {m} images: noise + {best['layers']} autoencoder(s) under EOT-PGD {percent(adaptive)} (transferred PGD "
          f"{percent(_accuracy(best['pgd_subset'], m))}); undefended model under PGD {percent(white_box)}")

    natural_aa = acc("natural", "autoattack", "autoattack_images")
    for key, kind, check in (("pgd_at_survives_autoattack", "pgd_at", lambda a: exceeds(a, natural_aa, by=GAIN)),
                             ("regularized_gain_vanishes_under_autoattack", "regularized",
                              lambda a: _no_gain_beyond(a, natural_aa, VANISHED)),
                             ("pcl_gain_vanishes_under_autoattack", "pcl", lambda a: _no_gain_beyond(a, natural_aa, VANISHED))):
        aa = acc(kind, "autoattack", "autoattack_images")
        if aa is None or natural_aa is None:
            judge(key, NOT_SHOWN, "AutoAttack did not run on both models")
            continue
        pgd_same = acc(kind, "pgd_on_autoattack_images", "autoattack_images")
        natural_pgd_same = acc("natural", "pgd_on_autoattack_images", "autoattack_images")
        judge(key, check(aa),
              f"first {evals[kind]['autoattack_images']} images, {MODEL_LABELS[kind]} against natural: AutoAttack "
              f"{percent(aa)} against {percent(natural_aa)} ({_gain(aa, natural_aa)}); PGD {percent(pgd_same)} against "
              f"{percent(natural_pgd_same)} ({_gain(pgd_same, natural_pgd_same)})")
    return out
