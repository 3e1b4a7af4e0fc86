"""Study 1 orchestration: parameters, the study's reported numbers and the functions the notebook
``notebooks/01_histology_defense.ipynb`` calls.

Reference numbers below are those the source study reports (summarized in issue 3). They are not
measured here and appear only in columns labelled "study".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.data.histology import GROUPS
from helpers.params import RUN_PARAMETERS, Param, ParameterError
from . import postprocessors as post_mod
from . import preprocessors as pre_mod
from .adversarial_set import DefenseSet, score

STUDY = "histology_defense"
TITLE = "Defending a fixed histology CNN with pre- and post-processors (harmonic-mean objective)"
ATTACK_CHOICES = ("fgsm", "pgd", "deepfool")
PREPROCESSOR_CHOICES = tuple(pre_mod.PREPROCESSORS)


@dataclass(frozen=True)
class MappingParam(Param):
    """A ``{tissue class folder: group}`` dict whose groups are among ``GROUPS`` (an empty dict: built-in tables)."""

    def check(self, name, value):
        if not isinstance(value, dict):
            raise ParameterError(f"parameter {name!r} must be a dict {{folder: group}}, got {type(value).__name__} {value!r}{self._hint()}")
        for folder, group in value.items():
            if not isinstance(folder, str) or group not in GROUPS:
                raise ParameterError(f"parameter {name!r}: {folder!r} -> {group!r}; folders are strings and groups one of {', '.join(GROUPS)}")


PARAMETERS = {
    **RUN_PARAMETERS,
    # data and model
    "images_dir": Param(str, help="kather2016, kather2019, kather2019-100k, or a path to a class-per-folder tree of tiles"),
    "mapping": MappingParam(dict, help="{folder: group} overriding the built-in class-to-group tables; {} for none"),
    "max_per_class": Param(int, low=1, high=100_000, optional=True, help="tiles per class folder, None for all"),
    "min_tiles": Param(int, low=1, high=10_000_000, help="fewer tiles than this stop the run (the offline sample has 24)"),
    "image_size": Param(int, low=16, high=256, help="tiles are resized to this square size"),
    "test_fraction": Param(float, low=0.1, high=0.9, help="share of tiles held out from training the CNN"),
    "model_path": Param(str, optional=True, help="a TorchScript file or a HistologyCNN state_dict; None trains the CNN"),
    "epochs": Param(int, low=1, high=200),
    "batch_size": Param(int, low=8, high=4096),
    "learning_rate": Param(float, low=1e-6, high=1.0),
    # the adversarial set
    "clean_size": Param(int, low=4, high=1_000_000, optional=True, help="correctly classified held-out tiles used, None for all"),
    "attacks": Param(list, item=str, choices=ATTACK_CHOICES, help="attack mix"),
    "fgsm_epsilons": Param(list, item=float, low=0.0, high=1.0, help="FGSM L-infinity budgets"),
    "pgd_epsilons": Param(list, item=float, low=0.0, high=1.0, help="PGD L-infinity budgets"),
    "pgd_steps": Param(int, low=1, high=1000),
    "deepfool_max_iter": Param(int, low=1, high=1000),
    "deepfool_overshoot": Param(float, low=0.0, high=1.0, help="DeepFool's overshoot epsilon"),
    # pre-processors and the search
    "preprocessors": Param(list, item=str, choices=PREPROCESSOR_CHOICES, help="pre-processors searched"),
    "total_variation_grid": Param(list, item=float, low=0.0, high=100.0, help="coarse grid of TotalVarMin's lamb"),
    "spatial_smoothing_grid": Param(list, item=int, low=1, high=32, help="coarse grid of the median window size"),
    "jpeg_grid": Param(list, item=int, low=1, high=95, help="coarse grid of the JPEG quality"),
    "feature_squeezing_grid": Param(list, item=int, low=1, high=8, help="coarse grid of the bit depth"),
    "tvm_prob": Param(float, low=0.01, high=1.0, help="TotalVarMin: share of pixels kept"),
    "tvm_max_iter": Param(int, low=1, high=100, help="TotalVarMin: optimiser iterations"),
    "tvm_size": Param(int, low=4, high=1_000_000, optional=True, help="images TotalVarMin is scored on per stage (an optimisation per image); None: same as the others"),
    "coarse_size": Param(int, low=4, high=1_000_000, help="images in the coarse stage's sample"),
    "fine_size": Param(int, low=4, high=1_000_000, optional=True, help="images in the fine stage; None: the whole set"),
    "fine_points": Param(int, low=2, high=100, help="at most this many values in the fine stage"),
    # post-processors
    "table_preprocessors": Param(list, item=str, choices=PREPROCESSOR_CHOICES, help="pre-processors combined with the post-processors (study: spatial_smoothing, jpeg)"),
    "gaussian_noise_scale": Param(float, low=1e-6, high=10.0),
    "high_confidence_cutoff": Param(float, low=1e-6, high=1.0),
    "reverse_sigmoid_beta": Param(float, low=1e-6, high=100.0),
    "reverse_sigmoid_gamma": Param(float, low=1e-6, high=100.0),
    "rounded_decimals": Param(int, low=0, high=10),
    "lightgbm_learning_rates": Param(list, item=float, low=1e-4, high=1.0),
    "lightgbm_num_leaves": Param(list, item=int, low=2, high=4096),
    "lightgbm_rounds": Param(list, item=int, low=1, high=10_000),
    "lightgbm_min_child_samples": Param(int, low=1, high=10_000),
    "holdout_fraction": Param(float, low=0.1, high=0.9, help="share of source tiles LightGBM never sees (honest scores)"),
    "validation_split": Param(float, low=0.05, high=0.9, help="share of the remaining tiles for LightGBM's validation (study: 0.2)"),
    "split_ratios": Param(list, item=float, low=0.05, high=0.9, help="validation ratios of the split-ratio study"),
    "split_seeds": Param(int, low=1, high=50, help="seeds per ratio in the split-ratio study"),
    # the adaptive attack
    "adaptive_eps": Param(float, low=0.0, high=1.0, help="budget of plain and adaptive PGD"),
    "adaptive_steps": Param(int, low=1, high=1000),
    "adaptive_size": Param(int, low=2, high=1_000_000, optional=True, help="held-out clean tiles attacked, None for all"),
}


def check_combinations(params: dict) -> None:
    """Checks across parameters that ``Param`` cannot express; raises ``ParameterError``."""
    missing = [p for p in params["table_preprocessors"] if p not in params["preprocessors"]]
    if missing:
        raise ParameterError(f"table_preprocessors {missing} must also be in preprocessors {params['preprocessors']}")
    for name in params["attacks"]:
        if name in ("fgsm", "pgd") and not params[f"{name}_epsilons"]:
            raise ParameterError(f"attack {name!r} needs at least one budget in {name}_epsilons")


# ---------------------------------------------------------------------------------------------------
# The study's reported numbers (not measured here; shown only in columns labelled "study")

#: Clean / adversarial accuracy of the best setting of each pre-processor, and the best value.
STUDY_PREPROCESSORS = {
    "spatial_smoothing": {"clean": 0.97, "adversarial": 0.50, "best_value": 6},
    "jpeg": {"clean": 0.93, "adversarial": 0.60, "best_value": 22},
    "feature_squeezing": {"clean": 1.00, "adversarial": 0.30, "best_value": None},
    "total_variation": {"clean": None, "adversarial": None, "best_value": None},
}
#: LightGBM settings the study chose.
STUDY_LIGHTGBM = {"learning_rate": 0.1, "num_leaves": 81, "n_estimators": 50, "validation_split": 0.2}
#: Results table on the study's sample (44% clean / 56% adversarial): model, pre-processed and post-processed accuracy.
STUDY_MODEL_ACCURACY = 0.4405
STUDY_TABLE = {
    ("spatial_smoothing", "high_confidence"): (0.4405, 0.6256, 0.6411),
    ("spatial_smoothing", "lightgbm"): (0.4405, 0.6256, 0.9339),
    ("jpeg", "high_confidence"): (0.4405, 0.7225, 0.7319),
    ("jpeg", "lightgbm"): (0.4405, 0.7225, 0.8634),
}
#: Final evaluation (the study scored LightGBM on all images, its training images included).
STUDY_FINAL = {"clean_correct": 6368, "clean_total": 6929, "adversarial_correct": 17369, "adversarial_total": 22228, "harmonic": 0.8446}


# ---------------------------------------------------------------------------------------------------
# Orchestration


def load_data(params: dict):
    """The tiles at ``images_dir`` as a train / held-out split labelled with the four groups.

    Raises ``DataMissingError`` when fewer than ``min_tiles`` tiles are found: the loader accepts the
    24-tile offline sample for a named source, which is enough for the smoke preset but not for a study.
    """
    from helpers.data import load_histology
    from helpers.paths import DataMissingError

    data = load_histology(
        params["images_dir"], image_size=params["image_size"], max_per_class=params["max_per_class"],
        test_fraction=params["test_fraction"], seed=params["seed"], mapping=params["mapping"] or None,
    )
    found = len(data.y_train) + len(data.y_test)
    if found < params["min_tiles"]:
        folder = (data.paths_train or data.paths_test)[0].parent.parent
        raise DataMissingError(
            f"Histology tiles {params['images_dir']!r} with at least min_tiles={params['min_tiles']} tiles", folder,
            f"Only {found} tiles are there (the offline sample, enough for the smoke preset only). With a network, use a data "
            f"root without that sample (e.g. unset ADVLAB_DATA: the default data/ folder) and the loader downloads the "
            f"tiles (Kather 2016: about 250 MB from Zenodo record 53169, md5-checked); or unzip "
            f"Kather_texture_2016_image_tiles_5000.zip under the data root; or pass images_dir=<your tiles>, or lower min_tiles.",
        )
    return data


def get_model(params: dict, data, device):
    """(frozen model, training history, description): the user's ``model_path``, or the cached trained CNN."""
    from .model import load_model, train_or_load

    if params["model_path"]:
        model = load_model(params["model_path"], image_size=params["image_size"], device=device)
        return model, [], f"loaded from {params['model_path']}"
    model, history, cached = train_or_load(
        data, epochs=params["epochs"], batch_size=params["batch_size"], learning_rate=params["learning_rate"],
        seed=params["seed"], device=device,
    )
    return model, history, "loaded from the cache" if cached else "trained"


