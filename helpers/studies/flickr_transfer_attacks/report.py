"""What the study's results say: tables, prose written from the measured numbers, the comparison with the
study's findings (reference text) and the headline."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from helpers.headline import Metric, metric
from helpers.tables import show_table

from .alterations import ALTERATIONS
from .evaluation import ATTACK_NAMES, AlterationSweep
from .reference import HELPS, HIGH_SSIM, REFERENCE, STUDY_FINDINGS
from .study import GRIDS, Adaptive, Attacked, EvalSet, Exported, Photos, Trained


COMPARISON_COLUMNS = ["finding", "study (reference text, not measured here)", "measured in this run", "consistent?"]


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
    print(device_summary(trained))


def device_summary(trained: Trained) -> str:
    """Which device the ``device`` parameter picked for Keras, and where TensorFlow really placed each model."""
    where = ", ".join(f"{trained.titles[n]} on {d}" for n, d in trained.used.items())
    if trained.device is None:
        return f"Keras ran {where}." if where else ""
    return (f"device={trained.device.requested!r}: Keras runs on {trained.device.name}, {trained.device.description}; "
            f"TensorFlow placed the weights and ran a prediction: {where}.")


def show_eval_set(target: EvalSet, trained: Trained) -> None:
    print(f"{len(target.y)} test photos; accuracy on them: "
          + ", ".join(f"{trained.titles[n]} {100 * a:.1f}%" for n, a in target.accuracy.items()))


def show_alterations(altered: AlterationSweep, trained: Trained) -> None:
    print(alteration_summary(altered.curves, trained.titles))


def show_attacks(attacked: Attacked, trained: Trained) -> None:
    print(attack_summary(attacked.sweeps, trained.titles, attacked.clean_accuracy))


def show_defense(attacked: Attacked, trained: Trained) -> None:
    """Per backbone, attack and budget: true-label accuracy attacked, after JPEG and after blur, and agreement."""
    rows = []
    for name, sweep in attacked.sweeps.items():
        for r in sweep.defense:
            rows.append([trained.titles[name], r["attack"].upper() if r["attack"] != "clean" else "clean", f"{r['epsilon']:g}",
                         r["attacked_accuracy"], r["jpeg_accuracy"], r["blur_accuracy"], r["attacked_agreement"], r["jpeg_agreement"]])
    show_table(rows, ["backbone", "attack", "epsilon", "true-label acc.", f"+ JPEG q={attacked.defenses['jpeg']}",
                      f"+ blur k={attacked.defenses['blur']}", "agreement", "agreement + JPEG"])
    print(defense_summary(attacked.sweeps, attacked.defenses, trained.titles))


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
    print(f"{adaptive.images} evaluation photos, PGD-{adaptive.steps} (true labels), the same photos and budgets for every "
          f"defense; noise drawn with the run's seed when scored, the attacker averages {adaptive.eot_samples} other draws per step.")
    show_table(adaptive_rows(adaptive, trained), ADAPTIVE_COLUMNS)
    print(adaptive_summary(adaptive, trained.titles))


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
                f"{titles[backbone]}, {defense.label}: {_pct(last['clean_accuracy'])} on clean photos; at eps={last['epsilon']:g} "
                f"plain PGD leaves {_pct(last['undefended_accuracy'])} without the defense and {_pct(last['plain_accuracy'])} with it, "
                f"PGD through it {_pct(last['through_accuracy'])} (SSIM {last['plain_ssim']:.3f} plain, {last['through_ssim']:.3f} "
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
    print(f"{len(exported.rows)} PNG files and {exported.csv_path.name} in {exported.folder.name}/ beside this report; "
          "on the saved files the attacked backbone is wrong on "
          + ", ".join(f"{100 * v:.1f}% ({trained.titles[n]})" for n, v in fooled.items()))
    show_table([[r["file"], r["source"], r["label"]] + [r[f"adversarial_prediction_{n}"] for n in trained.models] for r in exported.rows[:4]],
               ["file", "source", "label"] + [f"prediction {n} on the file" for n in trained.models])


def comparison(altered: AlterationSweep, attacked: Attacked, trained: Trained) -> list[list[str]]:
    """The comparison table's rows for this run (see ``compare_with_study``)."""
    return compare_with_study(attacked.sweeps, altered.curves, attacked.defenses, attacked.clean_accuracy, trained.titles)


