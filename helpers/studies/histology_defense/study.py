"""Stages of the histology defense study: the fixed CNN, the clean + adversarial mix, the pre-processor
search, the post-processors (ART's five and LightGBM), the final defense and its honest evaluations.

The notebook ``notebooks/01_histology_defense.ipynb`` calls these functions; ``report.py`` turns their
results into tables, prose and the headline, ``figures.py`` into plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from . import postprocessors as post_mod
from . import preprocessors as pre_mod
from .adversarial_set import AttackConfig, DefenseSet, score

STUDY = "histology_defense"
TITLE = "Defending a fixed histology CNN with pre- and post-processors (harmonic-mean objective)"
FRAMEWORKS = ("torch", "lightgbm")


def _methods() -> dict:
    from helpers import gradient_attacks, metrics

    from .adaptive import bpda_gradient, surrogate_attack

    return {
        "harmonic_mean": metrics.harmonic_mean,
        "pgd": gradient_attacks.pgd,
        "preprocessor": pre_mod.median_filter,
        "postprocessor": post_mod.reverse_sigmoid,
        "bpda": bpda_gradient,
        "surrogate_attack": surrogate_attack,
    }


#: Each method of the study on the page: its name -> its readable implementation (the notebook shows the code).
METHODS = _methods()


# ---------------------------------------------------------------------------------------------------
# 1. Tiles and the fixed model


def load_data(params: Mapping[str, Any]):
    """The tiles at ``images_dir`` as a train / held-out split labelled with the four groups.

    Raises ``DataMissingError`` when fewer than ``min_tiles`` tiles are found (a partial copy of a named set, or a
    ``max_per_class`` too small for ``min_tiles``), saying which.
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
        if params["max_per_class"] is not None:
            how = (f"Only {found} tiles were read: max_per_class={params['max_per_class']} takes at most that many per class "
                   f"folder. Raise max_per_class (None: every tile) or lower min_tiles.")
        else:
            how = (f"Only {found} tiles are there. With a network, use a data root without this copy (e.g. unset ADVLAB_DATA: "
                   f"the default data/ folder) and the loader downloads the tiles (Kather 2016: about 250 MB from Zenodo record "
                   f"53169, md5-checked); or unzip Kather_texture_2016_image_tiles_5000.zip under the data root; or pass "
                   f"images_dir=<your tiles>, or lower min_tiles.")
        raise DataMissingError(
            f"Histology tiles {params['images_dir']!r} with at least min_tiles={params['min_tiles']} tiles", folder, how)
    return data


def fetch_data(params: Mapping[str, Any]) -> None:
    """Download the tiles into the data root when they are missing (``advlab fetch``)."""
    load_data(params)


def get_model(params: Mapping[str, Any], data, device):
    """(frozen model, training history, description): the user's ``model_path``, or the cached trained CNN."""
    from .model import load_model, train_cnn

    if params["model_path"]:
        model = load_model(params["model_path"], image_size=params["image_size"], device=device)
        return model, [], f"loaded from {params['model_path']}"
    model, history, cached = train_cnn(
        data, epochs=params["epochs"], batch_size=params["batch_size"], learning_rate=params["learning_rate"],
        seed=params["seed"], device=device, width=params["width"], augment=params["augment"],
    )
    return model, history, "loaded from the cache" if cached else "trained"


#: Correctly classified held-out tiles the post-processor stage needs: one each for LightGBM's fit, validation and held-out parts.
MIN_CLEAN_TILES = 3


@dataclass
class FixedModel:
    """The frozen CNN, where it came from, and the held-out tiles it classifies correctly.

    ``x_correct`` / ``y_correct``: every correctly classified held-out tile; ``mix_index``: the ones (at most
    ``clean_size``) the clean + adversarial mix is built from. ``per_class``: (correct, tiles) per group.
    """

    model: Any
    history: list[dict]
    source: str
    x_correct: np.ndarray
    y_correct: np.ndarray
    mix_index: np.ndarray
    held_out_accuracy: float
    held_out_tiles: int
    per_class: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def x_clean(self) -> np.ndarray:
        return self.x_correct[self.mix_index]

    @property
    def y_clean(self) -> np.ndarray:
        return self.y_correct[self.mix_index]


def fixed_model(data, params: Mapping[str, Any], device) -> FixedModel:
    """Train (or load) the CNN, freeze it and select the clean set: a seeded stratified sample of at most
    ``clean_size`` of the held-out tiles it classifies correctly. Stops when there are too few of them."""
    from helpers.data.splits import stratified_indices
    from .model import per_class_accuracy, probabilities

    model, history, source = get_model(params, data, device)
    x, y = data.x_test.numpy(), data.y_test.numpy()
    correct = probabilities(model, x, device=device).argmax(1) == y
    x_correct, y_correct = x[correct], y[correct]
    if len(y_correct) < MIN_CLEAN_TILES:
        raise RuntimeError(
            f"the model classifies {len(y_correct)} held-out tiles correctly; the post-processor stage needs at least "
            f"{MIN_CLEAN_TILES} (LightGBM's fit, validation and held-out parts): use more tiles (max_per_class) or epochs")
    mix_index = np.arange(len(y_correct))
    if params["clean_size"] is not None and params["clean_size"] < len(y_correct):
        mix_index = np.sort(stratified_indices(y_correct, params["clean_size"], seed=params["seed"]))
    return FixedModel(model, history, source, x_correct, y_correct, mix_index, float(correct.mean()), len(y),
                      per_class_accuracy(model, x, y, device=device))


