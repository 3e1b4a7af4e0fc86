"""Study 4: a generative attacker network against MNIST classifiers.

Parameters, the study's approximate reference values (labelled as such, never mixed with measured
numbers), and the steps the notebook ``notebooks/04_gan_attacker.ipynb`` calls, each returning plain
results and a sentence written from the measured numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from helpers.params import RUN_PARAMETERS, Param, ParameterError
from .networks import OUTPUT_MODES
from .ensemble import ensemble_rows, train_ensemble_attacker
from .training import MODES, AttackerRun, train_alternating, train_classifier, train_consecutive

STUDY = "gan_attacker"
TITLE = "A generative attacker network against MNIST classifiers"
STUDY_INTENSITIES = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)

PARAMETERS = {
    **RUN_PARAMETERS,
    "train_size": Param(int, low=100, high=60_000, help="training digits (classifiers and attacker)"),
    "test_size": Param(int, low=100, high=10_000, help="test digits evaluated after every epoch"),
    "attacker_train_size": Param(int, low=32, high=60_000, help="training digits the attacker (and the alternating C1 and C2) trains on, a stratified subset of train_size"),
    "batch_size": Param(int, low=8, high=1024),
    "classifier_epochs": Param(int, low=1, high=100, help="clean training of C1 and C2 before the consecutive mode (study: 20)"),
    "pretrain_epochs": Param(int, low=1, high=100, help="clean pre-training of C1 and C2 before the alternating mode (study: 5)"),
    "attacker_epochs": Param(int, low=1, high=100, help="epochs of attacker (and alternating) training (study: 20)"),
    "classifier_learning_rate": Param(float, low=1e-6, high=1.0),
    "attacker_learning_rate": Param(float, low=1e-6, high=1.0),
    "intensities": Param(list, item=float, low=0.001, high=1.0, help="attacker intensities t, the L-infinity bound of A's output"),
    "output_mode": Param(str, choices=OUTPUT_MODES, help="'scaled': t * tanh; 'clamp': tanh clamped to [-t, t]"),
    "modes": Param(list, item=str, choices=MODES, help="training modes to run"),
    "attack_size": Param(int, low=10, high=10_000, help="test digits for the PGD comparison"),
    "pgd_steps": Param(int, low=1, high=1000),
    "ensemble_size": Param(int, low=2, high=8, help="classifiers the ensemble attacker is trained against (C1, C3, ...); C2 stays unseen"),
    "ensemble_intensity": Param(float, low=0.001, high=1.0, help="intensity of the ensemble attacker"),
}

# The study's approximate results, as read from its text (issue 6). They are the "study" column of the
# final table, next to the numbers this run measures; None where the study states nothing.
STUDY_REFERENCE: dict[tuple[str, float], tuple[str | None, str | None]] = {
    ("consecutive", 0.01): ("no effect (~clean)", "no effect (~clean)"),
    ("consecutive", 0.02): ("no effect (~clean)", "no effect (~clean)"),
    ("consecutive", 0.04): ("~80%", "almost no transfer (~clean)"),
    ("consecutive", 0.08): ("~20%", "~90%"),
    ("consecutive", 0.16): ("near chance (~10%)", None),
    ("consecutive", 0.32): ("near chance (~10%)", None),
    ("consecutive", 0.64): ("near chance (~10%)", None),
    ("alternating", 0.04): ("harmless (~clean)", None),
    ("alternating", 0.08): ("degrades less than consecutive", None),
}


def study_reference(mode: str, intensity: float) -> tuple[str, str]:
    """The study's approximate (C1, C2) attacked accuracy for a mode and intensity, '-' where not stated."""
    c1, c2 = STUDY_REFERENCE.get((mode, round(intensity, 4)), (None, None))
    return c1 or "-", c2 or "-"