def show_comparison(altered: AlterationSweep, attacked: Attacked, trained: Trained) -> None:
    show_table(comparison(altered, attacked, trained), COMPARISON_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Sentences written from the measured numbers


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


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
            parts.append(f"{titles[backbone]} agreement {_pct(p['agreement'])}, true-label accuracy {_pct(p['accuracy'])}")
        lines.append(f"{ALTERATIONS[name].label(strongest['level'])} (SSIM {strongest['ssim']:.3f}): " + "; ".join(parts) + ".")
    return "\n".join(lines)


def attack_summary(sweeps: Mapping, titles: Mapping[str, str], clean: Mapping[str, float]) -> str:
    """Per backbone and attack: accuracy and SSIM at the smallest and largest budget."""
    lines = []
    for backbone, sweep in sweeps.items():
        for attack, points in sweep.curves.items():
            low, high = points[0], points[-1]
            lines.append(
                f"{titles[backbone]}, {attack.upper()}: true-label accuracy {_pct(clean[backbone])} clean -> {_pct(low['accuracy'])} "
                f"at eps={low['level']:g} and {_pct(high['accuracy'])} at eps={high['level']:g} (agreement {_pct(high['agreement'])}, "
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
            parts.append(f"{ALTERATIONS[name].label(level)} {_pct(recovered)} ({100 * (recovered - base):+.1f} points; "
                         f"on clean photos {_pct(clean[f'{name}_accuracy'])} vs {_pct(clean['attacked_accuracy'])})")
        lines.append(f"{titles[backbone]}: attacked images average {_pct(base)} true-label accuracy over all attacks and budgets; "
                     "recovered: " + ", ".join(parts) + ".")
    return "\n".join(lines)


def compare_with_study(
    sweeps: Mapping,
    alteration_curves: Mapping[str, Mapping[str, Sequence[dict]]],
    defenses: Mapping[str, int],
    clean_accuracy: Mapping[str, float],
    titles: Mapping[str, str],
) -> list[list[str]]:
    """Rows (finding, study says, measured here, consistent?): the study's text beside this run's numbers."""
    rows = []

    def add(key: str, measured: str, verdict: bool | None) -> None:
        rows.append([key, STUDY_FINDINGS[key], measured, "not measured" if verdict is None else ("yes" if verdict else "no")])

    def mean(points, field_name):
        return float(np.mean([p[field_name] for p in points]))

    both = {b: s for b, s in sweeps.items() if {"fgsm", "pgd"} <= set(s.curves)}
    if both:
        text, ok = [], []
        for b, s in both.items():
            f, p = mean(s.curves["fgsm"], "agreement"), mean(s.curves["pgd"], "agreement")
            text.append(f"{titles[b]}: mean agreement PGD {_pct(p)} vs FGSM {_pct(f)}")
            ok.append(p <= f)
        add("pgd_vs_fgsm", "; ".join(text), all(ok))
        text, ok = [], []
        for b, s in both.items():
            f, p = mean(s.curves["fgsm"], "ssim"), mean(s.curves["pgd"], "ssim")
            text.append(f"{titles[b]}: mean SSIM FGSM {f:.3f} vs PGD {p:.3f}")
            ok.append(f >= p)
        add("fgsm_ssim", "; ".join(text), all(ok))
    lowest = min((p["ssim"], p["level"], a, b) for b, s in sweeps.items() for a, pts in s.curves.items() for p in pts)
    add("attack_ssim", f"lowest mean SSIM {lowest[0]:.3f} ({lowest[2].upper()} eps={lowest[1]:g} on {titles[lowest[3]]}); "
        f"'high' taken as >= {HIGH_SSIM}", lowest[0] >= HIGH_SSIM)

    gains = {}
    for name in defenses:
        gains[name] = float(np.mean([r[f"{name}_accuracy"] - r["attacked_accuracy"]
                                     for s in sweeps.values() for r in s.defense if r["attack"] != "clean"]))
    if "blur" in gains:
        add("blur", f"blur k={defenses['blur']} recovers {100 * gains['blur']:+.1f} points of true-label accuracy on average "
            f"('helps' taken as >= {100 * HELPS:.0f})", gains["blur"] < HELPS)
    if "jpeg" in gains and "blur" in gains:
        add("jpeg", f"JPEG q={defenses['jpeg']} recovers {100 * gains['jpeg']:+.1f} points vs blur {100 * gains['blur']:+.1f}",
            gains["jpeg"] > gains["blur"])

    first = next(iter(alteration_curves))
    pca = alteration_curves[first].get("pca", [])
    similar = [p for p in pca if p["ssim"] >= HIGH_SSIM]
    if pca:
        if similar:
            worst = min(similar, key=lambda p: p["agreement"])
            add("pca", f"{titles[first]}: with {worst['level']} components SSIM {worst['ssim']:.3f}, agreement {_pct(worst['agreement'])} "
                f"(true-label accuracy {_pct(worst['accuracy'])})", worst["agreement"] <= 0.8)
        else:
            add("pca", f"no PCA level kept SSIM >= {HIGH_SSIM} (highest {max(p['ssim'] for p in pca):.3f})", False)

    if {"VGG16", "ResNet50"} <= set(sweeps):
        def score(b):
            return clean_accuracy[b] + float(np.mean([p["accuracy"] for pts in sweeps[b].curves.values() for p in pts]))
        add("resnet_vs_vgg", f"clean accuracy ResNet50 {_pct(clean_accuracy['ResNet50'])} vs VGG16 {_pct(clean_accuracy['VGG16'])}; "
            f"mean accuracy under attack {_pct(score('ResNet50') - clean_accuracy['ResNet50'])} vs {_pct(score('VGG16') - clean_accuracy['VGG16'])}",
            score("ResNet50") >= score("VGG16"))
    else:
        add("resnet_vs_vgg", f"only {', '.join(titles[b] for b in sweeps)} ran here", None)
    return rows


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
          adaptive: Adaptive | None = None) -> dict[str, Any]:
    """What ``metrics.json`` keeps beside the headline: plans, curves, defense rows, the attacks through the
    defenses, the comparison, the export and the device Keras ran on."""
    record = {}
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
        "comparison with the study": comparison(altered, attacked, trained),
        "attacked images": f"{exported.folder.name}/{exported.csv_path.name}",
    } | record
