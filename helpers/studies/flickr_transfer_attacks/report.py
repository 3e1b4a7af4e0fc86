"""What the study's results say: tables, prose written from the measured numbers, the study's findings
judged on this run's numbers (``findings``) and the headline."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN, Finding, Outcome, all_of, any_of, at_least, exceeds, percent
from helpers.formatting import format_percent
from helpers.headline import Metric, metric
from helpers.metrics import Interval, mean_interval, wilson_interval
from helpers.tables import show_table

from .alterations import ALTERATIONS
from .evaluation import ATTACK_NAMES, AlterationSweep
from .reference import FINDINGS, HELPS, HIGH_SSIM, PCA_COSTS, REFERENCE
from .study import GRIDS, Adaptive, ArtAgreement, Attacked, EvalSet, Exported, Photos, Trained


def _show_markdown(text: str) -> None:
    """Prose written from the measured numbers, displayed as Markdown (one paragraph per line of ``text``)."""
    from IPython.display import Markdown, display

    display(Markdown("\n\n".join(line for line in text.splitlines() if line.strip())))


# --------------------------------------------------------------------------------------------------
# What the notebook shows


def show_frameworks() -> None:
    """The TensorFlow and Keras versions this run uses."""
    import keras

    from helpers.frameworks import import_tensorflow

    tf = import_tensorflow()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")


def show_photos(photos: Photos) -> None:
    print(photos.source.description)
    print(photos.split.describe())


def show_training(trained: Trained) -> None:
    """Per backbone run: what it stands for, where its weights came from, train and test accuracy."""
    show_table(
        [[trained.titles[p.run], ", ".join(p.requested), p.source.origin,
          "cache" if trained.models[p.run].from_cache else "trained now",
          trained.models[p.run].history[-1]["accuracy"], trained.test_accuracy[p.run]] for p in trained.plans],
        ["backbone run", "requested", "ImageNet weights from", "head", "train accuracy (last epoch)", "test accuracy"],
    )
    _show_markdown(device_summary(trained))


def device_summary(trained: Trained) -> str:
    """Which device the ``device`` parameter picked for Keras, and where TensorFlow really placed each model."""
    where = ", ".join(f"{trained.titles[n]} on {d}" for n, d in trained.used.items())
    if trained.device is None:
        return f"Keras ran {where}." if where else ""
    return (f"device={trained.device.requested!r}: Keras runs on {trained.device.name}, {trained.device.description}; "
            f"TensorFlow placed the weights and ran a prediction: {where}.")


def show_eval_set(target: EvalSet, trained: Trained) -> None:
    _show_markdown(f"{len(target.y)} test photos; accuracy on them: "
                   + ", ".join(f"{trained.titles[n]} {format_percent(a)}" for n, a in target.accuracy.items()) + ".")


def show_alterations(altered: AlterationSweep, trained: Trained) -> None:
    _show_markdown(alteration_summary(altered.curves, trained.titles))


def show_attacks(attacked: Attacked, trained: Trained) -> None:
    _show_markdown(attack_summary(attacked.sweeps, trained.titles, attacked.clean_accuracy))


def show_defense(attacked: Attacked, trained: Trained) -> None:
    """Per backbone, attack and budget: true-label accuracy attacked, after JPEG and after blur, and agreement."""
    rows = []
    for name, sweep in attacked.sweeps.items():
        for r in sweep.defense:
            rows.append([trained.titles[name], r["attack"].upper() if r["attack"] != "clean" else "clean", f"{r['epsilon']:g}",
                         r["attacked_accuracy"], r["jpeg_accuracy"], r["blur_accuracy"], r["attacked_agreement"], r["jpeg_agreement"]])
    show_table(rows, ["backbone", "attack", "epsilon", "true-label acc.", f"+ JPEG q={attacked.defenses['jpeg']}",
                      f"+ blur k={attacked.defenses['blur']}", "agreement", "agreement + JPEG"])
    _show_markdown(defense_summary(attacked.sweeps, attacked.defenses, trained.titles))


ADAPTIVE_COLUMNS = ["backbone", "defense", "gradient through it", "epsilon", "clean + defense", "plain PGD, no defense",
                    "plain PGD + defense", "PGD through the defense", "SSIM plain", "SSIM through"]


def adaptive_rows(adaptive: Adaptive, trained: Trained) -> list[list]:
    """Per backbone, defense and budget: accuracy clean, plain-attacked and attacked through the defense, and SSIM."""
    rows = []
    for name, sweep in adaptive.sweeps.items():
        for defense in sweep.defenses:
            for r in sweep.curve(defense.name):
                rows.append([trained.titles[name], defense.label, defense.gradient, f"{r['epsilon']:g}", r["clean_accuracy"],
                             r["undefended_accuracy"], r["plain_accuracy"], r["through_accuracy"],
                             f"{r['plain_ssim']:.3f}", f"{r['through_ssim']:.3f}"])
    return rows


def show_adaptive(adaptive: Adaptive, trained: Trained) -> None:
    """The table of section 6 and the sentences written from it."""
    _show_markdown(f"{adaptive.images} evaluation photos, PGD-{adaptive.steps} (true labels), the same photos and budgets for "
                   f"every defense; noise drawn with the run's seed when scored, the attacker averages {adaptive.eot_samples} "
                   "other draws per step.")
    show_table(adaptive_rows(adaptive, trained), ADAPTIVE_COLUMNS)
    _show_markdown(adaptive_summary(adaptive, trained.titles))


HALF_STEP = 0.5 / 255  # budgets below half an 8-bit step vanish when pixels are rounded to 8 bits (JPEG does)


def adaptive_summary(adaptive: Adaptive, titles: Mapping[str, str]) -> str:
    """Per backbone and defense: what it keeps at the largest budget against both attackers, and how much
    more the attack through it takes; then which defenses still help (by ``HELPS``) against that attacker."""
    lines = []
    for backbone, sweep in adaptive.sweeps.items():
        still, gone = [], []
        for defense in sweep.defenses:
            curve = sweep.curve(defense.name)
            last = max(curve, key=lambda r: r["epsilon"])
            gaps = [r["plain_accuracy"] - r["through_accuracy"] for r in curve]
            if all(abs(g) < 1e-9 for g in gaps):
                versus = "At every budget both attacks leave the same accuracy."
            else:
                mean_gap = float(np.mean(gaps))
                versus = (f"Averaged over the budgets, the attack through the defense leaves {100 * abs(mean_gap):.1f} points "
                          f"{'less' if mean_gap >= 0 else 'more'} accuracy than the plain attack.")
            lines.append(
                f"{titles[backbone]}, {defense.label}: {format_percent(last['clean_accuracy'])} on clean photos; at eps={last['epsilon']:g} "
                f"plain PGD leaves {format_percent(last['undefended_accuracy'])} without the defense and {format_percent(last['plain_accuracy'])} with it, "
                f"PGD through it {format_percent(last['through_accuracy'])} (SSIM {last['plain_ssim']:.3f} plain, {last['through_ssim']:.3f} "
                f"through). {versus}"
            )
            helping = [r["epsilon"] for r in curve if r["through_accuracy"] - r["undefended_accuracy"] >= HELPS]
            if helping:
                still.append(f"{defense.label} (at eps {', '.join(f'{e:g}' for e in helping)})")
            else:
                gone.append(defense.label)
        if still:
            verdict = (f"against the attacker who goes through the defense, {'; '.join(still)} still "
                       f"{'recovers' if len(still) == 1 else 'recover'} at least {100 * HELPS:.0f} points over the undefended model")
            if gone:
                verdict += f"; {', '.join(gone)} {'does' if len(gone) == 1 else 'do'} not at any budget"
        else:
            verdict = (f"against the attacker who goes through the defense, none of the defenses recovers {100 * HELPS:.0f} points "
                       "over the undefended model at any budget")
        small = [e for e in adaptive.epsilons if e < HALF_STEP]
        if small:
            verdict += (f". Budgets below half an 8-bit step (1/510, about {HALF_STEP:.4f}: here eps {', '.join(f'{e:g}' for e in small)}) "
                        "are rounded away whenever the pixels are stored as 8 bits, which JPEG does first")
        lines.append(f"{titles[backbone]}: {verdict}.")
    return "\n".join(lines)


def fooled_on_files(exported: Exported, trained: Trained) -> dict[str, float]:
    """Per backbone: the share of the exported files made against it that it gets wrong (on the saved 8-bit pixels)."""
    return {
        name: float(np.mean([r[f"adversarial_prediction_{name}"] != r["label"] for r in exported.rows if r["attacked_model"] == name]))
        for name in trained.models
    }


def show_export(exported: Exported, trained: Trained) -> None:
    """How many files were written, how often the attacked backbone is wrong on them, and the first rows of the CSV."""
    fooled = fooled_on_files(exported, trained)
    _show_markdown(f"{len(exported.rows)} PNG files and `{exported.csv_path.name}` in `{exported.folder.name}/` beside this "
                   "report; on the saved files the attacked backbone is wrong on "
                   + ", ".join(f"{format_percent(v)} ({trained.titles[n]})" for n, v in fooled.items()) + ".")
    show_table([[r["file"], r["source"], r["label"]] + [r[f"adversarial_prediction_{n}"] for n in trained.models] for r in exported.rows[:4]],
               ["file", "source", "label"] + [f"prediction {n} on the file" for n in trained.models])


def show_art_agreement(agreement: ArtAgreement, titles: Mapping[str, str]) -> None:
    """The readable FGSM and PGD beside ART's on the same photos, and the readable SSIM beside scikit-image's."""
    show_table([[r["attack"].upper(), r["art_accuracy"], r["readable_accuracy"], r["same_prediction"],
                 f"{r['largest_pixel_difference']:.2g}"] for r in agreement.rows],
               ["attack", "ART: true-label accuracy", "keras_attacks: true-label accuracy",
                "same prediction on both", "largest pixel difference"])
    _show_markdown(art_agreement_summary(agreement, titles))


def art_agreement_summary(agreement: ArtAgreement, titles: Mapping[str, str]) -> str:
    """What the side-by-side shows, in words, from its numbers."""
    same = all(r["same_prediction"] == 1.0 for r in agreement.rows)
    largest = max(r["largest_pixel_difference"] for r in agreement.rows)
    pixels = ("The attacked pixels are the same." if largest == 0 else
              f"The attacked pixels differ by at most {largest:.2g}: where a gradient entry is so close to zero that the "
              "two computations round it to different signs, that pixel steps the other way, and in PGD the next "
              "gradients then differ a little too.")
    verdict = ("the two give the same prediction on every photo" if same else
               "the two disagree on " + ", ".join(f"{format_percent(1 - r['same_prediction'])} of the photos ({r['attack'].upper()})"
                                                  for r in agreement.rows if r["same_prediction"] < 1.0))
    return (f"On {agreement.images} evaluation photos, {titles[agreement.backbone]}, eps={agreement.eps:g}, PGD-{agreement.steps} "
            f"from the clean photo (no random start, so both are deterministic): {verdict}. {pixels} "
            f"The readable SSIM differs from scikit-image's by at most {agreement.ssim_difference:.1e}.")


# --------------------------------------------------------------------------------------------------
# Sentences written from the measured numbers


def _strongest(name: str, points: Sequence[dict]) -> dict:
    key = (lambda p: p["level"]) if not ALTERATIONS[name].stronger_when_lower else (lambda p: -p["level"])
    return max(points, key=key)


def alteration_summary(curves: Mapping[str, Mapping[str, Sequence[dict]]], titles: Mapping[str, str]) -> str:
    """Per alteration, its strongest level: SSIM, and agreement / true-label accuracy per backbone."""
    lines = []
    for name in GRIDS:
        per_backbone = {b: c[name] for b, c in curves.items() if c.get(name)}
        if not per_backbone:
            continue
        first = next(iter(per_backbone.values()))
        strongest = _strongest(name, first)
        parts = []
        for backbone, points in per_backbone.items():
            p = next(q for q in points if q["level"] == strongest["level"])
            parts.append(f"{titles[backbone]} agreement {format_percent(p['agreement'])}, true-label accuracy {format_percent(p['accuracy'])}")
        lines.append(f"{ALTERATIONS[name].label(strongest['level'])} (SSIM {strongest['ssim']:.3f}): " + "; ".join(parts) + ".")
    return "\n".join(lines)


def attack_summary(sweeps: Mapping, titles: Mapping[str, str], clean: Mapping[str, float]) -> str:
    """Per backbone and attack: accuracy and SSIM at the smallest and largest budget."""
    lines = []
    for backbone, sweep in sweeps.items():
        for attack, points in sweep.curves.items():
            low, high = points[0], points[-1]
            lines.append(
                f"{titles[backbone]}, {attack.upper()}: true-label accuracy {format_percent(clean[backbone])} clean -> {format_percent(low['accuracy'])} "
                f"at eps={low['level']:g} and {format_percent(high['accuracy'])} at eps={high['level']:g} (agreement {format_percent(high['agreement'])}, "
                f"SSIM {high['ssim']:.3f})."
            )
    return "\n".join(lines)


def defense_summary(sweeps: Mapping, defenses: Mapping[str, int], titles: Mapping[str, str]) -> str:
    """Average recovered accuracy over the attacked rows per defense, and what it costs on clean photos."""
    lines = []
    for backbone, sweep in sweeps.items():
        clean = next(r for r in sweep.defense if r["attack"] == "clean")
        attacked = [r for r in sweep.defense if r["attack"] != "clean"]
        base = float(np.mean([r["attacked_accuracy"] for r in attacked]))
        parts = []
        for name, level in defenses.items():
            recovered = float(np.mean([r[f"{name}_accuracy"] for r in attacked]))
            parts.append(f"{ALTERATIONS[name].label(level)} {format_percent(recovered)} ({100 * (recovered - base):+.1f} points; "
                         f"on clean photos {format_percent(clean[f'{name}_accuracy'])} vs {format_percent(clean['attacked_accuracy'])})")
        lines.append(f"{titles[backbone]}: attacked images average {format_percent(base)} true-label accuracy over all attacks and budgets; "
                     "recovered: " + ", ".join(parts) + ".")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Findings: the study's claims and ours, judged on this run's numbers with 95% intervals

_FINDINGS = {f.key: f for f in FINDINGS}


def _accuracy(fraction: float, n: int) -> Interval:
    """A true-label accuracy measured on ``n`` photos, with its 95% Wilson interval."""
    return wilson_interval(int(round(fraction * n)), n)


def _ssim(point: Mapping) -> Interval:
    """A curve point's mean SSIM with the 95% interval of the mean over its images."""
    return Interval(point["ssim"], point.get("ssim_low", point["ssim"]), point.get("ssim_high", point["ssim"]))


