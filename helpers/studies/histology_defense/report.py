"""What the histology defense study's results say: tables, prose written from the measured numbers, the headline.

The source study's numbers (``reference.py``) appear only in columns labelled "study" and beside the headline.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from helpers.headline import Metric, metric
from helpers.tables import show_table

from . import preprocessors as pre_mod
from .adversarial_set import DefenseSet
from .reference import REFERENCE, STUDY_FINAL, STUDY_LIGHTGBM, STUDY_MODEL_ACCURACY, STUDY_PREPROCESSORS, STUDY_TABLE
from .study import AdaptiveResult, AdversarialMix, FinalEvaluation, FixedModel, PostResults, PostStudy, SplitRatios


def pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{100 * value:.1f}%"


# ---------------------------------------------------------------------------------------------------
# 1. Tiles and the fixed model


def show_data(data) -> None:
    """What was loaded, and the tiles per group on each side of the split."""
    print(data.describe())
    train, test = data.class_counts("train"), data.class_counts("test")
    show_table([[g, train[g], test[g]] for g in data.classes], ["group", "train tiles", "held-out tiles"])


def show_model(fixed: FixedModel) -> None:
    print(f"model {fixed.source}; accuracy on the {fixed.held_out_tiles} held-out tiles: {pct(fixed.held_out_accuracy)}; "
          f"{len(fixed.y_clean)} correctly classified tiles form the clean set")


# ---------------------------------------------------------------------------------------------------
# 2. The adversarial set


def show_attacks(adv: AdversarialMix) -> None:
    """Per attack: tiles attacked, kept, success rate, distance and time; then the mix and what it means."""
    show_table([[r["attack"], r["attacked"], r["kept"], r["success"], f"{r['mean_linf']:.3f}", f"{r['seconds']:.1f}"] for r in adv.records],
               ["attack", "tiles attacked", "kept (misclassified)", "success rate", "mean L-inf distance", "seconds"])
    show_table([[k, v] for k, v in adv.mix.composition().items()] + [["undefended accuracy on the mix", adv.undefended["overall"]]],
               ["images", "count"])
    print(composition_summary(adv.mix, adv.records))


def composition_summary(data: DefenseSet, records: list[dict]) -> str:
    comp = data.composition()
    n_adv = len(data) - comp["clean"]
    parts = ", ".join(f"{r['attack']} fooled the model on {r['kept']} of {r['attacked']} tiles ({pct(r['success'])})" for r in records)
    return (
        f"The mix holds {comp['clean']} clean and {n_adv} adversarial images: {parts}. The undefended model is right on "
        f"every clean image and wrong on every adversarial one by construction, so its accuracy on the mix is the clean "
        f"share, {pct(data.clean_share)} (the study's sample: {pct(STUDY_MODEL_ACCURACY)}), and its harmonic mean is 0."
    )


# ---------------------------------------------------------------------------------------------------
# 3. Pre-processors


BEST_SETTING_COLUMNS = ["pre-processor", "best setting", "clean acc", "adv acc", "harmonic mean", "ms / image",
                        "images (fine stage)", "study: clean / adv (best)"]


def best_setting_rows(searches: dict[str, pre_mod.SearchResult], undefended: dict) -> list[list]:
    """One row per pre-processor: best value, clean / adversarial accuracy, harmonic mean, ms per image, and the study's."""
    rows = [["none", "-", undefended["clean"], undefended["adversarial"], undefended["harmonic"], "-", "-", "-"]]
    for name, result in searches.items():
        best, ref = result.best, STUDY_PREPROCESSORS[name]
        study = "-" if ref["clean"] is None else f"{100 * ref['clean']:.0f}% / {100 * ref['adversarial']:.0f}%"
        rows.append([
            pre_mod.PREPROCESSORS[name].title, f"{pre_mod.PREPROCESSORS[name].hyperparameter}={pre_mod.format_value(best['value'])}",
            best["clean"], best["adversarial"], best["harmonic"], f"{best['ms_per_image']:.2f}", best["images"],
            f"{study}" + (f" (best {ref['best_value']})" if ref["best_value"] is not None else ""),
        ])
    return rows