# ---------------------------------------------------------------------------------------------------
# 2. The adversarial set


@dataclass
class AdversarialMix:
    """The clean + adversarial mix every defense is scored on, how it was made and the undefended model's score."""

    classifier: Any  # the bare model as an ART classifier on logits
    configs: list[AttackConfig]
    mix: DefenseSet
    records: list[dict]
    raw_probs: np.ndarray  # the undefended model's softmax outputs on the mix
    undefended: dict

    @property
    def clean_images(self) -> int:
        return int((~self.mix.is_adversarial).sum())

    @property
    def adversarial_images(self) -> int:
        return int(self.mix.is_adversarial.sum())


def adversarial_mix(fixed: FixedModel, params: Mapping[str, Any], device) -> AdversarialMix:
    """Attack every clean tile with each configuration of the mix; keep the misclassified adversarials."""
    from .adaptive import defended_classifier
    from .adversarial_set import attack_mix, build_defense_set

    classifier = defended_classifier(fixed.model, image_size=params["image_size"], device=device, logits=True)
    configs = attack_mix(
        params["attacks"], fgsm_epsilons=params["fgsm_epsilons"], pgd_epsilons=params["pgd_epsilons"],
        pgd_steps=params["pgd_steps"], deepfool_max_iter=params["deepfool_max_iter"],
        deepfool_overshoot=params["deepfool_overshoot"],
    )
    mix, records = build_defense_set(classifier, fixed.x_clean, fixed.y_clean, configs, batch_size=params["batch_size"])
    raw_probs = pre_mod.preprocessed_probabilities(fixed.model, None, mix.x, device=device)
    return AdversarialMix(classifier, configs, mix, records, raw_probs, score(raw_probs, mix))


# ---------------------------------------------------------------------------------------------------
# 3. Pre-processors


def search_grid(params: Mapping[str, Any], name: str) -> list:
    return params[f"{name}_grid"]


def run_searches(model, data: DefenseSet, params: Mapping[str, Any], device) -> dict[str, pre_mod.SearchResult]:
    """The coarse-to-fine search of every pre-processor in ``preprocessors``, by harmonic mean."""
    results = {}
    for name in params["preprocessors"]:
        results[name] = pre_mod.search(
            model, name, data, search_grid(params, name), coarse_size=params["coarse_size"], fine_size=params["fine_size"],
            fine_points=params["fine_points"], slow_size=params["tvm_size"], seed=params["seed"], device=device,
            options={"tvm_prob": params["tvm_prob"], "tvm_max_iter": params["tvm_max_iter"]},
        )
    return results


def full_set_probabilities(model, data: DefenseSet, name: str, result: pre_mod.SearchResult, params: Mapping[str, Any], device) -> np.ndarray:
    """Softmax outputs of the whole set with pre-processor ``name`` at its best value (reused from the search when it scored the whole set)."""
    if result.best["images"] == len(data):
        return result.best["probs"]
    preprocessor = pre_mod.make_preprocessor(name, result.best["value"], tvm_prob=params["tvm_prob"], tvm_max_iter=params["tvm_max_iter"])
    return pre_mod.preprocessed_probabilities(model, preprocessor, data.x, device=device, desc=pre_mod.describe(name, result.best["value"]))


# ---------------------------------------------------------------------------------------------------
# 4. Post-processors


@dataclass
class PostStudy:
    """Everything the post-processing stage measured for one pre-processor."""

    name: str
    value: object
    probs: np.ndarray
    grid: post_mod.GridResult
    lightgbm: post_mod.LightGBMPostprocessor
    table: list[dict] = field(default_factory=list)


def art_settings(params: Mapping[str, Any]) -> dict:
    keys = ("gaussian_noise_scale", "high_confidence_cutoff", "reverse_sigmoid_beta", "reverse_sigmoid_gamma", "rounded_decimals")
    return {k: params[k] for k in keys}


def lightgbm_settings(grid_best: dict, params: Mapping[str, Any]) -> dict:
    return {"learning_rate": grid_best["learning_rate"], "num_leaves": grid_best["num_leaves"],
            "n_estimators": grid_best["n_estimators"], "min_child_samples": params["lightgbm_min_child_samples"]}