def _negated(status: str) -> str:
    """The verdict on "not X" from the verdict on X (not shown stays not shown)."""
    return {HOLDS: DOES_NOT_HOLD, DOES_NOT_HOLD: HOLDS}.get(status, NOT_SHOWN)


def _judge(finding: Finding, parts: Sequence[tuple[str, str]], combine=all_of, *, evidence: str = "",
           contrary: str = "") -> Outcome:
    """``finding``'s verdict from its parts (status, what it rests on): ``combine`` of the statuses; where it does
    not hold, what the run measured instead is ``contrary`` (what the failing parts show) and those parts."""
    status = combine(*(s for s, _ in parts)) if parts else NOT_SHOWN
    measured = ""
    if status == DOES_NOT_HOLD:
        failing = [text for s, text in parts if s == DOES_NOT_HOLD]
        measured = f"{contrary} ({'all of the evidence' if len(failing) == len(parts) else '; '.join(failing)})"
    return finding.judge(status, evidence or "; ".join(text for _, text in parts), measured=measured)


def _defense_rows(attacked: Attacked) -> list[tuple[str, dict]]:
    """Section 5's rows of both attacks at the export budget, with their backbone."""
    return [(name, r) for name, sweep in attacked.sweeps.items() for r in sweep.defense
            if r["attack"] != "clean" and np.isclose(r["epsilon"], attacked.export_eps)]


