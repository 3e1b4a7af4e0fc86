"""What the histology defense study's results say: tables, prose written from the measured numbers (shown as
Markdown), the findings with their verdicts, and the headline.

The source study's numbers (``reference.py``) appear only in columns labelled "study" and beside the headline.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from helpers.findings import Outcome, all_of, at_least, at_most, exceeds, percent
from helpers.formatting import escape_markdown, format_interval, format_number, format_percent
from helpers.headline import Metric, metric
from helpers.metrics import Interval
from helpers.tables import show_table

from . import preprocessors as pre_mod
from .adversarial_set import DefenseSet
from .reference import (FINDINGS, REFERENCE, STUDY_FINAL, STUDY_LIGHTGBM, STUDY_MODEL_ACCURACY, STUDY_PREPROCESSORS,
                        STUDY_TABLE)
from .jpeg_history import JpegCheck
from .study import (ATTACKS, AdaptiveResult, AdversarialMix, Agreement, Convergence, DecisionAttack, EndToEndResult,
                    FinalEvaluation, FixedModel, PostResults, PostStudy, SplitRatios, proportion)



def say(text: str) -> None:
    """Show prose written from this run's numbers as Markdown."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def interval_text(value: Interval) -> str:
    """``93.2% (91.8-94.4)``: a share with its 95% interval."""
    return format_interval(value, scale=100, unit="%")


# ---------------------------------------------------------------------------------------------------
# 1. Tiles and the fixed model


def show_data(data) -> None:
    """What was loaded, and the tiles per group on each side of the split."""
    paths = list(data.paths_train) + list(data.paths_test)
    folder = str(paths[0].parent.parent).replace("`", "'") if paths else "?"
    tissues = len(set(data.tissue_train) | set(data.tissue_test))
    say(f"{len(paths)} tiles of {tissues} tissue classes, folded into the four groups, read from `{folder}` at "
        f"{data.x_train.shape[-1]} x {data.x_train.shape[-2]} px: {len(data.y_train)} train the CNN and {len(data.y_test)} are held out.")
    train, test = data.class_counts("train"), data.class_counts("test")
    show_table([[g, train[g], test[g]] for g in data.classes], ["group", "train tiles", "held-out tiles"])


def show_model(fixed: FixedModel) -> None:
    """The CNN's accuracy on the held-out tiles per group (with 95% intervals), then the clean set it leaves."""
    rows = [[group, f"{right} / {tiles}", interval_text(proportion(np.arange(tiles) < right))]
            for group, (right, tiles) in fixed.per_class.items()]
    total_right = sum(r for r, _ in fixed.per_class.values())
    rows.append(["all four groups", f"{total_right} / {fixed.held_out_tiles}",
                 interval_text(proportion(np.arange(fixed.held_out_tiles) < total_right))])
    show_table(rows, ["group", "held-out tiles right", "accuracy (95% interval)"])
    say(model_summary(fixed))


def model_summary(fixed: FixedModel) -> str:
    worst = min(fixed.per_class.items(), key=lambda kv: kv[1][0] / max(kv[1][1], 1))
    return (f"The CNN ({escape_markdown(fixed.source)}) is right on {format_percent(fixed.held_out_accuracy)} of the {fixed.held_out_tiles} "
            f"held-out tiles; its weakest group is {worst[0]} ({format_percent(worst[1][0] / max(worst[1][1], 1))}). From here on it is frozen. "
            f"The {len(fixed.y_correct)} held-out tiles it gets right are the clean tiles of this study; {len(fixed.mix_index)} of them "
            "make the clean + adversarial mix the defenses are tuned on, and the rest wait, unseen, for the honest evaluations.")


# ---------------------------------------------------------------------------------------------------
# 2. The adversarial set


def show_attacks(adv: AdversarialMix) -> None:
    """Per attack: tiles attacked, kept, success rate, distance and time; then the mix and what it means."""
    show_table([[r["attack"], r["attacked"], r["kept"], r["success"], f"{r['mean_linf']:.3f}", f"{r['seconds']:.1f}"] for r in adv.records],
               ["attack", "tiles attacked", "kept (misclassified)", "success rate", "mean L-inf distance", "seconds"])
    show_table([[k, v] for k, v in adv.mix.composition().items()] + [["undefended accuracy on the mix", adv.undefended["overall"]]],
               ["images", "count"])
    say(composition_summary(adv.mix, adv.records))


def composition_summary(data: DefenseSet, records: list[dict]) -> str:
    comp = data.composition()
    n_adv = len(data) - comp["clean"]
    parts = ", ".join(f"{r['attack']} fooled the model on {r['kept']} of {r['attacked']} tiles ({format_percent(r['success'])})" for r in records)
    return (
        f"The mix holds {comp['clean']} clean and {n_adv} adversarial images: {parts}. The undefended model is right on "
        f"every clean image and wrong on every adversarial one by construction, so its accuracy on the mix is the clean "
        f"share, {format_percent(data.clean_share)} (the study's sample: {format_percent(STUDY_MODEL_ACCURACY)}), and its harmonic mean is 0."
    )


