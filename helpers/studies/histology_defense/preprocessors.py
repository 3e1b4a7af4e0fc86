"""The four ART pre-processors and the coarse-to-fine search of their hyperparameter.

Each pre-processor is ART's own class, with three thin adapters:

- ART 1.20.1 returns float64 from some pre-processors under NumPy 2's promotion rules (feature
  squeezing divides by a float64 scalar), and the torch model rejects float64; ``keep_dtype`` casts the
  output back to the input's dtype, for every pre-processor alike.
- ``TotalVarMin`` minimises over the last axis as channels (it assumes NHWC), while the models here take
  NCHW; ``ChannelsFirstTotalVarMin`` moves the axis there and back.
- ``SpatialSmoothing`` computes its medians with SciPy's ``median_filter``, which took 1.4 ms per 64 px tile
  for a 3x3 window and 4.6 ms for 5x5 here (one thread), more than the CNN's gradient; the attacks call it at
  every step. ``NetworkSpatialSmoothing`` computes the same medians (bit for bit: the tests compare every
  window from 1 to 11, ties included) with a compare-exchange network in torch, 5 to 8 times faster.

``median_filter`` is the readable version of the same filter (the notebook shows it and runs it beside both).
ART's gradient estimate for all four is the identity (BPDA), which the adaptive attack relies on.

The search (``coarse_to_fine``) evaluates a coarse grid on a sample, then every value between the
best coarse value's neighbours on the whole set, as the study did; the objective is the harmonic mean of
clean and adversarial accuracy.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from helpers.art_compat import keep_dtype
from helpers.data.splits import stratified_indices
from helpers.progress import progress_bar
from .adversarial_set import DefenseSet, score
from .model import probabilities


def _channels_first_tvm():
    from art.defences.preprocessor import TotalVarMin

    class ChannelsFirstTotalVarMin(TotalVarMin):
        """ART's TotalVarMin on NCHW batches (ART's implementation treats the last axis as channels)."""

        def __call__(self, x, y=None):
            processed, y = super().__call__(np.ascontiguousarray(np.moveaxis(x, 1, -1)), y)
            return np.ascontiguousarray(np.moveaxis(processed, -1, 1)), y

    return ChannelsFirstTotalVarMin


@dataclass(frozen=True)
class PreprocessorSpec:
    """One pre-processor: its title, the hyperparameter searched, and how to build it for a value."""

    title: str
    hyperparameter: str
    integer: bool
    build: Callable[..., object]
    slow: bool = False  # evaluated on a capped number of images (see ``search``)


@functools.cache
def median_selection_network(n: int) -> tuple[tuple[tuple[int, int], ...], int]:
    """Compare-exchange pairs ``(i, j)`` (after each, wire i holds the smaller value and wire j the larger) that leave
    the value of rank ``n // 2`` (0-based) of ``n`` inputs on the returned wire.

    Batcher's odd-even merge sort for the next power of two, with the padding wires (+inf) folded away and every
    comparator that cannot reach the middle wire dropped (24 comparators for a 3x3 window, 113 for 5x5).
    """
    size = 1 << max(n - 1, 0).bit_length()
    pairs, p = [], 1
    while p < size:  # Knuth's formulation of Batcher's network
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                pairs += [(i + j, i + j + k) for i in range(min(k, size - j - k)) if (i + j) // (2 * p) == (i + j + k) // (2 * p)]
            k //= 2
        p *= 2
    slot, infinite, ops = list(range(size)), set(range(n, size)), []
    for i, j in pairs:
        if j in infinite:  # min(a, inf) = a stays on i: nothing moves
            continue
        if i in infinite:  # the finite value moves to i, +inf to j: rename the wires instead of comparing
            slot[i], slot[j] = slot[j], slot[i]
            infinite.discard(i)
            infinite.add(j)
            continue
        ops.append((slot[i], slot[j]))
    needed, kept = {slot[n // 2]}, []
    for i, j in reversed(ops):
        if i in needed or j in needed:
            kept.append((i, j))
            needed |= {i, j}
    return tuple(kept[::-1]), slot[n // 2]


def _symmetric_pad(x, before: int, after: int):
    """Pad the last two axes by mirroring the border pixels (SciPy's and NumPy's ``symmetric``, ART's ``reflect``)."""
    import torch

    for dim in (2, 3):
        parts = [x.narrow(dim, 0, before).flip(dim)] if before else []
        parts.append(x)
        if after:
            parts.append(x.narrow(dim, x.shape[dim] - after, after).flip(dim))
        x = torch.cat(parts, dim)
    return x


def network_median(x, window: int):
    """``median_filter(x, window)`` on a torch batch (NCHW) with ``median_selection_network``: the same values, bit for bit."""
    ops, middle = median_selection_network(window * window)
    before = window // 2
    padded = _symmetric_pad(x, before, window - 1 - before)
    height, width = x.shape[2], x.shape[3]
    wires = [padded[:, :, r:r + height, c:c + width].contiguous() for r in range(window) for c in range(window)]
    for i, j in ops:
        wires[i], wires[j] = wires[i].minimum(wires[j]), wires[i].maximum(wires[j])
    return wires[middle]


def _fast_spatial_smoothing():
    from art.defences.preprocessor import SpatialSmoothing

    class NetworkSpatialSmoothing(SpatialSmoothing):
        """ART's ``SpatialSmoothing`` (same parameters, same identity gradient) computing the same medians with
        ``network_median`` on small torch chunks: 5 to 8 times SciPy's speed here, identical output (tested at every
        window the grids use). Inputs it does not cover (not NCHW float32, a window wider than the image) go to ART."""

        chunk = 8  # images per torch call: the wires of a chunk stay in the CPU's cache

        def __call__(self, x, y=None):
            import torch

            x = np.asarray(x)
            if x.ndim != 4 or not self.channels_first or x.dtype != np.float32 or self.window_size > min(x.shape[2:]):
                return super().__call__(x, y)
            out = np.empty_like(x)
            with torch.no_grad():
                for start in range(0, len(x), self.chunk):
                    out[start:start + self.chunk] = network_median(torch.from_numpy(x[start:start + self.chunk]), self.window_size).numpy()
            if self.clip_values is not None:
                np.clip(out, self.clip_values[0], self.clip_values[1], out=out)
            return out, y

    return NetworkSpatialSmoothing


def _spatial_smoothing(value, **_):
    return keep_dtype(_fast_spatial_smoothing())(window_size=int(value), channels_first=True, clip_values=(0.0, 1.0))


def art_spatial_smoothing(value):
    """ART's own ``SpatialSmoothing`` (SciPy's median filter), for the comparison with the faster one the study runs."""
    from art.defences.preprocessor import SpatialSmoothing

    return keep_dtype(SpatialSmoothing)(window_size=int(value), channels_first=True, clip_values=(0.0, 1.0))


def _jpeg(value, **_):
    from art.defences.preprocessor import JpegCompression

    return keep_dtype(JpegCompression)(quality=int(value), channels_first=True, clip_values=(0.0, 1.0))


def _feature_squeezing(value, **_):
    from art.defences.preprocessor import FeatureSqueezing

    return keep_dtype(FeatureSqueezing)(bit_depth=int(value), clip_values=(0.0, 1.0))


def _total_variation(value, tvm_prob: float = 0.3, tvm_max_iter: int = 10, **_):
    return keep_dtype(_channels_first_tvm())(lamb=float(value), prob=tvm_prob, max_iter=tvm_max_iter, clip_values=(0.0, 1.0))


def median_filter(x: np.ndarray, window: int) -> np.ndarray:
    """Spatial smoothing: every pixel of every channel replaced by the median of the ``window`` x ``window`` square
    around it, the image's border mirrored (NCHW batches; what ART's ``SpatialSmoothing`` computes with SciPy).

    For an even window the square reaches one pixel further up and left than down and right, and of its two
    middle values the larger is taken, as SciPy's ``median_filter`` does.
    """
    before, after = window // 2, window - 1 - window // 2
    padded = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)), mode="symmetric")
    squares = np.lib.stride_tricks.sliding_window_view(padded, (window, window), axis=(2, 3))  # N, C, H, W, window, window
    values = squares.reshape(*x.shape, window * window)
    middle = window * window // 2
    return np.partition(values, middle, axis=-1)[..., middle]