def check_consistency(params: Mapping) -> None:
    """Checks that involve more than one parameter (``check_parameters`` checks each one alone)."""
    if params["attack_size"] > params["test_size"]:
        raise ParameterError(f"parameter 'attack_size' ({params['attack_size']}) must be <= test_size ({params['test_size']})")
    if params["attacker_train_size"] > params["train_size"]:
        raise ParameterError(f"parameter 'attacker_train_size' ({params['attacker_train_size']}) must be <= train_size ({params['train_size']})")
    if len(set(params["intensities"])) != len(params["intensities"]):
        raise ParameterError(f"parameter 'intensities' has duplicates: {params['intensities']!r}")
    if len(set(params["modes"])) != len(params["modes"]):
        raise ParameterError(f"parameter 'modes' has duplicates: {params['modes']!r}")


def attacker_data(data, params: Mapping):
    """The stratified subset of the training digits the attacker trains on (test digits unchanged)."""
    if params["attacker_train_size"] >= len(data.x_train):
        return data
    return data.subset(params["attacker_train_size"], None, seed=params["seed"])


@dataclass
class Classifiers:
    """The clean-trained classifiers: C1, C2 (consecutive), their pre-trained versions (alternating)."""

    trained: dict[str, object] = field(default_factory=dict)
    pretrained: dict[str, object] = field(default_factory=dict)
    histories: dict[str, list] = field(default_factory=dict)
    from_cache: dict[str, bool] = field(default_factory=dict)


def train_classifiers(data, params: Mapping, device, *, indices=(1, 2)) -> Classifiers:
    """C1 and C2 (and any other index) trained ``classifier_epochs`` on clean data, and when the
    alternating mode runs, pre-trained ``pretrain_epochs``; all cached."""
    result = Classifiers()
    common = dict(batch_size=params["batch_size"], learning_rate=params["classifier_learning_rate"], seed=params["seed"], device=device)
    for index in indices:
        name = f"c{index}"
        model, history, cached = train_classifier(data, index=index, epochs=params["classifier_epochs"], **common)
        result.trained[name], result.histories[name], result.from_cache[name] = model, history, cached
        if "alternating" in params["modes"] and index in (1, 2):
            model, history, cached = train_classifier(data, index=index, epochs=params["pretrain_epochs"], **common)
            result.pretrained[name], result.from_cache[f"{name} pre-trained"] = model, cached
    return result


def run_mode(mode: str, classifiers: Classifiers, data, params: Mapping, device) -> dict[float, AttackerRun]:
    """Train one attacker per intensity in ``mode``; returns intensity -> run."""
    runs = {}
    data = attacker_data(data, params)
    common = dict(output_mode=params["output_mode"], epochs=params["attacker_epochs"], batch_size=params["batch_size"],
                  learning_rate=params["attacker_learning_rate"], seed=params["seed"], device=device)
    for t in params["intensities"]:
        if mode == "consecutive":
            runs[t] = train_consecutive(classifiers.trained["c1"], classifiers.trained["c2"], data, intensity=t, **common)
        else:
            runs[t] = train_alternating(classifiers.pretrained["c1"], classifiers.pretrained["c2"], data, intensity=t,
                                        classifier_learning_rate=params["classifier_learning_rate"], **common)
    return runs


def run_ensemble(classifiers: Classifiers, consecutive: Mapping[float, AttackerRun], data, params: Mapping, device) -> tuple[AttackerRun, AttackerRun, list[dict]]:
    """The attacker trained against the average loss of C1, C3, ... (``ensemble_size`` classifiers, trained
    like C1 on clean data), and the single-target attacker at the same intensity (the consecutive-mode run
    when there is one, else trained here), both evaluated on the members and on the unseen C2."""
    t = params["ensemble_intensity"]
    common = dict(output_mode=params["output_mode"], epochs=params["attacker_epochs"], batch_size=params["batch_size"],
                  learning_rate=params["attacker_learning_rate"], seed=params["seed"], device=device)
    extra = tuple(range(3, params["ensemble_size"] + 2))
    more = train_classifiers(data, {**params, "modes": []}, device, indices=extra)
    classifiers.trained.update(more.trained)
    classifiers.from_cache.update(more.from_cache)
    data = attacker_data(data, params)
    members = {"c1": classifiers.trained["c1"], **more.trained}
    unseen = {"c2": classifiers.trained["c2"]}
    single = consecutive.get(t) or train_consecutive(classifiers.trained["c1"], classifiers.trained["c2"], data, intensity=t, **common)
    ensemble = train_ensemble_attacker(members, unseen, data, intensity=t, **common)
    return single, ensemble, ensemble_rows(single, ensemble, members, unseen, data, device=device)