def show_search(searches: dict[str, pre_mod.SearchResult], adv: AdversarialMix) -> None:
    show_table(best_setting_rows(searches, adv.undefended), BEST_SETTING_COLUMNS)
    print(search_summary(searches))


def search_summary(searches: dict[str, pre_mod.SearchResult]) -> str:
    if not searches:
        return "No pre-processor was searched."
    ranked = sorted(searches.items(), key=lambda kv: -np.nan_to_num(kv[1].best["harmonic"], nan=-1))
    sentences = []
    for name, result in ranked:
        best = result.best
        sentences.append(
            f"{pre_mod.describe(name, best['value'])}: clean {pct(best['clean'])}, adversarial {pct(best['adversarial'])}, "
            f"harmonic mean {pct(best['harmonic'])} at {best['ms_per_image']:.2f} ms per image."
        )
    top = ranked[0]
    sentences.append(f"By the harmonic mean, {pre_mod.PREPROCESSORS[top[0]].title.lower()} is the best pre-processor here.")
    trade = [pre_mod.PREPROCESSORS[n].title for n, r in searches.items() if not np.isnan(r.best["clean"]) and r.best["clean"] < 0.999]
    if trade:
        sentences.append(f"At its best setting, {', '.join(trade)} give{'s' if len(trade) == 1 else ''} up some clean accuracy to recover "
                         "adversarial tiles: the harmonic mean picks that balance.")
    return " ".join(sentences)


# ---------------------------------------------------------------------------------------------------
# 4. Post-processors


def show_lightgbm_grids(post: PostResults, shown: int = 5) -> None:
    """The split sizes, then per pre-processor the best LightGBM grid settings on the validation part."""
    from IPython.display import Markdown, display

    splits = post.splits
    print(f"{len(splits['fit'])} images to fit LightGBM, {len(splits['validation'])} to validate, {len(splits['test'])} held out "
          f"({post.test_tiles} source tiles)")
    for name, study in post.posts.items():
        top = sorted(study.grid.records, key=lambda r: -np.nan_to_num(r["harmonic"], nan=-1))[:shown]
        display(Markdown(f"LightGBM grid with {pre_mod.describe(name, study.value)}: the {shown} best of {len(study.grid.records)} settings "
                         f"(validation part; study: learning rate {STUDY_LIGHTGBM['learning_rate']}, "
                         f"{STUDY_LIGHTGBM['num_leaves']} leaves, {STUDY_LIGHTGBM['n_estimators']} rounds)"))
        show_table([[f"{r['learning_rate']:g}", r["num_leaves"], r["n_estimators"], r["clean"], r["adversarial"], r["harmonic"]] for r in top],
                   ["learning rate", "leaves", "rounds", "clean acc", "adv acc", "harmonic mean"])


RESULTS_COLUMNS = ["pre-processor", "post-processor", "model acc", "pre-processed acc", "post-processed acc",
                   "post-processed harmonic mean", "study: model -> pre -> post"]


def results_table_rows(posts: dict[str, PostStudy]) -> list[list]:
    rows = []
    for name, study in posts.items():
        for r in study.table:
            ref = STUDY_TABLE.get((name, r["postprocessor"]))
            rows.append([pre_mod.describe(name, study.value), r["title"], r["model"], r["pre"], r["post"], r["post_harmonic"],
                         "-" if ref is None else " -> ".join(f"{100 * v:.2f}%" for v in ref)])
    return rows


def show_results_table(post: PostResults) -> None:
    show_table(results_table_rows(post.posts), RESULTS_COLUMNS)
    print(post_summary(post.posts))


