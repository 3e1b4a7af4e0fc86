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
from .jpeg_history import JpegCheck
from .study import (ATTACKS, AdaptiveResult, AdversarialMix, DecisionAttack, EndToEndResult, FinalEvaluation, FixedModel,
                    PostResults, PostStudy, SplitRatios)


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


def show_jpeg_check(check: JpegCheck, searches: Mapping[str, pre_mod.SearchResult]) -> None:
    """Clean accuracy per tissue class without and with JPEG at the chosen quality, then what it says."""
    if check.quality is None:
        print(f"No JPEG-history check: {check.source}.")
        return
    show_table([[r["tissue"], r["group"], r["tiles"], r["without"], r["with"], f"{100 * r['change']:+.1f}", r["flipped"]] for r in check.rows]
               + [["all held-out tiles", "-", sum(r["tiles"] for r in check.rows), check.overall_without, check.overall_with,
                   f"{100 * (check.overall_with - check.overall_without):+.1f}", sum(r["flipped"] for r in check.rows)]],
               ["tissue class", "group", "held-out tiles", "clean acc, no JPEG", f"clean acc, JPEG q={check.quality}",
                "change (points)", "answers changed"])
    print(jpeg_check_summary(check, searches))


def jpeg_check_summary(check: JpegCheck, searches: Mapping[str, pre_mod.SearchResult]) -> str:
    """What the per-class clean check says about JPEG's score (the search's numbers beside it)."""
    text = (f"JPEG at quality {check.quality} ({check.source}) takes the CNN's clean accuracy on all held-out tiles from "
            f"{pct(check.overall_without)} to {pct(check.overall_with)}.")
    search = searches.get("jpeg")
    if search is not None:
        best = search.best
        text += (f" In the search, its best setting (quality {pre_mod.format_value(best['value'])}) scored clean {pct(best['clean'])}, "
                 f"adversarial {pct(best['adversarial'])}, harmonic mean {pct(best['harmonic'])} on the mix.")
    hurt = check.most_hurt
    if hurt is None or np.isnan(check.spread):
        return text + " With fewer than two tissue classes among the held-out tiles there is nothing to compare across classes."
    changes = ", ".join(f"{r['tissue']} {100 * r['change']:+.1f}" for r in check.rows if r["tiles"])
    text += (f" Per tissue class the change is {changes} points; the spread between classes is {100 * check.spread:.1f} points, "
             f"against about {100 * check.noise:.1f} points that chance alone gives with these tile counts.")
    if check.spread > check.noise and check.spread > 0.02:
        text += (f" The effect is class-dependent: JPEG costs {hurt['tissue']} ({hurt['group']}) the most, so part of what JPEG does to "
                 "the harmonic mean is about which classes it degrades, which can reflect the tiles' own compression history "
                 "(documented for NCT-CRC-HE-100K) rather than any defense against attacks. Read JPEG's rows with that in mind.")
    else:
        text += (" The changes are within chance of each other: no sign here that JPEG's score is driven by class-dependent "
                 "compression history in these tiles.")
    return text


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
# 8. The end-to-end attacker and HopSkipJump


def _cell(value) -> object:
    return "-" if value is None else value


def end_to_end_rows(result: EndToEndResult) -> list[list]:
    """Two lines per defense: accuracy under each attack, and the harmonic mean (with the clean accuracy) under it."""
    rows = []
    for r in result.rows:
        rows.append([r["defense"], r["post_title"], "accuracy", r["clean"], *[_cell(r[k]) for k in ATTACKS], r["worst"]])
        rows.append(["", "", "harmonic mean", "-", *[_cell(r[f"harmonic_{k}"]) for k in ATTACKS], r["harmonic_worst"]])
    return rows


END_TO_END_COLUMNS = ["pre-processor", "post-processor", "", "clean", *ATTACKS.values(), "worst of the three (per tile)"]


def show_end_to_end(result: EndToEndResult) -> None:
    """The surrogates' agreement with LightGBM, the table of every defense under the three attacks, and what survives."""
    show_table([[pre_mod.describe(name, result.row(name, "none")["value"]), s.train_inputs, s.agreement_train,
                 f"{pct(s.agreement_held_out)} ({s.held_out_inputs})", f"{pct(s.agreement_random)} ({s.random_inputs})",
                 f"{pct(s.agreement_attack)} ({s.attack_inputs})"] for name, s in result.surrogates.items()],
               ["surrogate of LightGBM behind", "training inputs", "agreement, training inputs", "agreement, held-out tiles (inputs)",
                "agreement, fresh random softmax vectors", "agreement, at the end-to-end examples"])
    print(surrogate_summary(result))
    show_table(end_to_end_rows(result), END_TO_END_COLUMNS)
    print(end_to_end_summary(result))