# ---------------------------------------------------------------------------------------------------
# 3. Pre-processors


BEST_SETTING_COLUMNS = ["pre-processor", "best setting", "clean acc", "adv acc", "harmonic mean (95% interval)", "ms / image",
                        "images (fine stage)", "study: clean / adv (best)"]


def search_interval(record: dict) -> Interval:
    """A conservative 95% interval of a search record's harmonic mean: the harmonic mean at the lower and at the upper
    ends of the clean and adversarial accuracies' Wilson intervals (it rises with both)."""
    from helpers.metrics import harmonic_mean, wilson_interval

    clean_n, adv_n = record.get("clean_images", 0), record.get("adversarial_images", 0)
    if not clean_n or not adv_n or np.isnan(record["harmonic"]):
        return Interval(record["harmonic"], float("nan"), float("nan"))
    clean = wilson_interval(round(record["clean"] * clean_n), clean_n)
    adversarial = wilson_interval(round(record["adversarial"] * adv_n), adv_n)
    return Interval(record["harmonic"], harmonic_mean(clean.low, adversarial.low), harmonic_mean(clean.high, adversarial.high))


def best_setting_rows(searches: dict[str, pre_mod.SearchResult], undefended: dict) -> list[list]:
    """One row per pre-processor: best value, clean / adversarial accuracy, harmonic mean, ms per image, and the study's."""
    rows = [["none", "-", undefended["clean"], undefended["adversarial"], undefended["harmonic"], "-", "-", "-"]]
    for name, result in searches.items():
        best, ref = result.best, STUDY_PREPROCESSORS[name]
        study = "-" if ref["clean"] is None else f"{100 * ref['clean']:.0f}% / {100 * ref['adversarial']:.0f}%"
        rows.append([
            pre_mod.PREPROCESSORS[name].title, f"{pre_mod.PREPROCESSORS[name].hyperparameter}={pre_mod.format_value(best['value'])}",
            best["clean"], best["adversarial"], interval_text(search_interval(best)), f"{best['ms_per_image']:.2f}", best["images"],
            f"{study}" + (f" (best {ref['best_value']})" if ref["best_value"] is not None else ""),
        ])
    return rows


def show_search(searches: dict[str, pre_mod.SearchResult], adv: AdversarialMix) -> None:
    show_table(best_setting_rows(searches, adv.undefended), BEST_SETTING_COLUMNS)
    say(search_summary(searches))


def search_summary(searches: dict[str, pre_mod.SearchResult]) -> str:
    if not searches:
        return "No pre-processor was searched."
    ranked = sorted(searches.items(), key=lambda kv: -np.nan_to_num(kv[1].best["harmonic"], nan=-1))
    sentences = []
    for name, result in ranked:
        best = result.best
        sentences.append(
            f"{pre_mod.describe(name, best['value'])}: clean {format_percent(best['clean'])}, adversarial {format_percent(best['adversarial'])}, "
            f"harmonic mean {format_percent(best['harmonic'])} at {best['ms_per_image']:.2f} ms per image (scored on {best['images']} images)."
        )
    top = ranked[0]
    sentences.append(f"By the harmonic mean, {pre_mod.PREPROCESSORS[top[0]].title.lower()} is the best pre-processor here")
    if len(ranked) > 1:
        runner_up = ranked[1]
        status = exceeds(search_interval(top[1].best), search_interval(runner_up[1].best))
        sentences[-1] += (", clear of the next one, " if status == "holds" else ", but within the intervals of the next one, ") + \
            f"{pre_mod.PREPROCESSORS[runner_up[0]].title.lower()}."
    else:
        sentences[-1] += "."
    trade = [pre_mod.PREPROCESSORS[n].title for n, r in searches.items() if not np.isnan(r.best["clean"]) and r.best["clean"] < 0.999]
    if trade:
        sentences.append(f"At its best setting, {', '.join(trade)} give{'s' if len(trade) == 1 else ''} up some clean accuracy to recover "
                         "adversarial tiles: the harmonic mean picks that balance.")
    return " ".join(sentences)


def show_agreement(agreement: Agreement) -> None:
    """The readable method beside the implementation the study runs: one table row and what it says."""
    extra = [f"{k}: {format_percent(v)}" for k, v in agreement.accuracy.items()]
    show_table([[agreement.readable, agreement.runs, agreement.inputs,
                 f"{agreement.max_difference:.2g}", agreement.same_answers, "; ".join(extra) or "-"]],
               ["readable method", "beside", "on", "largest difference", "same answers", "notes"])
    say(agreement_summary(agreement))