def post_summary(posts: dict[str, PostStudy]) -> str:
    sentences = []
    for name, study in posts.items():
        rows = {r["postprocessor"]: r for r in study.table}
        art = [r for k, r in rows.items() if k != "lightgbm"]
        unchanged = [r["title"] for r in art if abs(r["post"] - r["pre"]) < 1e-9]
        lgbm = rows["lightgbm"]
        sentences.append(
            f"With {pre_mod.describe(name, study.value)} the held-out accuracy goes from {pct(lgbm['model'])} (model) to "
            f"{pct(lgbm['pre'])} (pre-processed); LightGBM takes it to {pct(lgbm['post'])} (harmonic mean {pct(lgbm['post_harmonic'])})."
        )
        if unchanged:
            sentences.append(
                f"{', '.join(unchanged)} leave{'s' if len(unchanged) == 1 else ''} the accuracy exactly where it was: they change "
                "the reported scores, not which class has the highest one, so they can hide a model's confidence but not undo an attack."
            )
        moved = [f"{r['title']} ({pct(r['pre'])} -> {pct(r['post'])})" for r in art if abs(r["post"] - r["pre"]) >= 1e-9]
        if moved:
            sentences.append(f"Among ART's post-processors only {', '.join(moved)} change{'s' if len(moved) == 1 else ''} the accuracy, through ties or noise in the scores.")
    return " ".join(sentences)


def show_split_ratios(ratios: SplitRatios, post: PostResults) -> None:
    """Mean +- std over seeds per ratio, then the final defense and how much of a difference is noise."""
    show_table([[f"{r['ratio']:g}", r["seeds"], f"{100 * r['validation_harmonic_mean']:.1f}% +- {100 * r['validation_harmonic_std']:.1f}",
                 f"{100 * r['test_harmonic_mean']:.1f}% +- {100 * r['test_harmonic_std']:.1f}"] for r in ratios.summary],
               ["validation ratio", "seeds", "harmonic mean, validation part", "harmonic mean, held-out tiles"])
    settings = post.settings
    print(f"Final defense (best LightGBM validation score): {pre_mod.describe(post.final_name, post.final.value)} + LightGBM "
          f"(learning rate {settings['learning_rate']:g}, {settings['num_leaves']} leaves, {settings['n_estimators']} rounds). "
          f"Across seeds the held-out harmonic mean varies by up to {pct(ratios.spread)} (standard deviation) at one ratio, so differences "
          "between ratios smaller than that are noise.")


# ---------------------------------------------------------------------------------------------------
# 5. The final defense


def show_final(final: FinalEvaluation) -> None:
    """Counts on all images (the study's way), on the held-out tiles and the study's; then what they mean."""
    a, h, s = final.counts_all, final.counts_held, STUDY_FINAL
    show_table([
        ["clean correct / total", f"{a['clean_correct']} / {a['clean_total']}", f"{h['clean_correct']} / {h['clean_total']}", f"{s['clean_correct']} / {s['clean_total']}"],
        ["adversarial correct / total", f"{a['adversarial_correct']} / {a['adversarial_total']}", f"{h['adversarial_correct']} / {h['adversarial_total']}", f"{s['adversarial_correct']} / {s['adversarial_total']}"],
        ["harmonic mean", f"{a['harmonic']:.4f}", f"{h['harmonic']:.4f}", f"{s['harmonic']:.4f}"],
    ], ["", "all images (study-style)", "held-out tiles only", "study"])
    print(final_summary(final.counts_all, final.counts_held))
    print(no_defense_summary(final.counts_held["harmonic"], final.no_defense))


def final_summary(all_counts: dict, held_counts: dict) -> str:
    gap = all_counts["harmonic"] - held_counts["harmonic"]
    verdict = (
        f"Scored the study's way, on every image including LightGBM's own training images, the harmonic mean is "
        f"{all_counts['harmonic']:.4f}; on the held-out tiles LightGBM never saw it is {held_counts['harmonic']:.4f}"
    )
    if gap > 0.01:
        verdict += f", {100 * gap:.1f} points lower: the study-style number is inflated by training images, the held-out one is the one to report."
    elif gap < -0.01:
        verdict += ", higher on the held-out tiles here (a small held-out set is noisy); the held-out number is still the one to report."
    else:
        verdict += ": the two agree within a point here."
    return verdict