def post_study(name, value, probs, raw_probs, data: DefenseSet, splits: dict, params: Mapping[str, Any]) -> PostStudy:
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
                             "post_clean": after["clean"], "post_adversarial": after["adversarial"], "post_harmonic": after["harmonic"],
                             "pre_clean": pre_acc["clean"], "pre_adversarial": pre_acc["adversarial"], "pre_harmonic": pre_acc["harmonic"],
                             "clean_images": int((~held.is_adversarial).sum()), "adversarial_images": int(held.is_adversarial.sum())})
    return result


def make_splits(data: DefenseSet, params: Mapping[str, Any]) -> dict:
    """Tile-grouped splits: ``test`` (never seen by LightGBM), and the rest (``pool``) into ``fit`` / ``validation``."""
    pool, test = post_mod.tile_split(data, params["holdout_fraction"], seed=params["seed"])
    fit, validation = post_mod.tile_split(data, params["validation_split"], seed=params["seed"] + 1, within=pool)
    return {"pool": pool, "test": test, "fit": fit, "validation": validation}


@dataclass
class PostResults:
    """The tile-grouped splits, one ``PostStudy`` per table pre-processor, and the final defense chosen among them."""

    splits: dict
    posts: dict[str, PostStudy]
    final_name: str
    settings: dict  # LightGBM settings of the final defense (its best grid setting)
    test_tiles: int  # source tiles in the held-out part

    @property
    def final(self) -> PostStudy:
        return self.posts[self.final_name]


def run_postprocessors(fixed: FixedModel, adv: AdversarialMix, searches: dict[str, pre_mod.SearchResult],
                       params: Mapping[str, Any], device) -> PostResults:
    """Split the mix by tile, study the post-processors behind each table pre-processor at its best value, and
    pick the final defense: the pre-processor whose LightGBM scores best on the validation part."""
    splits = make_splits(adv.mix, params)
    posts = {}
    for name in params["table_preprocessors"]:
        probs = full_set_probabilities(fixed.model, adv.mix, name, searches[name], params, device)
        posts[name] = post_study(name, searches[name].best["value"], probs, adv.raw_probs, adv.mix, splits, params)
    final_name = max(posts, key=lambda n: np.nan_to_num(posts[n].grid.best["harmonic"], nan=-1))
    settings = lightgbm_settings(posts[final_name].grid.best, params)
    return PostResults(splits, posts, final_name, settings, len(np.unique(adv.mix.tile[splits["test"]])))


@dataclass
class SplitRatios:
    """LightGBM's harmonic mean on its validation part and on the held-out tiles, per validation ratio and seed."""

    records: list[dict]
    summary: list[dict]

    @property
    def spread(self) -> float:
        """The largest standard deviation over seeds of the held-out harmonic mean at one ratio."""
        return max((r["test_harmonic_std"] for r in self.summary if np.isfinite(r["test_harmonic_std"])), default=float("nan"))


def split_ratios(post: PostResults, adv: AdversarialMix, params: Mapping[str, Any]) -> SplitRatios:
    """The split-ratio study of the final defense's LightGBM (its best grid setting) over ``split_seeds`` seeds."""
    seed = params["seed"]
    records = post_mod.split_ratio_study(
        post.final.probs, adv.mix, post.splits["pool"], post.splits["test"], ratios=params["split_ratios"],
        seeds=list(range(seed, seed + params["split_seeds"])), settings=post.settings,
    )
    return SplitRatios(records, post_mod.summarize_split_ratios(records))


# ---------------------------------------------------------------------------------------------------
# 5. The final defense


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


@dataclass
class FinalEvaluation:
    """The final defense as one ART classifier and its counts on every image (the study's way) and on the held-out tiles."""

    name: str
    value: object
    preprocessor: Any
    postprocessor: Any
    predictions: np.ndarray
    counts_all: dict
    counts_held: dict
    no_defense: float  # the undefended model's harmonic mean on the same held-out tiles

    @property
    def description(self) -> str:
        return f"{pre_mod.describe(self.name, self.value)} + LightGBM"


def final_evaluation(fixed: FixedModel, adv: AdversarialMix, post: PostResults, params: Mapping[str, Any], device) -> FinalEvaluation:
    """Pre-processor -> CNN -> softmax -> LightGBM as one ART classifier, scored on all images and on the held-out tiles."""
    from .adaptive import defended_classifier

    final = post.final
    preprocessor = pre_mod.make_preprocessor(final.name, final.value, tvm_prob=params["tvm_prob"], tvm_max_iter=params["tvm_max_iter"])
    defended = defended_classifier(fixed.model, image_size=params["image_size"], preprocessor=preprocessor,
                                   postprocessor=final.lightgbm, device=device)
    predictions = defended.predict(adv.mix.x, batch_size=256)
    test = post.splits["test"]
    return FinalEvaluation(
        final.name, final.value, preprocessor, final.lightgbm, predictions,
        counts_all=final_counts(predictions, adv.mix),
        counts_held=final_counts(predictions[test], adv.mix, test),
        no_defense=final_counts(adv.raw_probs[test], adv.mix, test)["harmonic"],
    )