def agreement_summary(agreement: Agreement) -> str:
    if np.isnan(agreement.max_difference):
        return "There were no inputs to compare the two on."
    if agreement.max_difference == 0:
        text = f"On {agreement.inputs} the readable version and {agreement.runs} give exactly the same output."
    elif agreement.max_difference < 1e-5:
        text = (f"On {agreement.inputs} the readable version and {agreement.runs} differ by at most {agreement.max_difference:.1g}, "
                "float rounding: the same computation.")
    else:
        text = (f"On {agreement.inputs} the readable version and {agreement.runs} differ by up to {agreement.max_difference:.2g} "
                f"and give the same answer on {format_percent(agreement.same_answers)} of them: small differences in floating-point "
                "arithmetic change a gradient's sign now and then, and an iterative attack follows a slightly different path from there.")
    accuracies = [v for k, v in agreement.accuracy.items() if k.startswith("defense accuracy")]
    if len(accuracies) == 2:
        text += f" The defense's accuracy under the two differs by {100 * abs(accuracies[0] - accuracies[1]):.1f} points."
    return text


def show_jpeg_check(check: JpegCheck, searches: Mapping[str, pre_mod.SearchResult]) -> None:
    """Clean accuracy per tissue class without and with JPEG at the chosen quality, then what it says."""
    if check.quality is None:
        say(f"No JPEG-history check: {check.source}.")
        return
    show_table([[r["tissue"], r["group"], r["tiles"], r["without"], r["with"], f"{100 * r['change']:+.1f}", r["flipped"]] for r in check.rows]
               + [["all held-out tiles", "-", sum(r["tiles"] for r in check.rows), check.overall_without, check.overall_with,
                   f"{100 * (check.overall_with - check.overall_without):+.1f}", sum(r["flipped"] for r in check.rows)]],
               ["tissue class", "group", "held-out tiles", "clean acc, no JPEG", f"clean acc, JPEG q={check.quality}",
                "change (points)", "answers changed"])
    say(jpeg_check_summary(check, searches))


def jpeg_check_summary(check: JpegCheck, searches: Mapping[str, pre_mod.SearchResult]) -> str:
    """What the per-class clean check says about JPEG's score (the search's numbers beside it)."""
    text = (f"JPEG at quality {check.quality} ({check.source}) takes the CNN's clean accuracy on all held-out tiles from "
            f"{format_percent(check.overall_without)} to {format_percent(check.overall_with)}.")
    search = searches.get("jpeg")
    if search is not None:
        best = search.best
        text += (f" In the search, its best setting (quality {pre_mod.format_value(best['value'])}) scored clean {format_percent(best['clean'])}, "
                 f"adversarial {format_percent(best['adversarial'])}, harmonic mean {format_percent(best['harmonic'])} on the mix.")
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
    splits = post.splits
    say(f"{len(splits['fit'])} images to fit LightGBM, {len(splits['validation'])} to validate it, {len(splits['test'])} held out "
        f"({post.test_tiles} source tiles).")
    for name, study in post.posts.items():
        top = sorted(study.grid.records, key=lambda r: -np.nan_to_num(r["harmonic"], nan=-1))[:shown]
        say(f"LightGBM grid behind {pre_mod.describe(name, study.value)}: the {shown} best of {len(study.grid.records)} settings "
            f"on the validation part (the study chose learning rate {STUDY_LIGHTGBM['learning_rate']}, "
            f"{STUDY_LIGHTGBM['num_leaves']} leaves, {STUDY_LIGHTGBM['n_estimators']} rounds).")
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
    say(post_summary(post.posts))


def post_summary(posts: dict[str, PostStudy]) -> str:
    sentences = []
    for name, study in posts.items():
        rows = {r["postprocessor"]: r for r in study.table}
        art = [r for k, r in rows.items() if k != "lightgbm"]
        unchanged = [r["title"] for r in art if abs(r["post"] - r["pre"]) < 1e-9]
        lgbm = rows["lightgbm"]
        sentences.append(
            f"With {pre_mod.describe(name, study.value)} the held-out accuracy goes from {format_percent(lgbm['model'])} (model) to "
            f"{format_percent(lgbm['pre'])} (pre-processed); LightGBM takes it to {format_percent(lgbm['post'])} (harmonic mean {format_percent(lgbm['post_harmonic'])})."
        )
        if unchanged:
            sentences.append(
                f"{', '.join(unchanged)} leave{'s' if len(unchanged) == 1 else ''} the accuracy exactly where it was: they change "
                "the reported scores, not which class has the highest one, so they can hide a model's confidence but not undo an attack."
            )
        moved = [f"{r['title']} ({format_percent(r['pre'])} -> {format_percent(r['post'])})" for r in art if abs(r["post"] - r["pre"]) >= 1e-9]
        if moved:
            sentences.append(f"Among ART's post-processors only {', '.join(moved)} change{'s' if len(moved) == 1 else ''} the accuracy, "
                             "through ties or noise in the scores.")
    return " ".join(sentences)