def no_defense_summary(defended: float, undefended: float) -> str:
    """The defense against no defense on the same held-out tiles (undefended: 0 by construction of the mix)."""
    text = f"No defense scores a harmonic mean of {undefended:.4f} on the same held-out tiles"
    if defended >= undefended:
        return text + f"; the defense adds {100 * (defended - undefended):.1f} points."
    return text + (f", more than the defense's {defended:.4f}: on these tiles the chosen defense does harm, so the search "
                   "or LightGBM's training data was too small to pick a defense that generalises.")


# ---------------------------------------------------------------------------------------------------
# 6. and 7. Honest evaluations


def show_holdout(rows: list[dict]) -> None:
    show_table([[r["held_out_attack"], r["test_images"], r["seen"]["adversarial"], r["unseen"]["adversarial"], r["seen"]["harmonic"], r["unseen"]["harmonic"]]
                for r in rows],
               ["held-out attack", "its test images", "adv acc, attack seen", "adv acc, attack unseen", "harmonic mean, seen", "harmonic mean, unseen"])
    print(holdout_summary(rows))


def holdout_summary(rows: list[dict]) -> str:
    if not rows:
        return "No attack could be held out (the mix needs at least two attack families with adversarial images)."
    parts = []
    for r in rows:
        parts.append(
            f"{r['held_out_attack'].upper() if r['held_out_attack'] != 'deepfool' else 'DeepFool'}: adversarial accuracy "
            f"{pct(r['seen']['adversarial'])} when LightGBM saw this attack in training, {pct(r['unseen']['adversarial'])} when it did not"
        )
    drops = [r["seen"]["adversarial"] - r["unseen"]["adversarial"] for r in rows]
    worst = rows[int(np.nanargmax(drops))] if np.isfinite(drops).any() else rows[0]
    tail = (
        f" The largest drop is for {worst['held_out_attack']}: a learned post-processor partly memorises what each attack does to the "
        "softmax outputs, and an attacker is free to use an attack it was not trained on."
        if np.nanmax(drops) > 0.02 else " Here leaving an attack out costs little: the attacks move the softmax outputs in similar ways."
    )
    return "; ".join(parts) + "." + tail


def show_adaptive(result: AdaptiveResult) -> None:
    """Accuracy of the undefended model, the pre-processor and the whole defense on clean, plain-PGD and adaptive-PGD tiles."""
    names = (("clean", "clean tiles"), ("plain", f"plain PGD eps={result.eps:g}"), ("adaptive", f"adaptive BPDA-PGD eps={result.eps:g}"))
    show_table([[name, result.accuracy[key]["undefended"], result.accuracy[key]["pre-processor"], result.accuracy[key]["defense"]]
                for key, name in names],
               ["images", "undefended", result.defense, "pre-processor + LightGBM"])
    print(adaptive_summary(result))
    print(f"Harmonic mean of the defense on these tiles: {result.plain_harmonic:.4f} against plain PGD, "
          f"{result.adaptive_harmonic:.4f} against adaptive PGD.")


def adaptive_summary(result: AdaptiveResult) -> str:
    plain, adaptive = result.accuracy["plain"]["defense"], result.accuracy["adaptive"]["defense"]
    text = (
        f"On {result.images} held-out clean tiles, PGD-{result.steps} at eps={result.eps:g} leaves the undefended model "
        f"{pct(result.accuracy['plain']['undefended'])} accuracy. The full defense (pre-processor + LightGBM) recovers {pct(plain)} of the plain "
        f"PGD examples (made against the bare model) but only {pct(adaptive)} of the adaptive ones (PGD through the pre-processor with "
        f"BPDA). "
    )
    if plain - adaptive > 0.02:
        text += "The plain number overstates the defense: an attacker who knows the pre-processor gets through it, so the adaptive number is the one to report."
    else:
        text += "Here the adaptive attack does no better than the plain one at this budget; a larger budget or more steps may change that."
    return text


# ---------------------------------------------------------------------------------------------------
# The headline and the detail for metrics.json


def _best(searches: Mapping[str, pre_mod.SearchResult], name: str) -> dict:
    """The best record of pre-processor ``name``'s search, or empty values when it was not searched."""
    result = searches.get(name)
    return result.best if result is not None else {"harmonic": None, "value": None, "images": None}