# ---------------------------------------------------------------------------------------------------
# 6. and 7. Honest evaluations


def attack_holdout(adv: AdversarialMix, post: PostResults, params: Mapping[str, Any]) -> list[dict]:
    """Leave one attack family out of LightGBM's training (the final defense's pre-processor and settings)."""
    return post_mod.attack_holdout(post.final.probs, adv.mix, post.splits["pool"], post.splits["test"],
                                   settings=post.settings, seed=params["seed"])


def adaptive_tiles(fixed: FixedModel, adv: AdversarialMix, post: PostResults, params: Mapping[str, Any]) -> np.ndarray:
    """Indices (into ``fixed.x_correct``) of the correctly classified held-out tiles LightGBM never saw.

    Those are every such tile outside the pool LightGBM was fitted and validated on: the mix's held-out tiles and
    the correct tiles the mix did not use. At most ``adaptive_size`` of them, a seeded sample stratified by group.
    """
    from helpers.data.splits import stratified_indices

    seen = fixed.mix_index[np.unique(adv.mix.tile[post.splits["pool"]])]
    unseen = np.setdiff1d(np.arange(len(fixed.y_correct)), seen)
    size = params["adaptive_size"]
    if size is not None and size < len(unseen):
        unseen = unseen[np.sort(stratified_indices(fixed.y_correct[unseen], size, seed=params["seed"]))]
    return unseen


#: The stages of the defense scored under each attack: no defense, the pre-processor alone, pre-processor + LightGBM.
STAGES = ("undefended", "pre-processor", "defense")


@dataclass
class AdaptiveResult:
    """The transfer attack (PGD on the bare CNN) and BPDA-PGD (through the pre-processor) on held-out tiles LightGBM never saw.

    ``correct[images][stage]``: per tile, whether ``stage`` (one of ``STAGES``) answers right on the ``images``
    ("clean", "transfer" or "bpda"); ``x_transfer`` / ``x_bpda`` are the adversarial tiles.
    """

    tiles: np.ndarray
    x: np.ndarray
    y: np.ndarray
    eps: float
    steps: int
    x_transfer: np.ndarray
    x_bpda: np.ndarray
    correct: dict[str, dict[str, np.ndarray]]
    defense: str

    @property
    def images(self) -> int:
        return len(self.y)

    @property
    def accuracy(self) -> dict[str, dict[str, float]]:
        return {k: {stage: float(v.mean()) if len(v) else float("nan") for stage, v in by.items()} for k, by in self.correct.items()}

    def interval(self, images: str, stage: str = "defense"):
        """The accuracy of ``stage`` on ``images`` with its 95% Wilson interval."""
        return proportion(self.correct[images][stage])

    def harmonic(self, images: str) -> float:
        from helpers.metrics import harmonic_mean

        return harmonic_mean(self.accuracy["clean"]["defense"], self.accuracy[images]["defense"])


def proportion(correct: np.ndarray):
    """The share of True in ``correct`` with its 95% Wilson interval (NaN bounds for no tiles)."""
    from helpers.metrics import Interval, wilson_interval

    correct = np.asarray(correct, dtype=bool)
    if not len(correct):
        return Interval(float("nan"), float("nan"), float("nan"))
    return wilson_interval(int(correct.sum()), len(correct))


def stage_correct(model, preprocessor, postprocessor, images: np.ndarray, y: np.ndarray, device, desc: str) -> dict[str, np.ndarray]:
    """Per tile: is the bare CNN, the pre-processed CNN and the whole defense right on ``images``?"""
    raw = pre_mod.preprocessed_probabilities(model, None, images, device=device, desc=f"scoring {desc}")
    pre = pre_mod.preprocessed_probabilities(model, preprocessor, images, device=device, desc=f"scoring {desc} (pre-processed)")
    return {"undefended": raw.argmax(1) == y, "pre-processor": pre.argmax(1) == y,
            "defense": np.asarray(postprocessor(pre)).argmax(1) == y}


def attack_budget(params: Mapping[str, Any], device, steps: int | None = None) -> dict:
    return {"eps": params["adaptive_eps"], "steps": steps or params["adaptive_steps"], "device": device,
            "batch_size": params["batch_size"]}


def adaptive_attack(fixed: FixedModel, adv: AdversarialMix, post: PostResults, final: FinalEvaluation,
                    params: Mapping[str, Any], device) -> AdaptiveResult:
    """Transfer PGD and BPDA-PGD at ``adaptive_eps`` on (at most ``adaptive_size``) held-out tiles LightGBM never saw."""
    from .adaptive import bpda_pgd, transfer_pgd

    tiles = adaptive_tiles(fixed, adv, post, params)
    x, y = fixed.x_correct[tiles], fixed.y_correct[tiles]
    budget = attack_budget(params, device)
    x_transfer = transfer_pgd(fixed.model, x, y, seed=params["seed"], **budget)
    x_bpda = bpda_pgd(fixed.model, x, y, preprocessor=final.preprocessor, seed=params["seed"] + 1, **budget)
    correct = {name: stage_correct(fixed.model, final.preprocessor, final.postprocessor, images, y, device, name)
               for name, images in (("clean", x), ("transfer", x_transfer), ("bpda", x_bpda))}
    return AdaptiveResult(tiles, x, y, params["adaptive_eps"], params["adaptive_steps"], x_transfer, x_bpda, correct,
                          pre_mod.describe(final.name, final.value))