def judge_attacks_lower_accuracy(attacked: Attacked, titles: Mapping[str, str], n: int) -> Outcome:
    """Each attack at its largest budget against each backbone's accuracy on the clean photos."""
    parts = []
    for name, sweep in attacked.sweeps.items():
        clean = _accuracy(attacked.clean_accuracy[name], n)
        for attack, points in sweep.curves.items():
            last = _at_largest(points)
            hit = _accuracy(last["accuracy"], n)
            parts.append((exceeds(clean, hit), f"{titles[name]}, {attack.upper()} eps={last['level']:g}: {percent(hit)} "
                                               f"(clean {percent(clean)})"))
    return _judge(_FINDINGS["attacks_lower_accuracy"], parts, contrary="an attack left the accuracy at or above its clean level")


def judge_pgd_fools_more(attacked: Attacked, titles: Mapping[str, str], n: int) -> Outcome:
    """Per backbone: PGD's accuracy below FGSM's at some budget and above it at none (each with its interval)."""
    parts = []
    for name, sweep in attacked.sweeps.items():
        if not {"fgsm", "pgd"} <= set(sweep.curves):
            continue
        below, above, text = [], [], []
        for f, p in zip(sweep.curves["fgsm"], sweep.curves["pgd"]):
            fgsm, pgd = _accuracy(f["accuracy"], n), _accuracy(p["accuracy"], n)
            below.append(exceeds(fgsm, pgd))
            above.append(exceeds(pgd, fgsm))
            text.append(f"eps={p['level']:g} PGD {percent(pgd)} vs FGSM {percent(fgsm)}")
        status = DOES_NOT_HOLD if HOLDS in above else (HOLDS if HOLDS in below else NOT_SHOWN)
        parts.append((status, f"{titles[name]}: " + ", ".join(text)))
    return _judge(_FINDINGS["pgd_fools_more_than_fgsm"], parts, contrary="FGSM left less accuracy than PGD at some budget")