def select_clean(model, data, *, clean_size, seed: int, device) -> tuple[np.ndarray, np.ndarray, float]:
    """Correctly classified held-out tiles (at most ``clean_size``, a seeded stratified sample) and the model's held-out accuracy."""
    from helpers.data.splits import stratified_indices
    from .model import probabilities

    x, y = data.x_test.numpy(), data.y_test.numpy()
    correct = probabilities(model, x, device=device).argmax(1) == y
    accuracy = float(correct.mean())
    x, y = x[correct], y[correct]
    if clean_size is not None and clean_size < len(y):
        keep = np.sort(stratified_indices(y, clean_size, seed=seed))
        x, y = x[keep], y[keep]
    return x, y, accuracy


def search_grid(params: dict, name: str) -> list:
    return params[f"{name}_grid"]


def run_searches(model, data: DefenseSet, params: dict, device) -> dict[str, pre_mod.SearchResult]:
    results = {}
    for name in params["preprocessors"]:
        results[name] = pre_mod.search(
            model, name, data, search_grid(params, name), coarse_size=params["coarse_size"], fine_size=params["fine_size"],
            fine_points=params["fine_points"], slow_size=params["tvm_size"], seed=params["seed"], device=device,
            options={"tvm_prob": params["tvm_prob"], "tvm_max_iter": params["tvm_max_iter"]},
        )
    return results


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