# ---------------------------------------------------------------------------------------------------
# The readable methods beside the ones the study runs


@dataclass
class Agreement:
    """A readable method (``helpers``' own few lines) beside the implementation the study runs, on the same inputs."""

    method: str
    readable: str
    runs: str
    inputs: str
    max_difference: float  # largest absolute difference between their outputs
    same_answers: float  # share of inputs where the downstream answer (the class) is the same
    accuracy: dict[str, float] = field(default_factory=dict)  # where it applies: the defense's accuracy under each


def compare_median_filter(adv: AdversarialMix, searches: dict[str, pre_mod.SearchResult], params: Mapping[str, Any]) -> Agreement:
    """``median_filter`` against the spatial smoothing the study runs and ART's own, at the search's best window."""
    window = int(searches["spatial_smoothing"].best["value"]) if "spatial_smoothing" in searches else 3
    x = adv.mix.x[: params["agreement_size"]]
    readable = pre_mod.median_filter(x, window)
    runs = pre_mod.make_preprocessor("spatial_smoothing", window)(x)[0]
    art = pre_mod.art_spatial_smoothing(window)(x)[0]
    difference = float(max(np.abs(readable - runs).max(), np.abs(readable - art).max())) if len(x) else float("nan")
    return Agreement("preprocessor", f"median_filter (window {window})", "the study's spatial smoothing and ART's SpatialSmoothing",
                     f"{len(x)} images of the mix", difference, float(np.mean(np.all(readable == art, axis=(1, 2, 3)))) if len(x) else float("nan"))


def compare_reverse_sigmoid(post: PostResults, params: Mapping[str, Any]) -> Agreement:
    """``reverse_sigmoid`` against ART's ``ReverseSigmoid`` on the held-out softmax outputs of the final pre-processor."""
    probs = post.final.probs[post.splits["test"]]
    beta, gamma = params["reverse_sigmoid_beta"], params["reverse_sigmoid_gamma"]
    readable = post_mod.reverse_sigmoid(probs, beta=beta, gamma=gamma)
    art = post_mod.make_art_postprocessor("reverse_sigmoid", **art_settings(params))(probs)
    same = float((readable.argmax(1) == art.argmax(1)).mean()) if len(probs) else float("nan")
    kept = float((readable.argmax(1) == probs.argmax(1)).mean()) if len(probs) else float("nan")
    return Agreement("postprocessor", f"reverse_sigmoid (beta {beta:g}, gamma {gamma:g})", "ART's ReverseSigmoid",
                     f"{len(probs)} held-out softmax outputs", float(np.abs(readable - art).max()) if len(probs) else float("nan"),
                     same, {"keeps the softmax's class": kept})


def compare_bpda(fixed: FixedModel, final: FinalEvaluation, adaptive: AdaptiveResult, params: Mapping[str, Any], device) -> Agreement:
    """BPDA-PGD with ``bpda_gradient`` against ART's PGD through ART's classifier with the pre-processor as a
    pre-processing defence, both without a random start (so they can agree exactly), on the first adaptive tiles."""
    from .adaptive import art_bpda_pgd, bpda_pgd

    x, y = adaptive.x[: params["agreement_size"]], adaptive.y[: params["agreement_size"]]
    budget = attack_budget(params, device)
    readable = bpda_pgd(fixed.model, x, y, preprocessor=final.preprocessor, random_start=False, **budget)
    art = art_bpda_pgd(fixed.model, x, y, preprocessor=final.preprocessor, image_size=params["image_size"], **budget)
    answers = {name: np.asarray(final_pipeline(fixed, final, device)(images)).argmax(1) for name, images in (("readable", readable), ("ART", art))}
    accuracy = {f"defense accuracy, {name}": float((a == y).mean()) if len(y) else float("nan") for name, a in answers.items()}
    return Agreement("bpda", f"bpda_gradient + pgd ({params['adaptive_steps']} steps, no random start)",
                     "ART's PGD on ART's classifier with the pre-processor as a pre-processing defence", f"{len(y)} held-out tiles",
                     float(np.abs(readable - art).max()) if len(y) else float("nan"),
                     float((answers["readable"] == answers["ART"]).mean()) if len(y) else float("nan"), accuracy)