def judge_fgsm_more_similar(attacked: Attacked, titles: Mapping[str, str]) -> Outcome:
    """Per backbone and budget: the mean over photos of (FGSM's SSIM - PGD's SSIM), with its interval, above 0."""
    parts = []
    for name, sweep in attacked.sweeps.items():
        if not {"fgsm", "pgd"} <= set(sweep.ssim):
            continue
        for eps in sorted(sweep.ssim["fgsm"]):
            gap = mean_interval(np.asarray(sweep.ssim["fgsm"][eps]) - np.asarray(sweep.ssim["pgd"][eps]))
            parts.append((exceeds(gap, 0.0), f"{titles[name]}, eps={eps:g}: FGSM minus PGD SSIM {gap.estimate:+.2g} "
                                             f"({gap.low:+.2g} to {gap.high:+.2g})"))
    return _judge(_FINDINGS["fgsm_images_more_similar"], parts, contrary="PGD's images had the higher SSIM")


def judge_ssim_high(attacked: Attacked, titles: Mapping[str, str]) -> Outcome:
    """Every attack, budget and backbone: the mean SSIM's interval at or above ``HIGH_SSIM``."""
    points = [(p, f"{titles[name]}, {attack.upper()} eps={p['level']:g}: SSIM {p['ssim']:.3f} "
                  f"({p.get('ssim_low', p['ssim']):.3f}-{p.get('ssim_high', p['ssim']):.3f})")
              for name, sweep in attacked.sweeps.items() for attack, curve in sweep.curves.items() for p in curve]
    parts = [(at_least(_ssim(p), HIGH_SSIM), text) for p, text in points]
    lowest = min(points, key=lambda point: point[0]["ssim"], default=None)
    return _judge(_FINDINGS["attacks_keep_ssim_high"], parts, evidence=f"lowest mean: {lowest[1]}" if lowest else "",
                  contrary=f"SSIM below {HIGH_SSIM:g}")


