"""A gradient-free second opinion: ART's HopSkipJump on the whole real pipeline, from its decisions alone.

HopSkipJump (Chen, Jordan and Wainwright 2020) needs only the predicted class. It starts from an image
the pipeline already gets wrong, walks to the decision boundary between it and the original, and
shrinks the perturbation with gradient directions estimated from queries. The pipeline is wrapped as
ART's ``BlackBoxClassifier`` around pre-processor -> CNN -> softmax -> LightGBM, so no surrogate and no
BPDA is involved: whatever the gradient attacks miss, this may find, and the reverse.

HopSkipJump minimises the (here L-infinity) distance instead of working inside a budget, so a tile counts
as robust at ``eps`` when the pipeline is right on it and HopSkipJump found no misclassified image
within ``eps`` of it. ART draws its starting images with an unseeded generator; here each tile starts from
the closest other clean tile the pipeline puts in another class (or, failing that, a seeded uniform-noise image
it does), and NumPy's generator is seeded for the attack's random directions, so runs repeat.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from helpers.progress import progress_bar


class StopTile(Exception):
    """HopSkipJump asked about a NaN image or spent more than its cap of queries on one tile (see ``CountingPredict``)."""


class CountingPredict:
    """The pipeline's predict function, counting the images it was asked about (the attack's queries).

    With ``limit`` set, a tile that costs more queries than that (counted from ``start``), or a NaN image, raises
    ``StopTile``: ART 1.20.1's HopSkipJump halves its step size until the step lands on a misclassified image,
    and when its update direction is NaN (a gradient estimate of zero length) that loop never ends.
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray]):
        self.predict = predict
        self.queries = 0
        self.start = 0
        self.limit: int | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        self.queries += len(x)
        if self.limit is not None and (self.queries - self.start > self.limit or np.isnan(x).any()):
            raise StopTile(f"stopped after {self.queries - self.start} queries")
        return self.predict(x)


def query_cap(max_iter: int, max_eval: int, init_size: int) -> int:
    """A generous cap on one tile's queries: every iteration at ``max_eval`` plus room for the boundary and step searches."""
    return max_iter * (max_eval + 300) + init_size + 300


def pipeline_predict(model, preprocessor, postprocessor, *, device="cpu") -> Callable[[np.ndarray], np.ndarray]:
    """x (N, 3, H, W) -> the real pipeline's class probabilities: ``preprocessor`` -> model -> softmax -> ``postprocessor``."""
    from .model import probabilities

    def predict(x: np.ndarray) -> np.ndarray:
        if preprocessor is not None:
            x, _ = preprocessor(np.asarray(x, dtype=np.float32))
        probs = probabilities(model, x, device=device)
        return np.asarray(postprocessor(probs) if postprocessor is not None else probs, dtype=np.float32)

    return predict


def blackbox_classifier(predict: Callable[[np.ndarray], np.ndarray], *, image_size: int, nb_classes: int = 4):
    """ART's ``BlackBoxClassifier`` around ``predict`` for (N, 3, image_size, image_size) inputs in [0, 1]."""
    from art.estimators.classification import BlackBoxClassifier

    return BlackBoxClassifier(predict, input_shape=(3, image_size, image_size), nb_classes=nb_classes, clip_values=(0.0, 1.0))


def starting_points(predict, x: np.ndarray, predicted: np.ndarray, *, tries: int, seed: int,
                    pool: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A misclassified starting image for each of ``x``, and a found mask.

    First the closest (L2) image of ``pool`` (other clean tiles) that the pipeline puts in another class than
    ``predicted``; failing that, the first of ``tries`` seeded uniform-noise images it does.
    """
    rng = np.random.default_rng(seed)
    starts, found = np.array(x, dtype=np.float32, copy=True), np.zeros(len(x), dtype=bool)
    pool = np.zeros((0, *x.shape[1:]), np.float32) if pool is None else np.asarray(pool, dtype=np.float32)
    pool_classes = predict(pool).argmax(1) if len(pool) else np.zeros(0, dtype=np.int64)
    for i in range(len(x)):
        other = np.flatnonzero(pool_classes != predicted[i])
        if len(other):
            distances = ((pool[other] - x[i]) ** 2).reshape(len(other), -1).sum(1)
            starts[i], found[i] = pool[other[np.argmin(distances)]], True
            continue
        candidates = rng.uniform(0.0, 1.0, (tries, *x.shape[1:])).astype(np.float32)
        other = np.flatnonzero(predict(candidates).argmax(1) != predicted[i])
        if len(other):
            starts[i], found[i] = candidates[other[0]], True
    return starts, found


@contextmanager
def seeded_numpy(seed: int):
    """NumPy's global generator seeded for the block (HopSkipJump's gradient estimates draw from it), restored after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclass
class DecisionResult:
    """HopSkipJump on ``images`` tiles: per tile whether the pipeline was right on it, the L-infinity distance
    of the closest misclassified image found (inf: none) and whether it survives at ``eps``."""

    images: int
    eps: float
    clean_correct: np.ndarray
    distances: np.ndarray
    robust: np.ndarray
    started: int  # tiles HopSkipJump could start on (right at first, and a misclassified starting image found)
    queries: int
    settings: dict
    x_adv: np.ndarray
    tile_queries: np.ndarray | None = None  # queries HopSkipJump spent on each tile it attacked (NaN: not attacked)

    @property
    def median_queries(self) -> float:
        """Median number of queries HopSkipJump spent per attacked tile (NaN when it attacked none)."""
        spent = np.asarray([] if self.tile_queries is None else self.tile_queries, dtype=float)
        spent = spent[np.isfinite(spent)]
        return float(np.median(spent)) if len(spent) else float("nan")

    @property
    def max_queries(self) -> float:
        spent = np.asarray([] if self.tile_queries is None else self.tile_queries, dtype=float)
        spent = spent[np.isfinite(spent)]
        return float(spent.max()) if len(spent) else float("nan")

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.mean()) if self.images else float("nan")

    @property
    def accuracy(self) -> float:
        """Share of tiles the pipeline gets right and HopSkipJump cannot move to a wrong class within ``eps``."""
        return float(self.robust.mean()) if self.images else float("nan")

    @property
    def median_distance(self) -> float:
        found = self.distances[np.isfinite(self.distances) & self.clean_correct]
        return float(np.median(found)) if len(found) else float("nan")

    @property
    def harmonic(self) -> float:
        from helpers.metrics import harmonic_mean

        return harmonic_mean(self.clean_accuracy, self.accuracy) if self.images else float("nan")


def hop_skip_jump(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray, *, image_size: int, eps: float,
                  max_iter: int, max_eval: int, init_eval: int, init_size: int, seed: int = 0, batch_size: int = 256,
                  pool: np.ndarray | None = None) -> DecisionResult:
    """Untargeted L-infinity HopSkipJump against ``predict`` (the whole pipeline) on tiles ``x`` with true labels ``y``;
    ``pool``: other clean images to start from (see ``starting_points``)."""
    from art.attacks.evasion import HopSkipJump

    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    counting = CountingPredict(predict)
    predicted = counting(x).argmax(1) if len(x) else np.zeros(0, dtype=np.int64)
    clean_correct = predicted == y
    starts, found = starting_points(counting, x, predicted, tries=init_size, seed=seed, pool=pool)
    attacked = np.flatnonzero(clean_correct & found)
    x_adv = x.copy()
    classifier = blackbox_classifier(counting, image_size=image_size)
    attack = HopSkipJump(classifier, batch_size=batch_size, targeted=False, norm=np.inf, max_iter=max_iter, max_eval=max_eval,
                         init_eval=init_eval, init_size=init_size, verbose=False)
    tile_queries, stopped = np.full(len(x), np.nan), np.zeros(len(x), dtype=bool)
    with seeded_numpy(seed), progress_bar(total=len(attacked), desc=f"HopSkipJump ({max_iter} iterations)", unit="img") as bar:
        for i in attacked:
            counting.start, counting.limit = counting.queries, query_cap(max_iter, max_eval, init_size)
            try:
                x_adv[i] = attack.generate(x[i:i + 1], y=y[i:i + 1], x_adv_init=starts[i:i + 1].copy())[0]
            except StopTile:  # ART's step-size loop did not end: the tile keeps its misclassified starting image
                x_adv[i], stopped[i] = starts[i], True
            counting.limit = None
            tile_queries[i] = counting.queries - counting.start
            bar.update(1)
    distances = np.full(len(x), np.inf)
    distances[~clean_correct] = 0.0
    if len(attacked):
        fooled = counting(x_adv[attacked]).argmax(1) != y[attacked]
        linf = np.abs(x_adv[attacked] - x[attacked]).reshape(len(attacked), -1).max(1)
        distances[attacked] = np.where(fooled, linf, np.inf)
    robust = clean_correct & (distances > eps + 1e-6)
    settings = {"max_iter": max_iter, "max_eval": max_eval, "init_eval": init_eval, "init_size": init_size, "norm": "inf",
                "query_cap_per_tile": query_cap(max_iter, max_eval, init_size), "stopped_tiles": int(stopped.sum())}
    return DecisionResult(len(y), eps, clean_correct, distances, robust, len(attacked), counting.queries, settings, x_adv, tile_queries)