def final_pipeline(fixed: FixedModel, final: FinalEvaluation, device):
    """x -> class probabilities of the real final defense: pre-processor -> CNN -> softmax -> LightGBM."""
    from .decision_attack import pipeline_predict

    return pipeline_predict(fixed.model, final.preprocessor, final.postprocessor, device=device)


# ---------------------------------------------------------------------------------------------------
# 8. The end-to-end attacker and a decision-based second opinion

#: The attacks of the end-to-end table, in column order: key -> column title.
ATTACKS = {"transfer": "transfer", "bpda": "BPDA through the pre-processor", "end_to_end": "end-to-end adaptive"}


@dataclass
class EndToEndResult:
    """Every defense of the results table under three attacks at one budget, on the same held-out clean tiles.

    ``rows``: one per (pre-processor, post-processor), the pre-processor alone first ("none"), with the
    accuracy on the clean tiles and under each attack (``end_to_end`` is None without a post-processor),
    the per-tile worst case over the attacks, and the harmonic mean under each. ``correct``: per row key
    (pre-processor, post-processor), the per-tile correctness arrays behind those numbers. ``tiles`` index
    ``FixedModel.x_correct``; ``x_end_to_end`` are the final defense's end-to-end examples.
    """

    tiles: np.ndarray
    eps: float
    steps: int
    rows: list[dict]
    correct: dict
    surrogates: dict
    final_key: tuple[str, str]
    x_end_to_end: np.ndarray | None = None

    @property
    def images(self) -> int:
        return len(self.tiles)

    def row(self, preprocessor: str, postprocessor: str) -> dict:
        return next(r for r in self.rows if (r["preprocessor"], r["postprocessor"]) == (preprocessor, postprocessor))

    @property
    def final_row(self) -> dict:
        return self.row(*self.final_key)

    def interval(self, key: str, row: tuple[str, str] | None = None):
        """Accuracy of a row (default: the final defense) under ``key`` ("clean", an attack or "worst") with its Wilson interval."""
        return proportion(self.correct[row or self.final_key][key])


def defense_row(name: str, value, post_name: str, title: str, outputs: dict, y: np.ndarray) -> tuple[dict, dict]:
    """Accuracy and harmonic mean under each attack for one defense, from its outputs (None: attack not applicable)."""
    from helpers.metrics import harmonic_mean, predicted_labels

    correct = {k: predicted_labels(v) == y for k, v in outputs.items() if v is not None}
    correct["worst"] = np.logical_and.reduce([correct[k] for k in ATTACKS if k in correct])
    row = {"preprocessor": name, "value": value, "postprocessor": post_name, "defense": pre_mod.describe(name, value),
           "post_title": title, "clean": float(correct["clean"].mean())}
    for key in (*ATTACKS, "worst"):
        row[key] = float(correct[key].mean()) if key in correct else None
        row[f"harmonic_{key}"] = harmonic_mean(row["clean"], row[key]) if key in correct else None
    return row, correct


def end_to_end_options(study: "PostStudy", post: PostResults, params: Mapping[str, Any]) -> dict:
    """The end-to-end attacker's settings for the LightGBM behind one pre-processor (see ``adaptive.end_to_end_rounds``)."""
    return {"train_probs": study.probs[post.splits["pool"]], "held_out_probs": study.probs[post.splits["test"]],
            "rounds": params["surrogate_rounds"], "samples": params["surrogate_samples"], "hidden": params["surrogate_hidden"],
            "surrogate_steps": params["surrogate_steps"], "seed": params["seed"]}