def judge_pca(altered: AlterationSweep, attacked: Attacked, titles: Mapping[str, str], n: int) -> Outcome:
    """Per backbone: some PCA level keeps SSIM >= ``HIGH_SSIM`` and loses more than ``PCA_COSTS`` of accuracy."""
    parts = []
    for name, curves in altered.curves.items():
        points = curves.get("pca", [])
        if not points:
            continue
        clean = _accuracy(attacked.clean_accuracy[name], n)
        levels = [all_of(at_least(_ssim(p), HIGH_SSIM), exceeds(clean, _accuracy(p["accuracy"], n), by=PCA_COSTS))
                  for p in points]
        text = ", ".join(f"{p['level']} comp. SSIM {p['ssim']:.3f}, {percent(_accuracy(p['accuracy'], n))}" for p in points)
        parts.append((any_of(*levels), f"{titles[name]} (clean {percent(clean)}): {text}"))
    return _judge(_FINDINGS["pca_looks_similar_but_fools"], parts,
                  contrary=f"no PCA level both kept SSIM at {HIGH_SSIM:g} or above and cost more than "
                           f"{100 * PCA_COSTS:.0f} points")


def judge_blur(attacked: Attacked, titles: Mapping[str, str], n: int) -> Outcome:
    """At the export budget, both attacks: blur does not recover ``HELPS`` of accuracy over the attacked photos."""
    parts = []
    for name, r in _defense_rows(attacked):
        hit, blurred = _accuracy(r["attacked_accuracy"], n), _accuracy(r["blur_accuracy"], n)
        parts.append((_negated(exceeds(blurred, hit, by=HELPS)),
                      f"{titles[name]}, {r['attack'].upper()} eps={r['epsilon']:g}: {percent(hit)} attacked, "
                      f"{percent(blurred)} blurred (k={attacked.defenses['blur']})"))
    return _judge(_FINDINGS["blur_does_not_help"], parts, contrary="blur recovered accuracy")


