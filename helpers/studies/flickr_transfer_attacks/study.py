"""Study 5: a Flickr-built 5-class photo set, Keras transfer learning, attacks, noise, blur, PCA and JPEG.

Parameters, the steps the notebook ``notebooks/05_flickr_transfer_attacks.ipynb`` calls, and the
study's qualitative findings as labelled reference text (never mixed with what this run measures:
``compare_with_study`` puts them side by side, the measured column written from the numbers).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from helpers.params import Param, ParameterError
from .alterations import ALTERATIONS
from .backbones import BACKBONES, WeightsSource, WeightsUnavailableError, resolve_weights, spec_of
from .flickr_builder import KEY_ENV, REUSE_LICENSES, SECRET_ENV, FLICKR_LICENSES, have_credentials

STUDY = "flickr_transfer_attacks"
TITLE = "Flickr photos, Keras transfer learning: attacks, noise, blur, PCA and JPEG, with SSIM"
STUDY_CLASSES = ("ambulance", "golden retriever", "Persian cat", "school bus", "traffic light")
GRIDS = ("noise", "blur", "pca", "jpeg")

PARAMETERS = {
    "preset": Param(str, help="name of the preset these values come from"),
    "seed": Param(int, low=0),
    "use_flickr": Param(bool, help=f"build the photo set with flickrapi when {KEY_ENV} and {SECRET_ENV} are set"),
    "flickr_classes": Param(list, item=str, min_items=2, help="Flickr search texts, one per class"),
    "flickr_dir": Param(str, help="where the Flickr-built set goes ('' = <data root>/flickr_photos)"),
    "flickr_licenses": Param(list, item=int, choices=tuple(FLICKR_LICENSES), help="Flickr license ids accepted"),
    "photo_folder": Param(str, help="without Flickr: 'imagewoof5', 'flickr5' or a class-per-folder path"),
    "photos_per_class": Param(int, low=2, high=100_000, help="photos per class (downloaded from Flickr or read)"),
    "image_size": Param(int, low=32, high=512, help="photos are centre-cropped and resized to this (study: 224)"),
    "test_fraction": Param(float, low=0.05, high=0.9, help="share of photos held out for testing (stratified)"),
    "backbones": Param(list, item=str, choices=tuple(BACKBONES), help="Keras ImageNet backbones (study: VGG16, ResNet50)"),
    "weights_path": Param(str, help="a Keras weights file, or a folder holding them by Keras' file names ('' = <data root>/weights)"),
    "download_weights": Param(bool, help="let keras.applications download ImageNet weights that are not on disk"),
    "offline_substitute": Param(str, choices=tuple(BACKBONES), optional=True,
                                help="backbone run in place of one whose weights cannot be had; None: stop with an error"),
    "epochs": Param(int, low=1, high=500, help="epochs of head training"),
    "batch_size": Param(int, low=1, high=1024),
    "learning_rate": Param(float, low=1e-6, high=1.0),
    "dropout": Param(float, low=0.0, high=0.9),
    "eval_size": Param(int, low=2, high=100_000, help="test photos altered and attacked (class-balanced)"),
    "epsilons": Param(list, item=float, low=0.0, high=1.0, help="L-infinity budgets of FGSM and PGD, pixels in [0, 1]"),
    "pgd_steps": Param(int, low=1, high=1000),
    "noise_percents": Param(list, item=float, low=0.0, high=100.0, help="random noise: % of pixels altered"),
    "blur_kernels": Param(list, item=int, low=1, high=101, help="blur kernel sizes k"),
    "pca_components": Param(list, item=int, low=1, high=512, help="PCA: principal components kept"),
    "jpeg_qualities": Param(list, item=int, low=1, high=95, help="JPEG qualities"),
    "defense_jpeg_quality": Param(int, low=1, high=95, help="JPEG quality applied to attacked images"),
    "defense_blur_kernel": Param(int, low=1, high=101, help="blur kernel applied to attacked images"),
    "export_epsilon": Param(float, low=0.0, high=1.0, help="attacked images at this budget are exported (nearest of epsilons)"),
    "grid_images": Param(int, low=1, high=12, help="photos per row of the example grids"),
}

# What the study reports (summarised in issue 7), as reference text for the comparison table.
STUDY_FINDINGS: dict[str, str] = {
    "pgd_vs_fgsm": "PGD fooled the models more than FGSM",
    "fgsm_ssim": "FGSM images stayed more similar to the originals (higher SSIM) than PGD images",
    "attack_ssim": "both attacks kept SSIM high",
    "blur": "blur did not help",
    "pca": "PCA reconstructions looked similar but fooled the models even unattacked",
    "jpeg": "JPEG compression suggested as the better remedy",
    "resnet_vs_vgg": "ResNet mostly beat VGG",
}
HIGH_SSIM = 0.8  # what "looked similar" / "SSIM high" is taken to mean in the comparison
HELPS = 0.05  # a defense "helps" when it recovers at least 5 points of true-label accuracy on average


def check_consistency(params: Mapping) -> None:
    """Checks that involve more than one parameter (``check_parameters`` checks each one alone)."""
    for name in ("backbones", "epsilons", "flickr_classes", "noise_percents", "blur_kernels", "pca_components", "jpeg_qualities"):
        if len(set(params[name])) != len(params[name]):
            raise ParameterError(f"parameter {name!r} has duplicates: {params[name]!r}")
    if any(e <= 0 for e in params["epsilons"]):
        raise ParameterError(f"parameter 'epsilons' must be > 0 (epsilon 0 is the clean images, always shown): {params['epsilons']!r}")
    if params["image_size"] < 32:
        raise ParameterError("parameter 'image_size' must be >= 32 (the backbones downsample 32x)")


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


# --------------------------------------------------------------------------------------------------
# Sentences written from the measured numbers


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def grids_of(params: Mapping) -> dict[str, list]:
    return {
        "noise": list(params["noise_percents"]), "blur": list(params["blur_kernels"]),
        "pca": list(params["pca_components"]), "jpeg": list(params["jpeg_qualities"]),
    }


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


COMPARISON_COLUMNS = ["finding", "study (reference text, not measured here)", "measured in this run", "consistent?"]


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


def headline(source: PhotoSource, split: Split, plans: Sequence[BackbonePlan], test_accuracy: Mapping[str, float],
             sweeps: Mapping, params: Mapping, export_eps: float) -> dict:
    """The numbers ``metrics.json`` and the report index show first."""
    largest = max(params["epsilons"])
    record: dict = {
        "photos": f"{'Flickr' if source.kind == 'flickr' else source.path.name}: {len(split.y_train) + len(split.y_test)} photos, {len(split.classes)} classes",
        "backbones run": "; ".join(f"{p.run} (for {', '.join(p.requested)})" if p.substituted else p.run for p in plans),
    }
    for name, sweep in sweeps.items():
        record[f"{name} test accuracy"] = test_accuracy[name]
        for attack, points in sweep.curves.items():
            last = points[-1]
            record[f"{name} {attack.upper()} accuracy at eps={largest:g}"] = last["accuracy"]
            record[f"{name} {attack.upper()} agreement at eps={largest:g}"] = last["agreement"]
            record[f"{name} {attack.upper()} SSIM at eps={largest:g}"] = last["ssim"]
        pgd = next((r for r in sweep.defense if r["attack"] == "pgd" and np.isclose(r["epsilon"], export_eps)), None)
        if pgd is not None:
            record[f"{name} PGD eps={export_eps:g} accuracy"] = pgd["attacked_accuracy"]
            record[f"{name} PGD eps={export_eps:g} + JPEG q={params['defense_jpeg_quality']} accuracy"] = pgd["jpeg_accuracy"]
            record[f"{name} PGD eps={export_eps:g} + blur k={params['defense_blur_kernel']} accuracy"] = pgd["blur_accuracy"]
    return record