def final_rows(runs_by_mode: Mapping[str, Mapping[float, AttackerRun]]) -> list[list]:
    """The final table: per intensity and mode, C1 and C2 clean and attacked accuracy after the last
    epoch, with the study's approximate attacked accuracy beside ours."""
    rows = []
    intensities = sorted({t for runs in runs_by_mode.values() for t in runs})
    for t in intensities:
        for mode, runs in runs_by_mode.items():
            if t not in runs:
                continue
            run = runs[t]
            study_c1, study_c2 = study_reference(mode, t)
            rows.append([f"{t:g}", mode, run.final("c1_clean_accuracy"), run.final("c1_attacked_accuracy"), study_c1,
                         run.final("c2_clean_accuracy"), run.final("c2_attacked_accuracy"), study_c2])
    return rows


FINAL_COLUMNS = ["t", "mode", "C1 clean", "C1 attacked", "C1 attacked, study", "C2 clean", "C2 attacked (transfer)", "C2 attacked, study"]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def mode_summary(runs: Mapping[float, AttackerRun]) -> str:
    """What the per-epoch curves show, from the numbers: per intensity the drop on C1 and the transfer to C2."""
    sentences = []
    for t, run in sorted(runs.items()):
        first, last = run.history[0], run.history[-1]
        drop_c1 = last["c1_clean_accuracy"] - last["c1_attacked_accuracy"]
        drop_c2 = last["c2_clean_accuracy"] - last["c2_attacked_accuracy"]
        sentences.append(
            f"t={t:g}: C1 {_pct(last['c1_clean_accuracy'])} clean -> {_pct(last['c1_attacked_accuracy'])} attacked "
            f"(untrained A: {_pct(first['c1_attacked_accuracy'])}), C2 {_pct(last['c2_clean_accuracy'])} -> "
            f"{_pct(last['c2_attacked_accuracy'])}; transfer keeps {_transfer_share(drop_c1, drop_c2)} of the drop."
        )
    return "\n".join(sentences)


def _transfer_share(drop_c1: float, drop_c2: float) -> str:
    if drop_c1 <= 0.01:
        return "none (A does not hurt C1)"
    return f"{100 * max(drop_c2, 0.0) / drop_c1:.0f}%"


def modes_summary(consecutive: Mapping[float, AttackerRun], alternating: Mapping[float, AttackerRun]) -> str:
    """Consecutive against alternating at each shared intensity: which one leaves C1 more accurate under attack."""
    sentences = []
    for t in sorted(set(consecutive) & set(alternating)):
        c, a = consecutive[t].final("c1_attacked_accuracy"), alternating[t].final("c1_attacked_accuracy")
        verdict = "more robust" if a > c + 0.02 else ("less robust" if a < c - 0.02 else "about as robust")
        sentences.append(f"t={t:g}: C1 under attack {_pct(c)} after consecutive training, {_pct(a)} after alternating "
                         f"training: the alternately trained C1 is {verdict} against its own attacker.")
    return "\n".join(sentences)


def pgd_summary(rows: list[dict]) -> str:
    sentences = []
    for r in rows:
        text = f"t={r['intensity']:g}: PGD leaves C1 at {_pct(r['pgd_c1'])} (transfer to C2: {_pct(r['pgd_c2'])})"
        if "attacker_c1" in r:
            text += f", the attacker network at {_pct(r['attacker_c1'])} (C2: {_pct(r['attacker_c2'])})"
        sentences.append(text + ".")
    stronger = [r for r in rows if "attacker_c1" in r and r["pgd_c1"] < r["attacker_c1"] - 0.02]
    if rows and all("attacker_c1" in r for r in rows):
        sentences.append(f"PGD is clearly stronger on C1 at {len(stronger)} of {len(rows)} intensities: an optimisation per image "
                         "beats one forward pass of a network trained for all images, at the price of many gradient steps per image.")
    return "\n".join(sentences)