def headline(fixed: FixedModel, adv: AdversarialMix, searches: Mapping[str, pre_mod.SearchResult], post: PostResults,
             final: FinalEvaluation, holdout: list[dict], adaptive: AdaptiveResult, params: Mapping[str, Any]) -> list[Metric]:
    """Stable keys at every preset: settings, budgets and sizes are the metrics' detail."""
    smoothing, jpeg = _best(searches, "spatial_smoothing"), _best(searches, "jpeg")
    drops = [r["seen"]["adversarial"] - r["unseen"]["adversarial"] for r in holdout]
    worst = holdout[int(np.nanargmax(drops))] if holdout and np.isfinite(drops).any() else None
    attack = {"eps": adaptive.eps, "steps": adaptive.steps, "tiles": adaptive.images, "defense": final.description}
    return [
        metric("model_accuracy", "CNN accuracy on the held-out tiles", fixed.held_out_accuracy, unit="%", reference=REFERENCE,
               tiles=fixed.held_out_tiles, model=fixed.source),
        metric("undefended_accuracy", "undefended accuracy on the clean + adversarial mix", adv.undefended["overall"], unit="%",
               reference=REFERENCE, clean=adv.clean_images, adversarial=adv.adversarial_images),
        metric("spatial_smoothing_harmonic", "spatial smoothing at its best window, harmonic mean", smoothing["harmonic"], unit="%",
               reference=REFERENCE, window_size=smoothing["value"], images=smoothing["images"]),
        metric("jpeg_harmonic", "JPEG compression at its best quality, harmonic mean", jpeg["harmonic"], unit="%",
               reference=REFERENCE, quality=jpeg["value"], images=jpeg["images"]),
        metric("final_harmonic_all_images", "final defense, harmonic mean on all images (study-style)", final.counts_all["harmonic"],
               unit="%", reference=REFERENCE, defense=final.description, images=len(adv.mix)),
        metric("final_harmonic_held_out", "final defense, harmonic mean on held-out tiles", final.counts_held["harmonic"], unit="%",
               reference=REFERENCE, defense=final.description, images=len(post.splits["test"])),
        metric("unseen_attack_adversarial_accuracy", "final defense, adversarial accuracy on an attack left out of LightGBM's training (largest drop)",
               worst["unseen"]["adversarial"] if worst else None, unit="%", reference=REFERENCE,
               **({"attack": worst["held_out_attack"], "test_images": worst["test_images"]} if worst else {})),
        metric("plain_pgd_defense_accuracy", "final defense against plain PGD (made on the bare model)",
               adaptive.accuracy["plain"]["defense"], unit="%", reference=REFERENCE, **attack),
        metric("adaptive_pgd_defense_accuracy", "final defense against adaptive BPDA-PGD (through the pre-processor)",
               adaptive.accuracy["adaptive"]["defense"], unit="%", reference=REFERENCE, **attack),
    ]


def extra(fixed: FixedModel, adv: AdversarialMix, searches: Mapping[str, pre_mod.SearchResult], post: PostResults,
          ratios: SplitRatios, final: FinalEvaluation, holdout: list[dict], adaptive: AdaptiveResult) -> dict:
    """The detail behind the headline, for ``metrics.json``: every table of the report as records."""
    return {
        "model": fixed.source,
        "final_defense": final.description,
        "composition": adv.mix.composition(),
        "attacks": adv.records,
        "preprocessor_search": {n: [{k: v for k, v in r.items() if k != "probs"} for r in s.records] for n, s in searches.items()},
        "results_table": [r for p in post.posts.values() for r in p.table],
        "lightgbm_settings": post.settings,
        "split_ratios": ratios.summary,
        "attack_holdout": holdout,
        "final_counts": {"all_images": final.counts_all, "held_out": final.counts_held, "study": STUDY_FINAL,
                         "no_defense_held_out_harmonic": final.no_defense},
        "adaptive": {"images": adaptive.images, "eps": adaptive.eps, "steps": adaptive.steps, **adaptive.accuracy,
                     "plain_harmonic": adaptive.plain_harmonic, "adaptive_harmonic": adaptive.adaptive_harmonic},
    }