PREPROCESSORS: dict[str, PreprocessorSpec] = {
    "total_variation": PreprocessorSpec("Total variation minimization", "lamb", False, _total_variation, slow=True),
    "spatial_smoothing": PreprocessorSpec("Spatial smoothing", "window_size", True, _spatial_smoothing),
    "jpeg": PreprocessorSpec("JPEG compression", "quality", True, _jpeg),
    "feature_squeezing": PreprocessorSpec("Feature squeezing", "bit_depth", True, _feature_squeezing),
}


def make_preprocessor(name: str, value, **options):
    """ART pre-processor ``name`` with its searched hyperparameter set to ``value`` (options: tvm_prob, tvm_max_iter)."""
    if name not in PREPROCESSORS:
        raise ValueError(f"unknown pre-processor {name!r}; choose from {', '.join(PREPROCESSORS)}")
    return PREPROCESSORS[name].build(value, **options)


def describe(name: str, value) -> str:
    spec = PREPROCESSORS[name]
    return f"{spec.title} ({spec.hyperparameter}={format_value(value)})"


def format_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------------------
# The generic search


@dataclass
class SearchResult:
    """Records of both stages (dicts with ``value``, ``stage`` and the objective's fields) and the best fine record."""

    coarse: list[dict]
    fine: list[dict]
    best: dict
    key: str = "score"

    @property
    def records(self) -> list[dict]:
        return self.coarse + self.fine