def show_split_ratios(ratios: SplitRatios, post: PostResults) -> None:
    """Mean +- std over seeds per ratio, then the final defense and how much of a difference is noise."""
    show_table([[f"{r['ratio']:g}", r["seeds"], f"{100 * r['validation_harmonic_mean']:.1f}% +- {100 * r['validation_harmonic_std']:.1f}",
                 f"{100 * r['test_harmonic_mean']:.1f}% +- {100 * r['test_harmonic_std']:.1f}"] for r in ratios.summary],
               ["validation ratio", "seeds", "harmonic mean, validation part", "harmonic mean, held-out tiles"])
    settings = post.settings
    say(f"The final defense (best LightGBM validation score): {pre_mod.describe(post.final_name, post.final.value)} + LightGBM "
        f"(learning rate {settings['learning_rate']:g}, {settings['num_leaves']} leaves, {settings['n_estimators']} rounds). "
        f"Across seeds the held-out harmonic mean varies by up to {format_percent(ratios.spread)} (standard deviation) at one ratio, so differences "
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
    say(final_summary(final.counts_all, final.counts_held) + " " + no_defense_summary(final.counts_held["harmonic"], final.no_defense))


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
    say(holdout_summary(rows))


def holdout_summary(rows: list[dict]) -> str:
    if not rows:
        return "No attack could be held out (the mix needs at least two attack families with adversarial images)."
    parts = []
    for r in rows:
        parts.append(
            f"{r['held_out_attack'].upper() if r['held_out_attack'] != 'deepfool' else 'DeepFool'}: adversarial accuracy "
            f"{format_percent(r['seen']['adversarial'])} when LightGBM saw this attack in training, {format_percent(r['unseen']['adversarial'])} when it did not"
        )
    drops = [r["seen"]["adversarial"] - r["unseen"]["adversarial"] for r in rows]
    worst = rows[int(np.nanargmax(drops))] if np.isfinite(drops).any() else rows[0]
    tail = (
        f" The largest drop is for {worst['held_out_attack']}: a learned post-processor partly memorises what each attack does to the "
        "softmax outputs, and an attacker is free to use an attack it was not trained on."
        if np.nanmax(drops) > 0.02 else " Here leaving an attack out costs little: the attacks move the softmax outputs in similar ways."
    )
    return "; ".join(parts) + "." + tail


ADAPTIVE_ROWS = (("clean", "clean tiles"), ("transfer", "transfer PGD (made on the bare CNN)"),
                 ("bpda", "BPDA-PGD (through the pre-processor)"))


def show_adaptive(result: AdaptiveResult) -> None:
    """Accuracy (95% intervals) of the undefended model, the pre-processor and the whole defense under each attack."""
    show_table([[f"{name}, eps={result.eps:g}" if key != "clean" else name,
                 *[interval_text(result.interval(key, stage)) for stage in ("undefended", "pre-processor", "defense")]]
                for key, name in ADAPTIVE_ROWS],
               [f"images ({result.images} tiles)", "undefended", result.defense, "pre-processor + LightGBM"])
    say(adaptive_summary(result))


def adaptive_summary(result: AdaptiveResult) -> str:
    transfer, bpda = result.interval("transfer"), result.interval("bpda")
    text = (
        f"On {result.images} held-out tiles LightGBM never saw, PGD-{result.steps} at eps={result.eps:g} on the bare CNN leaves it "
        f"{format_percent(result.accuracy['transfer']['undefended'])} accuracy. The full defense (pre-processor + LightGBM) recovers "
        f"{interval_text(transfer)} of these transferred examples, and keeps {interval_text(bpda)} of the tiles when PGD goes "
        f"through the pre-processor with BPDA (95% Wilson intervals). "
    )
    status = exceeds(transfer, bpda)
    if status == "holds":
        text += "The transfer number overstates the defense: an attacker who knows the pre-processor gets further through it."
    elif exceeds(bpda, transfer) == "holds":
        text += ("BPDA does worse than simply transferring the attack: the identity is a poor stand-in for this pre-processor's "
                 "gradient (it changes the image too much for the approximation to point the right way), so this pre-processor "
                 "needs a better adaptive attack, such as the end-to-end one below.")
    else:
        text += ("The two are within their intervals of each other: knowing the pre-processor does not help this attacker, "
                 "which says more about the identity approximation for this pre-processor than about the defense.")
    text += (f" Harmonic means of the defense on these tiles: {format_percent(result.harmonic('transfer'))} against the transfer attack, "
             f"{format_percent(result.harmonic('bpda'))} against BPDA.")
    return text


# ---------------------------------------------------------------------------------------------------
# 8. The end-to-end attacker, convergence and HopSkipJump


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
                 f"{format_percent(s.agreement_held_out)} ({s.held_out_inputs})", f"{format_percent(s.agreement_random)} ({s.random_inputs})",
                 f"{format_percent(s.agreement_attack)} ({s.attack_inputs})"] for name, s in result.surrogates.items()],
               ["surrogate of LightGBM behind", "training inputs", "agreement, training inputs", "agreement, held-out tiles (inputs)",
                "agreement, fresh random softmax vectors", "agreement, at the end-to-end examples"])
    say(surrogate_summary(result))
    show_table(end_to_end_rows(result), END_TO_END_COLUMNS)
    say(end_to_end_summary(result))