def ensemble_summary(rows: list[dict], intensity: float, size: int) -> str:
    unseen = [r for r in rows if r["role"] == "unseen"]
    if not unseen:
        return ""
    r = unseen[0]
    better = r["ensemble"] < r["single"] - 0.02
    return (f"At t={intensity:g}, the attacker trained on C1 alone leaves the unseen {r['network']} at {_pct(r['single'])}; "
            f"trained against the average loss of {size} classifiers it leaves it at {_pct(r['ensemble'])} "
            f"(clean {_pct(r['clean'])}). " + ("Averaging over classifiers improves transfer here." if better else
            "Here averaging over classifiers does not improve transfer by more than two points."))


def classifier_rows(classifiers: Classifiers, data, params: Mapping, device) -> list[tuple]:
    """(name, epochs of clean training, from cache, clean test accuracy) per classifier."""
    from helpers.training import evaluate

    rows = []
    for group, epochs, suffix in ((classifiers.trained, params["classifier_epochs"], ""),
                                  (classifiers.pretrained, params["pretrain_epochs"], " pre-trained")):
        for name, model in group.items():
            _, accuracy = evaluate(model, data.x_test, data.y_test, device=device)
            rows.append((name + suffix, epochs, classifiers.from_cache.get(name + suffix, False), accuracy))
    return rows


def headline(runs_by_mode: Mapping[str, Mapping[float, AttackerRun]], pgd_rows: list[dict], ensemble_rows: list[dict], params: Mapping) -> dict:
    """The numbers for the report index: at the largest intensity, C1 and C2 under the attacker per mode,
    PGD on C1 and C2, and the ensemble attacker's transfer to the unseen C2."""
    result = {}
    for mode, runs in runs_by_mode.items():
        t = max(runs)
        result[f"{mode}: C1 attacked accuracy at t={t:g}"] = runs[t].final("c1_attacked_accuracy")
        result[f"{mode}: C2 attacked accuracy (transfer) at t={t:g}"] = runs[t].final("c2_attacked_accuracy")
    if pgd_rows:
        last = max(pgd_rows, key=lambda r: r["intensity"])
        result[f"PGD-{params['pgd_steps']}: C1 accuracy at eps={last['intensity']:g}"] = last["pgd_c1"]
        result[f"PGD-{params['pgd_steps']}: C2 accuracy (transfer) at eps={last['intensity']:g}"] = last["pgd_c2"]
    for row in ensemble_rows:
        if row["role"] == "unseen":
            t = params["ensemble_intensity"]
            result[f"unseen {row['network']} accuracy at t={t:g}, single attacker"] = row["single"]
            result[f"unseen {row['network']} accuracy at t={t:g}, ensemble attacker"] = row["ensemble"]
    return result


def extra_metrics(runs_by_mode: Mapping[str, Mapping[float, AttackerRun]], pgd_rows: list[dict], ensemble_rows: list[dict]) -> dict:
    """Everything measured, for metrics.json: per-epoch histories per mode and intensity, PGD, ensemble."""
    return {
        "histories": {mode: {f"{t:g}": run.history for t, run in runs.items()} for mode, runs in runs_by_mode.items()},
        "attacker_seconds": {mode: {f"{t:g}": round(run.seconds, 2) for t, run in runs.items()} for mode, runs in runs_by_mode.items()},
        "pgd": list(pgd_rows),
        "ensemble": list(ensemble_rows),
    }


def perturbation_summary(runs: Mapping[float, AttackerRun], x, device="cpu") -> str:
    """How much A's perturbation depends on its input: the per-pixel spread across digits, as a share of t.

    Near 0% means A has learned one input-independent pattern (a universal perturbation); a large share
    means it tailors the perturbation to each digit."""
    import torch

    sentences = []
    for t, run in sorted(runs.items()):
        with torch.no_grad():
            run.attacker.eval()
            delta = run.attacker.perturbation(x.to(device)).cpu()
        spread = delta.std(0).mean().item() / t
        size = delta.abs().mean().item() / t
        sentences.append(f"t={t:g}: mean |A(x)| is {100 * size:.0f}% of t; across digits each pixel varies by {100 * spread:.0f}% of t "
                         f"({'nearly one universal pattern' if spread < 0.1 else 'the perturbation depends on the digit'}).")
    return "\n".join(sentences)