def end_to_end_attack(fixed: FixedModel, post: PostResults, adaptive: AdaptiveResult, params: Mapping[str, Any], device) -> EndToEndResult:
    """Transfer, BPDA-through-the-pre-processor and end-to-end PGD against every defense of the results table.

    The same held-out tiles and budget as the adaptive attack (whose transfer and BPDA examples for the final
    defense are reused). Per table pre-processor, a surrogate of its LightGBM is trained on the pool's softmax
    vectors and random simplex points, and PGD runs through pre-processor (BPDA), CNN and surrogate, for
    ``surrogate_rounds`` rounds (the surrogate refit where the attack went; see ``adaptive.end_to_end_rounds``).
    Every number is scored on the real pipeline. ART's post-processors have no gradient of their own (ART
    passes the gradient through them unchanged), so their end-to-end examples are the BPDA ones.
    """
    from .adaptive import bpda_pgd, end_to_end_rounds

    x, y = adaptive.x, adaptive.y
    budget = attack_budget(params, device)
    rows, correct, surrogates, x_final = [], {}, {}, None
    for name, study in post.posts.items():
        preprocessor = pre_mod.make_preprocessor(name, study.value, tvm_prob=params["tvm_prob"], tvm_max_iter=params["tvm_max_iter"])
        x_bpda = adaptive.x_bpda if name == post.final_name else bpda_pgd(fixed.model, x, y, preprocessor=preprocessor,
                                                                         seed=params["seed"] + 1, **budget)
        x_e2e, surrogates[name] = end_to_end_rounds(
            fixed.model, study.lightgbm, x, y, preprocessor=preprocessor, **end_to_end_options(study, post, params),
            desc=f"end-to-end PGD through {pre_mod.PREPROCESSORS[name].title.lower()} + LightGBM", **budget)
        if name == post.final_name:
            x_final = x_e2e
        probs = {key: pre_mod.preprocessed_probabilities(fixed.model, preprocessor, images, device=device, desc=f"scoring {key}")
                 for key, images in (("clean", x), ("transfer", adaptive.x_transfer), ("bpda", x_bpda), ("end_to_end", x_e2e))}
        row, right = defense_row(name, study.value, "none", "none", {**probs, "end_to_end": None}, y)
        rows.append(row)
        correct[(name, "none")] = right
        for post_name in [*post_mod.ART_POSTPROCESSORS, "lightgbm"]:
            if post_name == "lightgbm":
                processor, title, through = study.lightgbm, "LightGBM", "end_to_end"
            else:
                processor, title, through = post_mod.make_art_postprocessor(post_name, **art_settings(params)), post_mod.ART_POSTPROCESSORS[post_name], "bpda"
            outputs = {key: processor(probs[key]) for key in ("clean", "transfer", "bpda", "end_to_end")}
            if through == "bpda":  # the same examples: the same answers (Gaussian noise draws anew on every call)
                outputs["end_to_end"] = outputs["bpda"]
            row, right = defense_row(name, study.value, post_name, title, outputs, y)
            rows.append(row)
            correct[(name, post_name)] = right
    return EndToEndResult(adaptive.tiles, params["adaptive_eps"], params["adaptive_steps"], rows, correct, surrogates,
                          (post.final_name, "lightgbm"), x_final)


@dataclass
class Convergence:
    """The final defense under BPDA-PGD and the end-to-end attack at ``steps`` and at twice as many, on the same tiles.

    ``correct[attack]``: (per-tile correctness at ``steps``, at ``2 * steps``) of the whole defense.
    """

    steps: int
    correct: dict[str, tuple[np.ndarray, np.ndarray]]

    def accuracy(self, attack: str, doubled: bool = False):
        return proportion(self.correct[attack][int(doubled)])

    def change(self, attack: str):
        """Accuracy at twice the steps minus at ``steps``, with the 95% interval of that paired difference."""
        return paired_difference(*self.correct[attack])

    def converged(self, attack: str) -> bool:
        """Doubling the steps lowers the accuracy by less than the half-width of its own 95% interval."""
        return -self.change(attack).estimate < self.accuracy(attack).half_width


def harmonic_difference(correct_a: np.ndarray, correct_b: np.ndarray, is_adversarial: np.ndarray, tile: np.ndarray, *,
                        resamples: int = 2000, seed: int = 0):
    """Harmonic mean of defense a minus that of defense b on the same images, with a 95% interval from a bootstrap
    over source tiles (a tile and its adversarial versions are drawn together: they are not independent)."""
    from helpers.metrics import Interval

    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    adversarial = np.asarray(is_adversarial, dtype=bool)
    _, index = np.unique(np.asarray(tile), return_inverse=True)
    per_tile = np.zeros((index.max() + 1 if len(index) else 0, 6))  # per tile: clean, clean right (a, b), adv, adv right (a, b)
    for column, values in enumerate((~adversarial, ~adversarial & correct_a, ~adversarial & correct_b,
                                     adversarial, adversarial & correct_a, adversarial & correct_b)):
        np.add.at(per_tile[:, column], index, values)

    def difference(totals: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            clean_a, clean_b = totals[..., 1] / totals[..., 0], totals[..., 2] / totals[..., 0]
            adv_a, adv_b = totals[..., 4] / totals[..., 3], totals[..., 5] / totals[..., 3]
            h = lambda c, a: np.where(c + a > 0, 2 * c * a / np.where(c + a > 0, c + a, 1), 0.0)  # noqa: E731
            return h(clean_a, adv_a) - h(clean_b, adv_b)

    if not len(per_tile) or per_tile[:, 0].sum() == 0 or per_tile[:, 3].sum() == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    estimate = float(difference(per_tile.sum(0)))
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(rng.integers(0, len(per_tile), len(per_tile)), minlength=len(per_tile)) for _ in range(resamples)])
    draws = difference(weights @ per_tile)
    low, high = np.nanquantile(draws, [0.025, 0.975])
    return Interval(estimate, float(low), float(high))


def paired_difference(before: np.ndarray, after: np.ndarray):
    """mean(after) - mean(before) over the same tiles, with a 95% interval from the tiles whose answer changed (counted as
    at least one, so that no interval has width zero: four unchanged tiles do not prove that nothing would change)."""
    from helpers.metrics import Interval

    before, after = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    n = len(before)
    if not n:
        return Interval(float("nan"), float("nan"), float("nan"))
    gained, lost = int((~before & after).sum()), int((before & ~after).sum())
    difference = (gained - lost) / n
    half = 1.96 * np.sqrt(max(max(gained + lost, 1) - (gained - lost) ** 2 / n, 0.0)) / n
    return Interval(difference, difference - half, difference + half)