def surrogate_summary(result: EndToEndResult) -> str:
    parts = []
    for name, s in result.surrogates.items():
        parts.append(f"behind {pre_mod.PREPROCESSORS[name].title.lower()} it picks LightGBM's class on {format_percent(s.agreement_held_out)} of the "
                     f"{s.held_out_inputs} held-out softmax vectors, {format_percent(s.agreement_random)} of fresh random ones and "
                     f"{format_percent(s.agreement_attack)} of the end-to-end attack's own examples")
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
    intervals = {k: interval_text(result.interval(k)) for k in (*ATTACKS, "worst")} if result.correct.get(result.final_key) else \
        {k: format_percent(final[k]) for k in (*ATTACKS, "worst")}
    text = (f"On {result.images} held-out tiles at eps={result.eps:g} (PGD-{result.steps}, every number scored on the real pipeline), "
            f"the final defense ({final['defense']} + LightGBM) keeps {intervals['transfer']} of the tiles against the transfer attack, "
            f"{intervals['bpda']} against BPDA through the pre-processor and {intervals['end_to_end']} against the end-to-end attacker "
            f"(harmonic means {format_percent(final['harmonic_transfer'])}, {format_percent(final['harmonic_bpda'])} and {format_percent(final['harmonic_end_to_end'])}).")
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
    text += (f" What survives: the best worst-case harmonic mean is {format_percent(best['harmonic_worst'])}, for {best['defense']}"
             f"{'' if best['postprocessor'] == 'none' else ' + ' + best['post_title']} ({format_percent(best['clean'])} clean, {format_percent(best['worst'])} "
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


CONVERGENCE_TITLES = {"bpda": "BPDA-PGD through the pre-processor", "end_to_end": "end-to-end PGD (surrogate of LightGBM)"}


def show_convergence(result: Convergence) -> None:
    """The final defense's accuracy under each adaptive attack at k and 2k steps, the paired change and the interval it must stay in."""
    rows = []
    for key, title in CONVERGENCE_TITLES.items():
        change = result.change(key)
        rows.append([title, interval_text(result.accuracy(key)), interval_text(result.accuracy(key, doubled=True)),
                     format_interval(change, scale=100, unit=" pts"), f"{100 * result.accuracy(key).half_width:.1f} pts",
                     "yes" if result.converged(key) else "no"])
    show_table(rows, ["attack on the final defense", f"accuracy, {result.steps} steps", f"accuracy, {2 * result.steps} steps",
                      "change (95% interval)", "half-width of the interval", "converged"])
    say(convergence_summary(result))


def convergence_summary(result: Convergence) -> str:
    parts, unconverged = [], []
    for key, title in CONVERGENCE_TITLES.items():
        change = result.change(key)
        parts.append(f"{title} moves the accuracy by {100 * change.estimate:+.1f} points (95% interval "
                     f"{100 * change.low:+.1f} to {100 * change.high:+.1f}) against a half-width of {100 * result.accuracy(key).half_width:.1f}")
        if not result.converged(key):
            unconverged.append(title)
    text = f"Doubling the attack steps from {result.steps} to {2 * result.steps}: " + "; ".join(parts) + "."
    if unconverged:
        return text + (f" {' and '.join(unconverged)} had not converged: more steps find more adversarial images, so its numbers above "
                       "overstate the defense. Raise adaptive_steps.")
    return text + (" Both stay within their intervals: more steps would not change the verdicts, so the attacks are not "
                   "stopped early by their step count.")


def show_decision(result: DecisionAttack) -> None:
    """HopSkipJump beside the gradient attacks on the same tiles, its query budget, then what the comparison says."""
    d, g = result.result, result.gradient
    show_table([[ATTACKS.get(k, k if k != "worst" else "worst of the three (per tile)"), g[k],
                 "-" if k == "clean" else _harmonic(g["clean"], g[k])] for k in g]
               + [[f"HopSkipJump ({d.settings['max_iter']} iterations, at most {d.settings['max_eval']} queries per gradient estimate)",
                   interval_text(result.accuracy), d.harmonic]],
               ["attack on the final defense", f"accuracy on {d.images} tiles", "harmonic mean"])
    say(decision_summary(result))


def _harmonic(clean: float, adversarial: float) -> float:
    from helpers.metrics import harmonic_mean

    return float("nan") if np.isnan(clean) or np.isnan(adversarial) else harmonic_mean(clean, adversarial)


def decision_summary(result: DecisionAttack) -> str:
    d, g = result.result, result.gradient
    found = int((np.isfinite(d.distances) & d.clean_correct).sum())
    within = int((d.clean_correct & (d.distances <= d.eps + 1e-6)).sum())
    median_queries = "" if np.isnan(d.median_queries) else (
        f" (a median of {format_number(d.median_queries)} per tile, at most {format_number(d.max_queries)}; the budget: "
        f"{d.settings.get('max_iter')} iterations, each estimating a gradient from {d.settings.get('init_eval')} queries growing to at "
        f"most {d.settings.get('max_eval')}, plus the binary searches for the boundary)")
    text = (f"HopSkipJump sees only the final pipeline's answers ({result.defense}): {format_number(d.queries)} queries in all{median_queries}. "
            f"Of {d.images} tiles the pipeline gets {int(d.clean_correct.sum())} right; HopSkipJump started on {d.started} and found a "
            f"misclassified image for {found}, {within} of them within eps={d.eps:g} (median L-inf distance "
            f"{'n/a' if np.isnan(d.median_distance) else f'{d.median_distance:.3g}'}). So {interval_text(result.accuracy)} of the tiles "
            f"survive it, against {format_percent(g['end_to_end'])} under the end-to-end gradient attack and {format_percent(g['worst'])} under the worst of "
            "the three on the same tiles.")
    stopped = d.settings.get("stopped_tiles", 0)
    if stopped:
        text += (f" On {stopped} tile{'s' if stopped > 1 else ''} ART's HopSkipJump stopped making progress (its step-size search "
                 f"found no misclassified step) and was halted at {format_number(d.settings.get('query_cap_per_tile'))} queries; "
                 "such a tile keeps its starting image, so it counts as surviving.")
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
# Findings


#: A defense "falls" to an attack that leaves it at most this share of the tiles it classifies correctly.
FALLS_BELOW = 0.5
#: LightGBM "raises" the harmonic mean when it adds more than this (the study reports about 10 points).
LIGHTGBM_GAIN = 0.0
#: HopSkipJump "agrees" with the gradient attacks when at most this share of the tiles is broken by it alone.
MISSED_AT_MOST = 0.05


def _finding(key: str):
    return next(f for f in FINDINGS if f.key == key)


def findings(adv: AdversarialMix, searches: Mapping[str, pre_mod.SearchResult], post: PostResults, adaptive: AdaptiveResult,
             end_to_end: EndToEndResult, convergence: Convergence, decision: DecisionAttack) -> list[Outcome]:
    """Each finding of ``reference.FINDINGS`` judged on this run's numbers, with 95% intervals (Wilson for a share of
    tiles, a bootstrap over source tiles for a difference of harmonic means on the same images)."""
    outcomes = [judge_smoothing_best(searches, adv.mix), judge_lightgbm_raises(post, adv.mix)]
    bpda, e2e = adaptive.interval("bpda"), end_to_end.interval("end_to_end")
    defense = end_to_end.final_row["defense"] + " + LightGBM"
    outcomes.append(_finding("falls_to_bpda").judge(
        at_most(bpda, FALLS_BELOW), f"{defense}: {percent(bpda)} of {adaptive.images} tiles survive BPDA-PGD-{adaptive.steps} "
                                    f"(transfer: {percent(adaptive.interval('transfer'))}); falling means at most {format_percent(FALLS_BELOW)}"))
    outcomes.append(_finding("falls_to_end_to_end").judge(
        at_most(e2e, FALLS_BELOW), f"{defense}: {percent(e2e)} of {end_to_end.images} tiles survive the end-to-end attack "
                                   f"(PGD-{end_to_end.steps}); falling means at most {format_percent(FALLS_BELOW)}"))
    outcomes.append(judge_gain_survives(end_to_end))
    outcomes.append(judge_converged(convergence))
    outcomes.append(judge_hopskipjump(decision))
    return outcomes


def judge_gain_survives(end_to_end: EndToEndResult) -> Outcome:
    """The final pre-processor with LightGBM against it alone, per tile in the worst case over the three attacks (paired)."""
    from .study import paired_difference

    name = end_to_end.final_key[0]
    alone, with_lgbm = end_to_end.correct[(name, "none")]["worst"], end_to_end.correct[end_to_end.final_key]["worst"]
    change = paired_difference(alone, with_lgbm)
    evidence = (f"{end_to_end.final_row['defense']}, share of {end_to_end.images} tiles that withstand every attack on it "
                f"(transfer and BPDA; with LightGBM also end-to-end): {format_percent(float(np.mean(alone)))} alone, "
                f"{format_percent(float(np.mean(with_lgbm)))} with LightGBM; "
                f"LightGBM adds {format_interval(change, scale=100, unit=' pts')} (paired)")
    status = at_most(change, 0.0)
    measured = "" if status != "does not hold" else "LightGBM keeps more tiles than the pre-processor alone even in the worst case"
    return _finding("lightgbm_gain_does_not_survive").judge(status, evidence, measured=measured)


def _mix_correct(probs: np.ndarray, mix: DefenseSet) -> np.ndarray:
    return np.asarray(probs).argmax(1) == mix.y


def judge_smoothing_best(searches: Mapping[str, pre_mod.SearchResult], mix: DefenseSet | None = None) -> Outcome:
    """Spatial smoothing's best harmonic mean against the best other pre-processor's: paired on the whole mix where both
    fine stages scored it (a bootstrap over source tiles), otherwise from their Wilson intervals."""
    from .study import harmonic_difference

    finding = _finding("smoothing_best_preprocessor")
    if "spatial_smoothing" not in searches or len(searches) < 2:
        return finding.judge("not shown at this scale", "spatial smoothing and at least one other pre-processor must be searched")
    smoothing_best = searches["spatial_smoothing"].best
    others = {n: r.best for n, r in searches.items() if n != "spatial_smoothing"}
    rival, rival_best = max(others.items(), key=lambda kv: np.nan_to_num(kv[1]["harmonic"], nan=-1))
    title = pre_mod.PREPROCESSORS[rival].title.lower()
    paired = mix is not None and all(r.get("images") == len(mix) and r.get("probs") is not None for r in (smoothing_best, rival_best))
    if paired:
        difference = harmonic_difference(_mix_correct(smoothing_best["probs"], mix), _mix_correct(rival_best["probs"], mix),
                                         mix.is_adversarial, mix.tile)
        status = exceeds(difference, 0.0)
        evidence = (f"harmonic mean on the whole mix ({len(mix)} images): spatial smoothing {format_percent(smoothing_best['harmonic'])}, the "
                    f"best other ({title}) {format_percent(rival_best['harmonic'])}; difference {format_interval(difference, scale=100, unit=' pts')} "
                    "(bootstrap over source tiles)")
    else:
        smoothing, other = search_interval(smoothing_best), search_interval(rival_best)
        status = exceeds(smoothing, other)
        evidence = f"harmonic mean in the fine stage: spatial smoothing {percent(smoothing)}, the best other ({title}) {percent(other)}"
    measured = "" if status != "does not hold" else f"{pre_mod.PREPROCESSORS[rival].title} scores a higher harmonic mean"
    return finding.judge(status, evidence, measured=measured)


def judge_lightgbm_raises(post: PostResults, mix: DefenseSet | None = None) -> Outcome:
    """LightGBM behind the final pre-processor against that pre-processor alone, on the held-out part of the mix: paired
    (a bootstrap over source tiles) when the mix is given, otherwise from the Wilson intervals of the table's numbers."""
    from .study import harmonic_difference

    finding = _finding("lightgbm_raises_harmonic")
    row = next(r for r in post.final.table if r["postprocessor"] == "lightgbm")
    where = f"held-out part of the mix behind {pre_mod.describe(post.final_name, post.final.value)}"
    if mix is not None:
        test = post.splits["test"]
        held = mix.take(test)
        probs = post.final.probs[test]
        difference = harmonic_difference(_mix_correct(post.final.lightgbm(probs), held), _mix_correct(probs, held),
                                         held.is_adversarial, held.tile)
        status = exceeds(difference, LIGHTGBM_GAIN)
        evidence = (f"{where} ({len(held)} images): harmonic mean {format_percent(row['post_harmonic'])} with LightGBM, {format_percent(row['pre_harmonic'])} "
                    f"without; difference {format_interval(difference, scale=100, unit=' pts')} (bootstrap over source tiles)")
    else:
        counts = (row["clean_images"], row["adversarial_images"])
        with_lgbm = Interval(row["post_harmonic"], *harmonic_bounds(row["post_clean"], row["post_adversarial"], counts))
        without = Interval(row["pre_harmonic"], *harmonic_bounds(row["pre_clean"], row["pre_adversarial"], counts))
        status = exceeds(with_lgbm, without, by=LIGHTGBM_GAIN)
        evidence = f"{where} ({counts[0]} clean, {counts[1]} adversarial images): with LightGBM {percent(with_lgbm)}, without {percent(without)}"
    return finding.judge(status, evidence, measured="" if status != "does not hold" else "LightGBM does not raise the held-out harmonic mean")


def harmonic_bounds(clean: float, adversarial: float, counts: tuple[int, int]) -> tuple[float, float]:
    """Conservative 95% bounds of a harmonic mean from the Wilson intervals of its clean and adversarial accuracy."""
    from helpers.metrics import harmonic_mean, wilson_interval

    clean_n, adv_n = counts
    if not clean_n or not adv_n or np.isnan(clean) or np.isnan(adversarial):
        return float("nan"), float("nan")
    c, a = wilson_interval(round(clean * clean_n), clean_n), wilson_interval(round(adversarial * adv_n), adv_n)
    return harmonic_mean(c.low, a.low), harmonic_mean(c.high, a.high)


def judge_converged(result: Convergence) -> Outcome:
    """Converged: for both attacks the paired change from doubling the steps stays above minus the accuracy's half-width."""
    statuses, parts = [], []
    for key in CONVERGENCE_TITLES:
        change, half = result.change(key), result.accuracy(key).half_width
        statuses.append(at_least(change, -half))
        parts.append(f"{key}: {format_interval(change, scale=100, unit=' pts')} against a half-width of {100 * half:.1f} pts")
    return _finding("adaptive_attacks_converged").judge(all_of(*statuses), f"doubling steps {result.steps} -> {2 * result.steps}: " + "; ".join(parts))


def judge_hopskipjump(decision: DecisionAttack) -> Outcome:
    """HopSkipJump agrees with the gradient attacks: it breaks (almost) no tile that all three of them left standing."""
    missed = decision.missed_share
    d = decision.result
    evidence = (f"of {d.images} tiles, broken by HopSkipJump within the budget but by none of the three gradient attacks: "
                f"{percent(missed)} (at most {format_percent(MISSED_AT_MOST)}); {percent(decision.accuracy)} survive HopSkipJump itself "
                f"(a median of {format_number(d.median_queries)} queries per tile)")
    return _finding("hopskipjump_agrees").judge(at_most(missed, MISSED_AT_MOST), evidence)


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
        metric("plain_pgd_defense_accuracy", "final defense against transfer PGD (made on the bare CNN)",
               adaptive.accuracy["transfer"]["defense"], unit="%", reference=REFERENCE, **attack),
        metric("adaptive_pgd_defense_accuracy", "final defense against BPDA-PGD (through the pre-processor)",
               adaptive.accuracy["bpda"]["defense"], unit="%", reference=REFERENCE, **attack),
        metric("end_to_end_defense_accuracy", "final defense against end-to-end PGD (through pre-processor, CNN and a surrogate of LightGBM)",
               end_to_end.final_row["end_to_end"], unit="%", reference=REFERENCE, **attack,
               harmonic=_percent(end_to_end.final_row["harmonic_end_to_end"]), worst_case=_percent(end_to_end.final_row["worst"]),
               surrogate_agreement_held_out=_percent(end_to_end.surrogates[end_to_end.final_key[0]].agreement_held_out),
               hopskipjump_accuracy=_percent(decision.result.accuracy), hopskipjump_tiles=decision.result.images),
    ]