def judge_jpeg_vs_blur(attacked: Attacked, titles: Mapping[str, str], n: int) -> Outcome:
    """At the export budget, both attacks: accuracy after JPEG above accuracy after blur."""
    parts = []
    for name, r in _defense_rows(attacked):
        jpeg, blurred = _accuracy(r["jpeg_accuracy"], n), _accuracy(r["blur_accuracy"], n)
        parts.append((exceeds(jpeg, blurred), f"{titles[name]}, {r['attack'].upper()} eps={r['epsilon']:g}: "
                                              f"JPEG {percent(jpeg)} vs blur {percent(blurred)}"))
    return _judge(_FINDINGS["jpeg_better_than_blur"], parts, contrary="blur recovered more accuracy than JPEG")


def judge_resnet_vs_vgg(attacked: Attacked, titles: Mapping[str, str], n: int) -> Outcome:
    """ResNet50's accuracy on the clean evaluation photos above VGG16's, when both ran."""
    finding = _FINDINGS["resnet_beats_vgg"]
    if not {"VGG16", "ResNet50"} <= set(attacked.clean_accuracy):
        return finding.judge(NOT_SHOWN, "VGG16 and ResNet50 did not both run here (ran: "
                             + ", ".join(titles[b] for b in attacked.clean_accuracy) + ")")
    resnet, vgg = (_accuracy(attacked.clean_accuracy[b], n) for b in ("ResNet50", "VGG16"))
    return _judge(finding, [(exceeds(resnet, vgg), f"clean accuracy ResNet50 {percent(resnet)} vs VGG16 {percent(vgg)}")],
                  contrary="VGG16 was at least as accurate")


ADAPTIVE_FINDINGS = {"jpeg": "jpeg_falls_to_bpda", "blur": "blur_fails_through_it", "pca": "pca_fails_through_it",
                     "noise": "noise_falls_to_eot"}