def surrogate_summary(result: EndToEndResult) -> str:
    parts = []
    for name, s in result.surrogates.items():
        parts.append(f"behind {pre_mod.PREPROCESSORS[name].title.lower()} it picks LightGBM's class on {pct(s.agreement_held_out)} of the "
                     f"{s.held_out_inputs} held-out softmax vectors, {pct(s.agreement_random)} of fresh random ones and "
                     f"{pct(s.agreement_attack)} of the end-to-end attack's own examples")
    worst = min((s.agreement_attack for s in result.surrogates.values() if not np.isnan(s.agreement_attack)), default=float("nan"))
    rounds = max((s.rounds for s in result.surrogates.values()), default=1)
    text = ("The surrogate (a small network trained on LightGBM's answers" + (f"; the last of {rounds} rounds, each refit where the "
            "previous round's attack went" if rounds > 1 else "") + ") agrees with LightGBM: " + "; ".join(parts) + ".")
    if not np.isnan(worst) and worst < 0.9:
        text += (" Where it disagrees at the attack's own examples, its gradient points somewhere LightGBM does not follow: a better "
                 "surrogate could only make the end-to-end numbers lower.")
    return text


def end_to_end_summary(result: EndToEndResult) -> str:
    """The final defense under the three attacks, where the end-to-end attacker gains, and what survives (worst case per tile)."""
    final = result.final_row
    text = (f"On {result.images} held-out clean tiles at eps={result.eps:g} (PGD-{result.steps}, every number scored on the real pipeline), "
            f"the final defense ({final['defense']} + LightGBM) keeps {pct(final['transfer'])} of the tiles against the transfer attack, "
            f"{pct(final['bpda'])} against BPDA through the pre-processor and {pct(final['end_to_end'])} against the end-to-end attacker "
            f"(harmonic means {pct(final['harmonic_transfer'])}, {pct(final['harmonic_bpda'])} and {pct(final['harmonic_end_to_end'])}).")
    lightgbm = [r for r in result.rows if r["postprocessor"] == "lightgbm"]
    weaker = [r for r in lightgbm if r["end_to_end"] > min(r["transfer"], r["bpda"]) + 1e-9]
    if weaker:
        text += (" Against " + ", ".join(f"{r['defense']} + LightGBM" for r in weaker) + " the end-to-end attack does worse than a simpler "
                 "one: the surrogate's gradient is not the best direction everywhere, so the per-tile worst case over the three attacks "
                 "is the number to report.")
    else:
        text += " Against every LightGBM row the end-to-end attack does at least as well as the transfer and BPDA attacks."
    for name in result.surrogates:
        text += " " + lightgbm_gain(result.row(name, "none"), result.row(name, "lightgbm"))
    art = [r for r in result.rows if r["postprocessor"] in ("high_confidence", "reverse_sigmoid", "rounded", "class_labels")]
    same = all(r[k] == result.row(r["preprocessor"], "none")[k] for r in art for k in ("clean", "transfer", "bpda"))
    if art and same:
        text += (" ART's argmax-preserving post-processors (high confidence, reverse sigmoid, rounded, class labels) give exactly the "
                 "pre-processor's numbers: they change the scores, never the class.")
    best = max(result.rows, key=lambda r: r["harmonic_worst"])
    text += (f" What survives: the best worst-case harmonic mean is {pct(best['harmonic_worst'])}, for {best['defense']}"
             f"{'' if best['postprocessor'] == 'none' else ' + ' + best['post_title']} ({pct(best['clean'])} clean, {pct(best['worst'])} "
             f"of the tiles withstand all three attacks). Attacks only give upper bounds: a stronger attacker may do better still.")
    return text


def lightgbm_gain(alone: dict, with_lgbm: dict) -> str:
    """What LightGBM adds to a pre-processor's harmonic mean against the transfer attack, and how much of it survives the worst case."""
    transfer = with_lgbm["harmonic_transfer"] - alone["harmonic_transfer"]
    worst = with_lgbm["harmonic_worst"] - alone["harmonic_worst"]
    text = (f"Behind {alone['defense']}, LightGBM changes the harmonic mean by {100 * transfer:+.1f} points against the transfer attack "
            f"and by {100 * worst:+.1f} points in the worst case over the three attacks")
    if transfer <= 0.02:
        return text + ": it adds nothing here even against attacks made on the bare model."
    if worst <= 0.02:
        return text + ": what it adds against attacks made on the bare model does not survive an attacker who goes through it."
    if worst >= transfer:
        return text + ": all of its gain survives an attacker who goes through it."
    return text + f": {100 * worst / transfer:.0f}% of its gain survives an attacker who goes through it."


def show_decision(result: DecisionAttack) -> None:
    """HopSkipJump beside the gradient attacks on the same tiles, then what the comparison says."""
    d, g = result.result, result.gradient
    show_table([[ATTACKS.get(k, k if k != "worst" else "worst of the three (per tile)"), g[k],
                 "-" if k == "clean" else _harmonic(g["clean"], g[k])] for k in g]
               + [[f"HopSkipJump ({d.settings['max_iter']} iterations, at most {d.settings['max_eval']} queries per estimate)",
                   d.accuracy, d.harmonic]],
               ["attack on the final defense", f"accuracy on {d.images} tiles", "harmonic mean"])
    print(decision_summary(result))


def _harmonic(clean: float, adversarial: float) -> float:
    from helpers.metrics import harmonic_mean

    return float("nan") if np.isnan(clean) or np.isnan(adversarial) else harmonic_mean(clean, adversarial)