def fine_grid(coarse_values, best_value, *, integer: bool, fine_points: int) -> list:
    """Values between the best coarse value's neighbours on the coarse grid (the best value included)."""
    values = sorted(coarse_values)
    i = values.index(best_value)
    low, high = values[max(i - 1, 0)], values[min(i + 1, len(values) - 1)]
    if integer:
        grid = list(range(int(low), int(high) + 1))
        if len(grid) > fine_points:
            grid = sorted({int(round(v)) for v in np.linspace(low, high, fine_points)})
        grid = sorted(set(grid) | {int(best_value)})
    else:
        grid = sorted({float(v) for v in np.linspace(low, high, max(fine_points, 2))} | {float(best_value)})
    return grid


def coarse_to_fine(
    objective: Callable[[object, str], dict],
    coarse_values,
    *,
    integer: bool,
    fine_points: int = 9,
    key: str = "score",
) -> SearchResult:
    """Maximise ``objective(value, stage)[key]``: first over ``coarse_values`` (stage ``"coarse"``, meant
    to run on a sample), then over ``fine_grid`` around the best of them (stage ``"fine"``, on all data).

    Ties go to the smaller value (the milder setting). NaN scores never win.
    """
    coarse_values = sorted(set(int(v) if integer else float(v) for v in coarse_values))
    if not coarse_values:
        raise ValueError("coarse_to_fine needs at least one coarse value")

    def run(values, stage):
        return [{"value": v, "stage": stage, **objective(v, stage)} for v in values]

    def best_of(records):
        valid = [r for r in records if not np.isnan(r[key])]
        if not valid:
            return records[0]
        return max(valid, key=lambda r: (r[key], -r["value"]))

    coarse = run(coarse_values, "coarse")
    best_coarse = best_of(coarse)
    fine = run(fine_grid(coarse_values, best_coarse["value"], integer=integer, fine_points=fine_points), "fine")
    return SearchResult(coarse, fine, best_of(fine), key)


# ---------------------------------------------------------------------------------------------------
# Evaluating a pre-processor on the clean + adversarial set


def preprocessed_probabilities(model, preprocessor, x: np.ndarray, *, device="cpu", batch_size: int = 256, desc: str | None = None) -> np.ndarray:
    """Softmax outputs of the model on ``preprocessor(x)`` (``None``: no pre-processing), batch by batch."""
    outputs = []
    with progress_bar(total=len(x), desc=desc or "pre-processing", unit="img") as bar:
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            if preprocessor is not None:
                batch, _ = preprocessor(batch)
            outputs.append(probabilities(model, batch, device=device))
            bar.update(len(batch))
    return np.concatenate(outputs) if outputs else np.zeros((0, 4), np.float32)


def evaluate(model, preprocessor, data: DefenseSet, *, device="cpu", desc: str | None = None) -> dict:
    """Clean / adversarial accuracy, harmonic mean and milliseconds per image with ``preprocessor`` in front."""
    started = time.perf_counter()
    probs = preprocessed_probabilities(model, preprocessor, data.x, device=device, desc=desc)
    seconds = time.perf_counter() - started
    return {**score(probs, data), "ms_per_image": 1000 * seconds / max(len(data), 1), "images": len(data),
            "clean_images": int((~data.is_adversarial).sum()), "adversarial_images": int(data.is_adversarial.sum()), "probs": probs}


def sample(data: DefenseSet, size: int | None, *, seed: int) -> DefenseSet:
    """A seeded sample keeping the clean / adversarial shares (``None`` or ``size >= len``: everything)."""
    if size is None or size >= len(data):
        return data
    return data.take(np.sort(stratified_indices(data.is_adversarial.astype(int), size, seed=seed)))


def search(
    model,
    name: str,
    data: DefenseSet,
    coarse_values,
    *,
    coarse_size: int,
    fine_size: int | None = None,
    fine_points: int = 9,
    slow_size: int | None = None,
    seed: int = 0,
    device="cpu",
    options: dict | None = None,
) -> SearchResult:
    """Coarse-to-fine search of pre-processor ``name``'s hyperparameter by harmonic mean.

    Coarse stage: ``coarse_size`` images; fine stage: ``fine_size`` images (None: the whole set). Slow
    pre-processors (total variation minimisation, an optimisation per image) use at most ``slow_size``
    images in either stage. Each record keeps the softmax outputs (``probs``) of the images it scored.
    """
    spec = PREPROCESSORS[name]
    options = options or {}
    cap = slow_size if spec.slow else None
    sets = {
        "coarse": sample(data, _smaller(coarse_size, cap), seed=seed),
        "fine": sample(data, _smaller(fine_size, cap), seed=seed + 1),
    }

    def objective(value, stage):
        preprocessor = make_preprocessor(name, value, **options)
        desc = f"{spec.title} {spec.hyperparameter}={format_value(value)} ({stage})"
        record = evaluate(model, preprocessor, sets[stage], device=device, desc=desc)
        record["score"] = record["harmonic"]
        return record

    return coarse_to_fine(objective, coarse_values, integer=spec.integer, fine_points=fine_points)


def _smaller(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)