def _percent(value) -> float | None:
    return None if value is None or np.isnan(value) else round(100 * float(value), 2)


def _interval_record(value: Interval) -> dict:
    return {"estimate": value.estimate, "low": value.low, "high": value.high}


def extra(fixed: FixedModel, adv: AdversarialMix, searches: Mapping[str, pre_mod.SearchResult], post: PostResults,
          ratios: SplitRatios, final: FinalEvaluation, holdout: list[dict], adaptive: AdaptiveResult,
          end_to_end: EndToEndResult, decision: DecisionAttack, jpeg: JpegCheck, convergence: Convergence | None = None) -> dict:
    """The detail behind the headline, for ``metrics.json``: every table of the report as records."""
    return {
        "model": fixed.source,
        "model_per_class": {g: {"correct": r, "tiles": n} for g, (r, n) in fixed.per_class.items()},
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
                     "intervals": {k: _interval_record(adaptive.interval(k)) for k in ("clean", "transfer", "bpda")},
                     "transfer_harmonic": adaptive.harmonic("transfer"), "bpda_harmonic": adaptive.harmonic("bpda")},
        "end_to_end": {"images": end_to_end.images, "eps": end_to_end.eps, "steps": end_to_end.steps, "rows": end_to_end.rows,
                       "final_intervals": {k: _interval_record(end_to_end.interval(k)) for k in (*ATTACKS, "worst")},
                       "surrogates": {n: {k: v for k, v in vars(s).items() if k != "net"} for n, s in end_to_end.surrogates.items()}},
        "convergence": None if convergence is None else {
            k: {"steps": convergence.steps, "accuracy": _interval_record(convergence.accuracy(k)),
                "accuracy_doubled": _interval_record(convergence.accuracy(k, doubled=True)),
                "change": _interval_record(convergence.change(k)), "converged": convergence.converged(k)} for k in CONVERGENCE_TITLES},
        "hopskipjump": {"defense": decision.defense, "images": decision.result.images, "eps": decision.result.eps,
                        "missed_by_gradient_attacks": decision.missed_by_gradients,
                        "settings": decision.result.settings, "queries": decision.result.queries, "started": decision.result.started,
                        "median_queries_per_tile": decision.result.median_queries, "max_queries_per_tile": decision.result.max_queries,
                        "clean_accuracy": decision.result.clean_accuracy, "accuracy": decision.result.accuracy,
                        "harmonic": decision.result.harmonic, "median_linf": decision.result.median_distance,
                        "gradient_attacks_same_tiles": decision.gradient},
        "jpeg_history": {"quality": jpeg.quality, "source": jpeg.source, "rows": jpeg.rows, "overall_without": jpeg.overall_without,
                         "overall_with": jpeg.overall_with, "spread": jpeg.spread, "noise": jpeg.noise},
    }