BEST_SETTING_COLUMNS = ["pre-processor", "best setting", "clean acc", "adv acc", "harmonic mean", "ms / image",
                        "images (fine stage)", "study: clean / adv (best)"]


def full_set_probabilities(model, data: DefenseSet, name: str, result: pre_mod.SearchResult, params: dict, device) -> np.ndarray:
    """Softmax outputs of the whole set with pre-processor ``name`` at its best value (reused from the search when it scored the whole set)."""
    if result.best["images"] == len(data):
        return result.best["probs"]
    preprocessor = pre_mod.make_preprocessor(name, result.best["value"], tvm_prob=params["tvm_prob"], tvm_max_iter=params["tvm_max_iter"])
    return pre_mod.preprocessed_probabilities(model, preprocessor, data.x, device=device, desc=pre_mod.describe(name, result.best["value"]))


@dataclass
class PostStudy:
    """Everything the post-processing stage measured for one pre-processor."""

    name: str
    value: object
    probs: np.ndarray
    grid: post_mod.GridResult
    lightgbm: post_mod.LightGBMPostprocessor
    table: list[dict] = field(default_factory=list)


def art_settings(params: dict) -> dict:
    keys = ("gaussian_noise_scale", "high_confidence_cutoff", "reverse_sigmoid_beta", "reverse_sigmoid_gamma", "rounded_decimals")
    return {k: params[k] for k in keys}


def lightgbm_settings(grid_best: dict, params: dict) -> dict:
    return {"learning_rate": grid_best["learning_rate"], "num_leaves": grid_best["num_leaves"],
            "n_estimators": grid_best["n_estimators"], "min_child_samples": params["lightgbm_min_child_samples"]}


