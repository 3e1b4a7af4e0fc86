"""Stages of study 5: a Flickr-built 5-class photo set, Keras transfer learning, attacks, noise, blur, PCA and JPEG.

The notebook ``notebooks/05_flickr_transfer_attacks.ipynb`` calls these functions; each returns plain
results (dataclasses). ``report.py`` turns them into tables, prose and the headline, ``figures.py`` into
plots; the study's qualitative findings are reference text in ``reference.py``.
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from helpers import metrics
from . import keras_attacks
from .adaptive import AdaptiveSweep, adaptive_sweep, blur_tf, defenses_of, eot_noise_gradient, jpeg_bpda_tf, pca_reconstruction_tf
from .backbones import TransferModel, WeightsSource, WeightsUnavailableError, resolve_weights, spec_of, train_transfer_model
from .evaluation import (ATTACK_NAMES, AlterationSweep, AttackSweep, alteration_sweep, art_classifier, attack_sweep, nearest,
                         structural_similarity)
from .export import AttackedBatch, export_attacked
from .flickr_builder import KEY_ENV, REUSE_LICENSES, SECRET_ENV, have_credentials

STUDY = "flickr_transfer_attacks"
TITLE = "Flickr photos, Keras transfer learning: attacks, noise, blur, PCA and JPEG, with SSIM"
FRAMEWORKS = ("tensorflow",)
GRIDS = ("noise", "blur", "pca", "jpeg")

# Each method's readable implementation, shown in the notebook beside its mathematics.
METHODS = {
    "keras_gradient": keras_attacks.loss_gradient,
    "keras_fgsm": keras_attacks.fgsm,
    "keras_pgd": keras_attacks.pgd,
    "ssim": structural_similarity,
    "blur_layer": blur_tf,
    "pca_layer": pca_reconstruction_tf,
    "jpeg_bpda": jpeg_bpda_tf,
    "eot_noise": eot_noise_gradient,
}


# --------------------------------------------------------------------------------------------------
# Device


@dataclass(frozen=True)
class KerasDevice:
    """Where Keras runs: the ``device`` parameter, the TensorFlow device it picked (``/GPU:0`` or ``/CPU:0``) and why."""

    requested: str
    name: str
    description: str

    def scope(self):
        """``tf.device(name)``: the stages run their Keras work inside it."""
        from helpers.frameworks import import_tensorflow

        return import_tensorflow().device(self.name)


def keras_device(preference: str = "auto") -> KerasDevice:
    """The TensorFlow device for the ``device`` parameter: ``"auto"`` takes the first GPU TensorFlow sees,
    else the CPU; ``"cpu"`` the CPU; ``"cuda"`` / ``"mps"`` a GPU (CUDA, or Apple's Metal plug-in), or an error."""
    import os

    from helpers.frameworks import import_tensorflow
    from helpers.params import DEVICE_CHOICES

    preference = (preference or "auto").lower()
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {preference!r}")
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if preference in ("cuda", "mps") and not gpus:
        raise RuntimeError(f"device {preference!r} was requested but TensorFlow sees no GPU on this machine "
                           "(on Linux install the CUDA libraries with pip install 'advlab[gpu]'; see the README)")
    if gpus and preference != "cpu":
        details = tf.config.experimental.get_device_details(gpus[0])
        return KerasDevice(preference, "/GPU:0", f"GPU 0 ({details.get('device_name', 'unnamed')}) of {len(gpus)}")
    why = "asked for" if preference == "cpu" else "TensorFlow sees no GPU"
    return KerasDevice(preference, "/CPU:0", f"CPU ({os.cpu_count()} cores; {why})")


@contextlib.contextmanager
def on_device(params: Mapping):
    """Run the enclosed Keras work on the device the ``device`` parameter picks."""
    with keras_device(params.get("device", "auto")).scope():
        yield


def used_device(model: TransferModel) -> str:
    """The device TensorFlow placed the model's weights on and ran a prediction on, e.g. ``CPU:0``."""
    weights = model.model.weights[0]
    variable = getattr(weights, "value", weights)
    size = model.model.input_shape[1]
    output = model.model(np.zeros((1, size, size, 3), np.float32), training=False)
    short = {d.split("device:")[-1] for d in (variable.device, output.device)}
    return " and ".join(sorted(short))


# --------------------------------------------------------------------------------------------------
# Photos


@dataclass
class PhotoSource:
    """Where the photos come from and why: a Flickr build or an existing class-per-folder set."""

    path: Path
    kind: str  # "flickr" or "folder"
    description: str


def choose_photo_source(params: Mapping, environ: Mapping[str, str] | None = None, *, rest_url: str | None = None) -> PhotoSource:
    """Build from Flickr when ``use_flickr`` and credentials are set, else use ``photo_folder``."""
    from helpers.data import flickr5_path, imagewoof5_path
    from helpers.paths import data_root

    if params["use_flickr"] and have_credentials(environ):
        from .flickr_builder import FlickrCredentials, build_photo_set

        root = Path(params["flickr_dir"]).expanduser() if params["flickr_dir"] else data_root() / "flickr_photos"
        report = build_photo_set(
            params["flickr_classes"], root, per_class=params["photos_per_class"], image_size=params["image_size"],
            licenses=params["flickr_licenses"], credentials=FlickrCredentials.from_environment(environ), rest_url=rest_url,
        )
        return PhotoSource(root, "flickr", report.describe())
    reason = "use_flickr is False" if not params["use_flickr"] else f"{KEY_ENV} / {SECRET_ENV} are not set"
    folder = params["photo_folder"]
    if folder == "imagewoof5":
        path = imagewoof5_path()
    elif folder == "flickr5":
        path = flickr5_path()
    else:
        path = Path(folder).expanduser()
    return PhotoSource(path, "folder", f"not built from Flickr ({reason}): using the class-per-folder set {path}")


@dataclass
class Split:
    """Photos as float pixels in [0, 1], split into train and test; ``eval`` indexes the test photos attacked."""

    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_paths: list[str]
    data_id: str

    def eval_set(self, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The first ``size`` test photos in class-balanced order (class 0, 1, ..., then again)."""
        rank = np.zeros(len(self.y_test), dtype=int)
        for label in np.unique(self.y_test):
            members = np.flatnonzero(self.y_test == label)
            rank[members] = np.arange(len(members))
        order = np.lexsort((self.y_test, rank))[:size]
        return self.x_test[order], self.y_test[order], [self.test_paths[i] for i in order]

    def describe(self) -> str:
        counts = np.bincount(self.y_train, minlength=len(self.classes)) + np.bincount(self.y_test, minlength=len(self.classes))
        per_class = ", ".join(f"{c}={n}" for c, n in zip(self.classes, counts))
        return (f"{len(self.y_train) + len(self.y_test)} photos of {self.x_train.shape[1]}x{self.x_train.shape[2]} px "
                f"({per_class}): {len(self.y_train)} train, {len(self.y_test)} test")


def load_split(source: PhotoSource, params: Mapping) -> Split:
    """Read up to ``photos_per_class`` photos per class and split them, stratified, with ``seed``."""
    from sklearn.model_selection import train_test_split

    from helpers.data import load_photo_folder

    photos = load_photo_folder(source.path, image_size=params["image_size"], per_class=params["photos_per_class"], seed=params["seed"])
    counts = photos.class_counts()
    too_few = {c: n for c, n in counts.items() if n < 2}
    if too_few:
        raise ValueError(f"{source.path}: every class needs at least 2 photos to split into train and test; "
                         f"too few in {too_few}. Choose a bigger photo set (photo_folder='imagewoof5') or build one from Flickr.")
    indices = np.arange(len(photos))
    n_test = max(int(round(params["test_fraction"] * len(photos))), len(photos.classes))
    if len(photos) - n_test < len(photos.classes):
        raise ValueError(f"{len(photos)} photos are too few for a train/test split of {len(photos.classes)} classes")
    train, test = train_test_split(indices, test_size=n_test, stratify=photos.labels, random_state=params["seed"])
    x = photos.images.astype(np.float32) / 255.0
    root = Path(source.path)
    relative = [str(Path(p).relative_to(root)) if Path(p).is_relative_to(root) else str(p) for p in photos.paths]
    digest = hashlib.sha256("\n".join(relative[i] for i in sorted(train)).encode()).hexdigest()[:16]
    return Split(
        classes=list(photos.classes), x_train=x[train], y_train=photos.labels[train], x_test=x[test], y_test=photos.labels[test],
        test_paths=[relative[i] for i in test], data_id=f"{root.name}:{params['image_size']}:{digest}",
    )


# --------------------------------------------------------------------------------------------------
# Backbones


@dataclass
class BackbonePlan:
    """Which backbone runs for which requested ones, with which weights, and why."""

    run: str
    requested: list[str]
    source: WeightsSource
    notes: list[str] = field(default_factory=list)

    @property
    def substituted(self) -> bool:
        return self.requested != [self.run]


def plan_backbones(params: Mapping) -> list[BackbonePlan]:
    """Resolve each requested backbone's ImageNet weights; one that has none is replaced by
    ``offline_substitute`` (said out loud in the notes), or, without a substitute, the run stops."""
    plans: dict[str, BackbonePlan] = {}
    options = dict(weights_path=params["weights_path"] or None, download=params["download_weights"],
                   any_file=len(params["backbones"]) == 1)
    for name in params["backbones"]:
        try:
            source, run, note = resolve_weights(name, **options), name, None
        except WeightsUnavailableError as error:
            substitute = params["offline_substitute"]
            if not substitute:
                raise
            try:
                source = resolve_weights(substitute, **options)
            except WeightsUnavailableError as second:
                raise WeightsUnavailableError(substitute, f"{error}\nThe offline substitute has none either: {second}") from None
            run = substitute
            note = (f"{name}: ImageNet weights not available here, so {spec_of(substitute).title} runs in its place "
                    f"(offline_substitute={substitute!r}; set it to None to stop instead). Reason: {error}")
        plan = plans.setdefault(run, BackbonePlan(run, [], source))
        if name not in plan.requested:
            plan.requested.append(name)
        if note:
            plan.notes.append(note)
    return list(plans.values())


def describe_plans(plans: Sequence[BackbonePlan]) -> str:
    lines = []
    for plan in plans:
        asked = ", ".join(plan.requested)
        lines.append(f"{spec_of(plan.run).title} runs (requested: {asked}); {plan.source.describe()}")
        lines.extend(f"  NOTE: {note}" for note in plan.notes)
    return "\n".join(lines)


def grids_of(params: Mapping) -> dict[str, list]:
    return {
        "noise": list(params["noise_percents"]), "blur": list(params["blur_kernels"]),
        "pca": list(params["pca_components"]), "jpeg": list(params["jpeg_qualities"]),
    }


def default_licenses() -> list[int]:
    return list(REUSE_LICENSES)


def backbone_titles(plans: Sequence[BackbonePlan]) -> dict[str, str]:
    """Legend names: the backbone that ran, and which requested one it stands for when substituted."""
    titles = {}
    for plan in plans:
        title = spec_of(plan.run).title
        if plan.substituted:
            title += f" [for {', '.join(n for n in plan.requested if n != plan.run)}]"
        titles[plan.run] = title
    return titles


# --------------------------------------------------------------------------------------------------
# Stages the notebook calls


@dataclass
class Photos:
    """The photo source (Flickr build or folder, with why) and the train/test split read from it."""

    source: PhotoSource
    split: Split


def load_photos(params: Mapping) -> Photos:
    """Choose the photo source, read up to ``photos_per_class`` photos per class and split them."""
    source = choose_photo_source(params)
    return Photos(source, load_split(source, params))


def fetch_data(params: Mapping) -> None:
    """Download (or build) the photo set into the data root when it is missing (``advlab fetch``)."""
    load_photos(params)


@dataclass
class Trained:
    """One transfer model per backbone that ran, its test accuracy and its legend name."""

    plans: list[BackbonePlan]
    models: dict[str, TransferModel]
    test_accuracy: dict[str, float]
    titles: dict[str, str]
    n_classes: int
    device: KerasDevice | None = None  # what the device parameter picked
    used: dict[str, str] = field(default_factory=dict)  # backbone -> where TensorFlow really ran it

    @property
    def first(self) -> str:
        """The backbone whose predictions the example grids show."""
        return next(iter(self.models))

    @property
    def from_cache(self) -> bool:
        return all(m.from_cache for m in self.models.values())


def train_backbones(plans: Sequence[BackbonePlan], split: Split, params: Mapping) -> Trained:
    """Train (or load from the cache) a new head on each planned backbone, on the device the ``device``
    parameter picks; measure it on all test photos, and record where TensorFlow really ran it."""
    device = keras_device(params.get("device", "auto"))
    with device.scope():
        models = {
            plan.run: train_transfer_model(
                plan.run, split.x_train, split.y_train, n_classes=len(split.classes), source=plan.source, data_id=split.data_id,
                epochs=params["epochs"], batch_size=params["batch_size"], learning_rate=params["learning_rate"],
                dropout=params["dropout"], seed=params["seed"], validation=(split.x_test, split.y_test),
            )
            for plan in plans
        }
        test_accuracy = {name: metrics.accuracy(model.predict(split.x_test), split.y_test) for name, model in models.items()}
        used = {name: used_device(model) for name, model in models.items()}
    return Trained(list(plans), models, test_accuracy, backbone_titles(plans), len(split.classes), device, used)


@dataclass
class EvalSet:
    """The class-balanced test photos every alteration and attack is applied to, with each backbone's
    prediction on the originals (``original``) and its true-label accuracy on them (``accuracy``)."""

    x: np.ndarray
    y: np.ndarray
    sources: list[str]
    original: dict[str, np.ndarray]
    accuracy: dict[str, float]


def eval_set(trained: Trained, split: Split, params: Mapping) -> EvalSet:
    """The first ``eval_size`` test photos in class-balanced order and every backbone's predictions on them."""
    x, y, sources = split.eval_set(params["eval_size"])
    with on_device(params):
        original = {name: model.predict(x) for name, model in trained.models.items()}
    return EvalSet(x, y, sources, original, {name: metrics.accuracy(p, y) for name, p in original.items()})


def run_alterations(trained: Trained, target: EvalSet, params: Mapping) -> AlterationSweep:
    """Noise, blur, PCA and JPEG at every level of their grids, shown to every backbone, with SSIM."""
    with on_device(params):
        return alteration_sweep(trained.models, target.x, target.y, target.original, grids_of(params),
                                seed=params["seed"], keep=params["grid_images"])


@dataclass
class Attacked:
    """FGSM and PGD against each backbone (``sweeps``), with JPEG and blur applied to every attacked image.

    ``export_eps`` is the budget (of ``epsilons``) whose images are kept for the grid and the export;
    ``defenses`` maps ``jpeg`` / ``blur`` to the level applied; ``clean_accuracy`` is each backbone's
    true-label accuracy on the unattacked evaluation photos.
    """

    sweeps: dict[str, AttackSweep]
    export_eps: float
    defenses: dict[str, int]
    clean_accuracy: dict[str, float]
    pgd_steps: int


def run_attacks(trained: Trained, target: EvalSet, params: Mapping) -> Attacked:
    """FGSM and PGD through ART at every budget against every backbone, with true labels; the images at the
    export budget and at ``adaptive_epsilons`` are kept (the grid, the export and section 6 use them)."""
    export_eps = nearest(params["epsilons"], params["export_epsilon"])
    defenses = {"jpeg": params["defense_jpeg_quality"], "blur": params["defense_blur_kernel"]}
    with on_device(params):
        sweeps = {
            name: attack_sweep(model, target.x, target.y, target.original[name], n_classes=trained.n_classes, epsilons=params["epsilons"],
                               pgd_steps=params["pgd_steps"], defenses=defenses,
                               keep_epsilons=[export_eps, *params.get("adaptive_epsilons", [])], batch_size=params["batch_size"])
            for name, model in trained.models.items()
        }
    return Attacked(sweeps, export_eps, defenses, dict(target.accuracy), params["pgd_steps"])


@dataclass
class Exported:
    """The attacked photos written as PNG files (``folder``) and the CSV describing them (``csv_path``, ``rows``)."""

    folder: Path
    csv_path: Path
    rows: list[dict]


def export_attacked_images(trained: Trained, target: EvalSet, attacked: Attacked, split: Split) -> Exported:
    """Every backbone's FGSM and PGD images at the export budget, as PNG files and one CSV beside the report."""
    from helpers.paths import report_dir

    batches = [
        AttackedBatch(name, attack, attacked.export_eps, attacked.sweeps[name].adversarial[attack][attacked.export_eps],
                      target.sources, target.y, target.original)
        for name in trained.models for attack in ATTACK_NAMES
    ]
    folder = report_dir(STUDY) / "attacked_images"
    with contextlib.nullcontext() if trained.device is None else trained.device.scope():
        csv_path, rows = export_attacked(folder, batches, split.classes, trained.models)
    return Exported(folder, csv_path, rows)


@dataclass
class Adaptive:
    """PGD through each alteration used as a defense (``sweeps``, one per backbone), beside the plain PGD
    images of section 4 on the same photos: the first ``images`` of the evaluation set."""

    sweeps: dict[str, AdaptiveSweep]
    levels: dict[str, float]
    epsilons: list[float]
    images: int
    steps: int
    eot_samples: int


def defense_levels(params: Mapping) -> dict[str, float]:
    """The level of each alteration when it is used as a defense (section 6), in ``adaptive.DEFENSES`` order."""
    return {"jpeg": params["defense_jpeg_quality"], "blur": params["defense_blur_kernel"],
            "pca": params["defense_pca_components"], "noise": params["defense_noise_percent"]}


def run_adaptive(trained: Trained, target: EvalSet, attacked: Attacked, params: Mapping) -> Adaptive:
    """For every backbone, defense and budget of ``adaptive_epsilons``: accuracy on the first ``adaptive_size``
    evaluation photos clean, under section 4's PGD images then the defense, and under PGD through it."""
    size = params["adaptive_size"]
    levels = defense_levels(params)
    defenses = defenses_of(levels, eot_samples=params["eot_samples"])
    sweeps = {}
    with on_device(params):
        for name, model in trained.models.items():
            kept = attacked.sweeps[name].adversarial["pgd"]
            plain = {eps: next(images for e, images in kept.items() if np.isclose(e, eps))[:size] for eps in params["adaptive_epsilons"]}
            sweeps[name] = adaptive_sweep(model, target.x[:size], target.y[:size], plain, defenses, steps=params["pgd_steps"],
                                          seed=params["seed"], batch_size=params["batch_size"])
    return Adaptive(sweeps, levels, list(params["adaptive_epsilons"]), min(size, len(target.y)), params["pgd_steps"], params["eot_samples"])


# --------------------------------------------------------------------------------------------------
# The readable attacks beside ART's

AGREEMENT_IMAGES = 8  # photos the readable FGSM and PGD are run on beside ART's


@dataclass
class ArtAgreement:
    """FGSM and PGD from ART and from ``keras_attacks`` on the same photos, the same model and budget.

    ``rows``: per attack, the true-label accuracy under each, the share of photos on which the two attacked
    versions get the same prediction and the largest pixel difference between them; ``ssim_difference``: the
    largest difference between ``evaluation.structural_similarity`` and scikit-image's SSIM on those images.
    """

    backbone: str
    images: int
    eps: float
    steps: int
    rows: list[dict]
    ssim_difference: float


def compare_with_art(trained: Trained, target: EvalSet, params: Mapping) -> ArtAgreement:
    """FGSM and PGD (without the random start, so that both are deterministic) by ART and by
    ``keras_attacks`` against the first backbone, on the first ``AGREEMENT_IMAGES`` evaluation photos at the
    smallest budget (where the attacks leave the most photos right, so that the accuracies say something); and the
    readable SSIM beside scikit-image's on the readable PGD images."""
    from helpers import attacks

    name = trained.first
    model = trained.models[name]
    x, y = target.x[:AGREEMENT_IMAGES], target.y[:AGREEMENT_IMAGES]
    eps, steps = min(params["epsilons"]), params["pgd_steps"]
    rows, ssim_difference = [], 0.0
    with on_device(params):
        classifier = art_classifier(model, x, trained.n_classes)
        gradient = keras_attacks.input_gradient(model.model)
        step_size = keras_attacks.default_step_size(eps, steps)
        made = {
            "fgsm": (attacks.make_attack("fgsm", classifier, eps=eps),
                     keras_attacks.fgsm(gradient, x, y, eps=eps)),
            "pgd": (attacks.make_attack("pgd", classifier, eps=eps, max_iter=steps, num_random_init=0),
                    keras_attacks.pgd(gradient, x, y, eps=eps, steps=steps, step_size=step_size, random_start=False)),
        }
        for attack, (art_attack, readable) in made.items():
            by_art = art_attack.generate(x, y=y).astype(np.float32)
            predicted_art, predicted_readable = model.predict(by_art), model.predict(readable)
            rows.append({"attack": attack, "art_accuracy": metrics.accuracy(predicted_art, y),
                         "readable_accuracy": metrics.accuracy(predicted_readable, y),
                         "same_prediction": metrics.accuracy(predicted_readable, predicted_art),
                         "largest_pixel_difference": float(np.abs(by_art - readable).max())})
            library = metrics.ssim(x, readable, data_range=1.0)
            ours = np.array([structural_similarity(a, b) for a, b in zip(x, readable)])
            ssim_difference = max(ssim_difference, float(np.abs(library - ours).max()))
    return ArtAgreement(name, len(y), float(eps), steps, rows, ssim_difference)