def judge_through_defense(adaptive: Adaptive | None, defense: str, titles: Mapping[str, str]) -> Outcome:
    """Per backbone, at some budget of section 6: the defense recovers ``HELPS`` of accuracy against the plain PGD
    images (over the undefended model), and PGD through it takes at least ``HELPS`` of that back."""
    finding = _FINDINGS[ADAPTIVE_FINDINGS[defense]]
    parts = []
    for name, sweep in (adaptive.sweeps.items() if adaptive is not None else ()):
        curve = sorted(sweep.curve(defense), key=lambda row: row["epsilon"])
        if not curve:
            continue
        statuses, text = [], []
        for r in curve:
            bare, plain, through = (_accuracy(r[k], sweep.images)
                                    for k in ("undefended_accuracy", "plain_accuracy", "through_accuracy"))
            statuses.append(all_of(exceeds(plain, bare, by=HELPS), exceeds(plain, through, by=HELPS)))
            text.append(f"eps={r['epsilon']:g}: plain PGD {percent(bare)} without it, {percent(plain)} with it, "
                        f"PGD through it {percent(through)}")
        parts.append((any_of(*statuses), f"{titles[name]}, {ALTERATIONS[defense].label(curve[0]['level'])}: " + "; ".join(text)))
    if not parts:
        return finding.judge(NOT_SHOWN, "no attack through this defense ran")
    return _judge(finding, parts, contrary="at no budget did the defense help against the plain attack and the attack "
                                           "through it take that back")


def findings(trained: Trained, target: EvalSet, altered: AlterationSweep, attacked: Attacked,
             adaptive: Adaptive | None = None) -> list[Outcome]:
    """Every finding of ``reference.FINDINGS``, in order, judged on this run's numbers (95% intervals: Wilson
    over the evaluation photos for accuracies, Student-t over the photos for SSIM)."""
    titles, n = trained.titles, len(target.y)
    outcomes = [
        judge_attacks_lower_accuracy(attacked, titles, n),
        judge_pgd_fools_more(attacked, titles, n),
        judge_fgsm_more_similar(attacked, titles),
        judge_ssim_high(attacked, titles),
        judge_pca(altered, attacked, titles, n),
        judge_blur(attacked, titles, n),
        judge_jpeg_vs_blur(attacked, titles, n),
        judge_resnet_vs_vgg(attacked, titles, n),
        *(judge_through_defense(adaptive, d, titles) for d in ADAPTIVE_FINDINGS),
    ]
    order = [f.key for f in FINDINGS]
    return sorted(outcomes, key=lambda o: order.index(o.key))


# --------------------------------------------------------------------------------------------------
# Headline and the detail metrics.json keeps


def _at_largest(points: Sequence[dict]) -> dict:
    """The point of a curve at the largest budget."""
    return max(points, key=lambda p: p["level"])


def per_backbone(trained: Trained, attacked: Attacked) -> dict[str, dict[str, float]]:
    """Each backbone's headline quantities: clean test accuracy, then FGSM / PGD at the largest budget
    (true-label accuracy, agreement, SSIM) and PGD's images after JPEG and after blur at that budget."""
    record = {}
    for name, sweep in attacked.sweeps.items():
        values = {"clean_accuracy": trained.test_accuracy[name]}
        for attack in ATTACK_NAMES:
            last = _at_largest(sweep.curves[attack])
            values[f"{attack}_accuracy"] = last["accuracy"]
            values[f"{attack}_agreement"] = last["agreement"]
            values[f"{attack}_ssim"] = last["ssim"]
        largest = _at_largest(sweep.curves["pgd"])["level"]
        row = next(r for r in sweep.defense if r["attack"] == "pgd" and np.isclose(r["epsilon"], largest))
        values["pgd_jpeg_accuracy"] = row["jpeg_accuracy"]
        values["pgd_blur_accuracy"] = row["blur_accuracy"]
        record[name] = values
    return record