def decision_summary(result: DecisionAttack) -> str:
    d, g = result.result, result.gradient
    found = int((np.isfinite(d.distances) & d.clean_correct).sum())
    within = int((d.clean_correct & (d.distances <= d.eps + 1e-6)).sum())
    text = (f"HopSkipJump sees only the final pipeline's answers ({result.defense}): {d.queries} queries in all. Of {d.images} tiles the "
            f"pipeline gets {int(d.clean_correct.sum())} right; HopSkipJump started on {d.started} and found a misclassified image for {found}, "
            f"{within} of them within eps={d.eps:g} (median L-inf distance {'n/a' if np.isnan(d.median_distance) else f'{d.median_distance:.3g}'}). So {pct(d.accuracy)} of the tiles survive it, "
            f"against {pct(g['end_to_end'])} under the end-to-end gradient attack and {pct(g['worst'])} under the worst of the three on the same tiles.")
    if d.started == 0:
        return text + (" HopSkipJump could not start on any tile: neither another clean tile nor any of the random images it tried "
                       "is put in another class by the pipeline, so this run gives no second opinion (more tiles or a larger "
                       "hsj_init_size would).")
    missed = result.missed_by_gradients
    if missed:
        text += (f" On {missed} of these tiles HopSkipJump finds a misclassified image within the budget although the tile withstood "
                 "all three gradient attacks: there the gradients (BPDA, surrogate) mislead the attacker, so robustness measured with "
                 "them is overstated.")
    elif within == 0:
        text += (" It breaks no tile within the budget, so at this query budget it finds nothing the gradient attacks missed"
                 + (" (it is weaker than them here, as a decision-based attack with few queries usually is)." if d.accuracy > g["worst"] + 1e-9 else "."))
    else:
        text += (" Every tile HopSkipJump breaks within the budget was also broken by a gradient attack: at this query budget it "
                 "finds nothing the gradient attacks missed, so there is no sign that the surrogate or BPDA gradients hide "
                 "adversarial images" + (" (it is weaker than them here, as a decision-based attack with few queries usually is)."
                                         if d.accuracy > g["worst"] + 1e-9 else "."))
    return text


# ---------------------------------------------------------------------------------------------------
# The headline and the detail for metrics.json


def _best(searches: Mapping[str, pre_mod.SearchResult], name: str) -> dict:
    """The best record of pre-processor ``name``'s search, or empty values when it was not searched."""
    result = searches.get(name)
    return result.best if result is not None else {"harmonic": None, "value": None, "images": None}


def headline(fixed: FixedModel, adv: AdversarialMix, searches: Mapping[str, pre_mod.SearchResult], post: PostResults,
             final: FinalEvaluation, holdout: list[dict], adaptive: AdaptiveResult, end_to_end: EndToEndResult,
             decision: DecisionAttack, params: Mapping[str, Any]) -> list[Metric]:
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
        metric("end_to_end_defense_accuracy", "final defense against end-to-end PGD (through pre-processor, CNN and a surrogate of LightGBM)",
               end_to_end.final_row["end_to_end"], unit="%", reference=REFERENCE, **attack,
               harmonic=_percent(end_to_end.final_row["harmonic_end_to_end"]), worst_case=_percent(end_to_end.final_row["worst"]),
               surrogate_agreement_held_out=_percent(end_to_end.surrogates[end_to_end.final_key[0]].agreement_held_out),
               hopskipjump_accuracy=_percent(decision.result.accuracy), hopskipjump_tiles=decision.result.images),
    ]


def _percent(value) -> float | None:
    return None if value is None or np.isnan(value) else round(100 * float(value), 2)


def extra(fixed: FixedModel, adv: AdversarialMix, searches: Mapping[str, pre_mod.SearchResult], post: PostResults,
          ratios: SplitRatios, final: FinalEvaluation, holdout: list[dict], adaptive: AdaptiveResult,
          end_to_end: EndToEndResult, decision: DecisionAttack, jpeg: JpegCheck) -> dict:
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
        "end_to_end": {"images": end_to_end.images, "eps": end_to_end.eps, "steps": end_to_end.steps, "rows": end_to_end.rows,
                       "surrogates": {n: {k: v for k, v in vars(s).items() if k != "net"} for n, s in end_to_end.surrogates.items()}},
        "hopskipjump": {"defense": decision.defense, "images": decision.result.images, "eps": decision.result.eps,
                        "missed_by_gradient_attacks": decision.missed_by_gradients,
                        "settings": decision.result.settings, "queries": decision.result.queries, "started": decision.result.started,
                        "clean_accuracy": decision.result.clean_accuracy, "accuracy": decision.result.accuracy,
                        "harmonic": decision.result.harmonic, "median_linf": decision.result.median_distance,
                        "gradient_attacks_same_tiles": decision.gradient},
        "jpeg_history": {"quality": jpeg.quality, "source": jpeg.source, "rows": jpeg.rows, "overall_without": jpeg.overall_without,
                         "overall_with": jpeg.overall_with, "spread": jpeg.spread, "noise": jpeg.noise},
    }