def convergence(fixed: FixedModel, post: PostResults, final: FinalEvaluation, adaptive: AdaptiveResult,
                e2e: EndToEndResult, params: Mapping[str, Any], device) -> Convergence:
    """BPDA-PGD and the end-to-end attack on the final defense again with twice ``adaptive_steps``."""
    from .adaptive import bpda_pgd, end_to_end_rounds

    steps = params["adaptive_steps"]
    x, y = adaptive.x, adaptive.y
    doubled = attack_budget(params, device, steps=2 * steps)
    x_bpda = bpda_pgd(fixed.model, x, y, preprocessor=final.preprocessor, seed=params["seed"] + 1, **doubled)
    x_e2e, _ = end_to_end_rounds(fixed.model, final.postprocessor, x, y, preprocessor=final.preprocessor,
                                 **end_to_end_options(post.final, post, params), desc=f"end-to-end PGD-{2 * steps}", **doubled)
    predict = final_pipeline(fixed, final, device)
    right = {key: np.asarray(predict(images)).argmax(1) == y for key, images in (("bpda", x_bpda), ("end_to_end", x_e2e))}
    return Convergence(steps, {"bpda": (adaptive.correct["bpda"]["defense"], right["bpda"]),
                               "end_to_end": (e2e.correct[e2e.final_key]["end_to_end"], right["end_to_end"])})


@dataclass
class DecisionAttack:
    """HopSkipJump on the final defense (a subset of the adaptive tiles) beside the gradient attacks on the same tiles."""

    result: Any  # decision_attack.DecisionResult
    gradient: dict[str, float]  # clean / transfer / bpda / end_to_end / worst accuracy of the final defense on these tiles
    defense: str
    gradient_survived: np.ndarray | None = None  # per tile: withstood all three gradient attacks

    @property
    def missed_by_gradients(self) -> int:
        """Tiles HopSkipJump moved to a wrong class within the budget although they withstood all three gradient attacks."""
        if self.gradient_survived is None:
            return 0
        fooled = self.result.clean_correct & ~self.result.robust
        return int((fooled & self.gradient_survived).sum())

    @property
    def accuracy(self):
        """Share of the tiles that survive HopSkipJump, with its Wilson interval."""
        return proportion(self.result.robust)

    @property
    def missed_share(self):
        """Share of the tiles HopSkipJump broke although all three gradient attacks failed on them, with its Wilson interval."""
        if self.gradient_survived is None:
            return proportion(np.zeros(self.result.images, dtype=bool))
        return proportion(self.result.clean_correct & ~self.result.robust & self.gradient_survived)


def decision_attack(fixed: FixedModel, final: FinalEvaluation, e2e: EndToEndResult, params: Mapping[str, Any], device) -> DecisionAttack:
    """HopSkipJump (L-infinity, from decisions only) against the whole real final pipeline on the first ``hsj_size`` adaptive tiles."""
    from .decision_attack import hop_skip_jump

    n = min(params["hsj_size"], e2e.images)
    tiles = e2e.tiles[:n]
    result = hop_skip_jump(final_pipeline(fixed, final, device), fixed.x_correct[tiles], fixed.y_correct[tiles],
                           pool=fixed.x_correct[e2e.tiles], image_size=params["image_size"], eps=params["adaptive_eps"],
                           max_iter=params["hsj_max_iter"], max_eval=params["hsj_max_eval"], init_eval=params["hsj_init_eval"],
                           init_size=params["hsj_init_size"], seed=params["seed"], batch_size=params["batch_size"])
    right = e2e.correct[e2e.final_key]
    gradient = {key: float(right[key][:n].mean()) if n else float("nan") for key in ("clean", *ATTACKS, "worst")}
    return DecisionAttack(result, gradient, final.description, right["worst"][:n])


# ---------------------------------------------------------------------------------------------------
# 3b. JPEG history


def jpeg_history(fixed: FixedModel, data, searches: dict[str, pre_mod.SearchResult], params: Mapping[str, Any], device):
    """Clean accuracy per tissue class on all held-out tiles without and with JPEG at ``jpeg_check_quality`` (None: the JPEG search's best)."""
    from .jpeg_history import jpeg_check

    if params["jpeg_check_quality"] is not None:
        quality, source = params["jpeg_check_quality"], "jpeg_check_quality"
    elif "jpeg" in searches:
        quality, source = searches["jpeg"].best["value"], "the JPEG search's best quality"
    else:
        quality, source = None, "JPEG was not searched and jpeg_check_quality is None"
    return jpeg_check(fixed.model, data.x_test.numpy(), data.y_test.numpy(), data.tissue_test, data.classes, quality, source=source,
                      device=device)