def headline(photos: Photos, trained: Trained, attacked: Attacked, params: Mapping[str, Any]) -> list[Metric]:
    """Stable keys at every preset. With several backbones each value is their mean (each backbone's own
    is in ``extra``); the budget, steps and defense levels are the metrics' detail."""
    values = per_backbone(trained, attacked)
    mean = {key: float(np.mean([v[key] for v in values.values()])) for key in next(iter(values.values()))}
    of = " (mean over backbones)" if len(values) > 1 else ""
    split = photos.split
    eps = max(params["epsilons"])
    at = {"eps": eps}
    pgd = {"eps": eps, "steps": params["pgd_steps"]}
    return [
        metric("clean_accuracy", f"clean test accuracy{of}", mean["clean_accuracy"], unit="%", reference=REFERENCE,
               backbones=", ".join(trained.titles[n] for n in trained.models), photos=len(split.y_train) + len(split.y_test),
               test_photos=len(split.y_test), classes=len(split.classes)),
        metric("fgsm_accuracy", f"FGSM true-label accuracy{of}", mean["fgsm_accuracy"], unit="%", reference=REFERENCE, **at),
        metric("pgd_accuracy", f"PGD true-label accuracy{of}", mean["pgd_accuracy"], unit="%", reference=REFERENCE, **pgd),
        metric("pgd_agreement", f"PGD agreement with the clean prediction{of}", mean["pgd_agreement"], unit="%",
               reference=REFERENCE, **pgd),
        metric("fgsm_ssim", f"FGSM mean SSIM to the originals{of}", mean["fgsm_ssim"], reference=REFERENCE, **at),
        metric("pgd_ssim", f"PGD mean SSIM to the originals{of}", mean["pgd_ssim"], reference=REFERENCE, **pgd),
        metric("pgd_jpeg_accuracy", f"PGD images after JPEG, true-label accuracy{of}", mean["pgd_jpeg_accuracy"], unit="%",
               reference=REFERENCE, quality=attacked.defenses["jpeg"], **pgd),
        metric("pgd_blur_accuracy", f"PGD images after blur, true-label accuracy{of}", mean["pgd_blur_accuracy"], unit="%",
               reference=REFERENCE, kernel=attacked.defenses["blur"], **pgd),
        metric("models_from_cache", "models loaded from cache", trained.from_cache),
    ]


def extra(photos: Photos, trained: Trained, altered: AlterationSweep, attacked: Attacked, exported: Exported,
          adaptive: Adaptive | None = None, agreement: ArtAgreement | None = None) -> dict[str, Any]:
    """What ``metrics.json`` keeps beside the headline: plans, curves, defense rows, the attacks through the
    defenses, the readable attacks beside ART's, the export and the device Keras ran on (the findings are kept by
    ``run.close``)."""
    record = {}
    if agreement is not None:
        record["readable attacks beside ART"] = {"backbone": agreement.backbone, "images": agreement.images,
                                                 "eps": agreement.eps, "steps": agreement.steps, "rows": agreement.rows,
                                                 "ssim difference": agreement.ssim_difference}
    if adaptive is not None:
        record["attacks through the defenses"] = {
            "images": adaptive.images, "steps": adaptive.steps, "eot_samples": adaptive.eot_samples, "levels": adaptive.levels,
            "gradients": {d.name: d.gradient for d in next(iter(adaptive.sweeps.values())).defenses},
            "undefended clean accuracy": {n: s.undefended_clean for n, s in adaptive.sweeps.items()},
            "rows": {n: s.rows for n, s in adaptive.sweeps.items()},
        }
    if trained.device is not None:
        record["keras device"] = {"requested": trained.device.requested, "device": trained.device.name,
                                  "description": trained.device.description, "placed": trained.used}
    return {
        "backbone plans": [{"run": p.run, "requested": p.requested, "weights": p.source.describe(), "notes": p.notes}
                           for p in trained.plans],
        "photo source": photos.source.description,
        "per backbone": per_backbone(trained, attacked),
        "alteration curves": altered.curves,
        "attack curves": {n: s.curves for n, s in attacked.sweeps.items()},
        "defense": {n: s.defense for n, s in attacked.sweeps.items()},
        "attacked images": f"{exported.folder.name}/{exported.csv_path.name}",
    } | record