def post_study(name, value, probs, raw_probs, data: DefenseSet, splits: dict, params: dict) -> PostStudy:
    """Grid-search LightGBM on the pool's fit / validation split, then score every post-processor on the held-out tiles."""
    from helpers.progress import progress_bar

    total = len(params["lightgbm_learning_rates"]) * len(params["lightgbm_num_leaves"]) * len(params["lightgbm_rounds"])
    with progress_bar(total=total, desc=f"LightGBM grid ({pre_mod.PREPROCESSORS[name].title})") as bar:
        grid = post_mod.grid_search(
            probs, data, splits["fit"], splits["validation"], learning_rates=params["lightgbm_learning_rates"],
            num_leaves=params["lightgbm_num_leaves"], rounds=params["lightgbm_rounds"],
            min_child_samples=params["lightgbm_min_child_samples"], seed=params["seed"], progress=bar,
        )
    lightgbm = post_mod.fit_lightgbm(probs, data, splits["fit"], seed=params["seed"], **lightgbm_settings(grid.best, params))
    result = PostStudy(name, value, probs, grid, lightgbm)
    test = splits["test"]
    held = data.take(test)
    model_acc = score(raw_probs[test], held)
    pre_acc = score(probs[test], held)
    for post_name in [*post_mod.ART_POSTPROCESSORS, "lightgbm"]:
        if post_name == "lightgbm":
            processor, title = lightgbm, "LightGBM"
        else:
            processor, title = post_mod.make_art_postprocessor(post_name, **art_settings(params)), post_mod.ART_POSTPROCESSORS[post_name]
        after = score(processor(probs[test]), held)
        result.table.append({"preprocessor": name, "postprocessor": post_name, "title": title,
                             "model": model_acc["overall"], "pre": pre_acc["overall"], "post": after["overall"],
                             "post_clean": after["clean"], "post_adversarial": after["adversarial"], "post_harmonic": after["harmonic"]})
    return result


def results_table_rows(posts: dict[str, PostStudy]) -> list[list]:
    rows = []
    for name, study in posts.items():
        for r in study.table:
            ref = STUDY_TABLE.get((name, r["postprocessor"]))
            rows.append([pre_mod.describe(name, study.value), r["title"], r["model"], r["pre"], r["post"], r["post_harmonic"],
                         "-" if ref is None else " -> ".join(f"{100 * v:.2f}%" for v in ref)])
    return rows


RESULTS_COLUMNS = ["pre-processor", "post-processor", "model acc", "pre-processed acc", "post-processed acc",
                   "post-processed harmonic mean", "study: model -> pre -> post"]


def make_splits(data: DefenseSet, params: dict) -> dict:
    """Tile-grouped splits: ``test`` (never seen by LightGBM), and the rest (``pool``) into ``fit`` / ``validation``."""
    pool, test = post_mod.tile_split(data, params["holdout_fraction"], seed=params["seed"])
    fit, validation = post_mod.tile_split(data, params["validation_split"], seed=params["seed"] + 1, within=pool)
    return {"pool": pool, "test": test, "fit": fit, "validation": validation}


def final_counts(predicted, data: DefenseSet, index=None) -> dict:
    """Correct / total clean and adversarial images and the harmonic mean, on ``index`` (None: all)."""
    from helpers.metrics import harmonic_mean, predicted_labels

    index = np.arange(len(data)) if index is None else np.asarray(index)
    correct = predicted_labels(predicted) == data.y[index]
    adv = data.is_adversarial[index]
    counts = {"clean_correct": int(correct[~adv].sum()), "clean_total": int((~adv).sum()),
              "adversarial_correct": int(correct[adv].sum()), "adversarial_total": int(adv.sum())}
    clean = counts["clean_correct"] / max(counts["clean_total"], 1)
    adversarial = counts["adversarial_correct"] / max(counts["adversarial_total"], 1)
    counts["harmonic"] = harmonic_mean(clean, adversarial)
    return counts


# ---------------------------------------------------------------------------------------------------
# Prose written from the measured numbers


def pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{100 * value:.1f}%"


def composition_summary(data: DefenseSet, records: list[dict]) -> str:
    comp = data.composition()
    n_adv = len(data) - comp["clean"]
    parts = ", ".join(f"{r['attack']} fooled the model on {r['kept']} of {r['attacked']} tiles ({pct(r['success'])})" for r in records)
    return (
        f"The mix holds {comp['clean']} clean and {n_adv} adversarial images: {parts}. The undefended model is right on "
        f"every clean image and wrong on every adversarial one by construction, so its accuracy on the mix is the clean "
        f"share, {pct(data.clean_share)} (the study's sample: {pct(STUDY_MODEL_ACCURACY)}), and its harmonic mean is 0."
    )


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


def adaptive_summary(result: dict) -> str:
    plain, adaptive = result["plain"]["defense"], result["adaptive"]["defense"]
    text = (
        f"On {result['images']} held-out clean tiles, PGD-{result['steps']} at eps={result['eps']:g} leaves the undefended model "
        f"{pct(result['plain']['undefended'])} accuracy. The full defense (pre-processor + LightGBM) recovers {pct(plain)} of the plain "
        f"PGD examples (made against the bare model) but only {pct(adaptive)} of the adaptive ones (PGD through the pre-processor with "
        f"BPDA). "
    )
    if plain - adaptive > 0.02:
        text += "The plain number overstates the defense: an attacker who knows the pre-processor gets through it, so the adaptive number is the one to report."
    else:
        text += "Here the adaptive attack does no better than the plain one at this budget; a larger budget or more steps may change that."
    return text
