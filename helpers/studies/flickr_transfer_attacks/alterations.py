"""The study's image alterations, each a function of a batch and one level of its grid.

All take and return float32 batches (N, H, W, 3) with pixels in [0, 1]:

- ``random_pixel_noise(x, percent)``: as the study defines it, ``percent`` % of the pixels of each image
  are picked (distinct positions), and for each one a random channel is set to a random value;
- ``blur(x, kernel)``: a k x k mean (box) filter, ``kernel=1`` is the identity (``scipy.ndimage``);
- ``pca_reconstruction(x, components)``: each channel of each image, taken as H samples of W values,
  projected on its first ``components`` principal components and back (scikit-learn's ``PCA``);
- ``jpeg(x, quality)``: encoded and decoded as JPEG at ``quality`` (Pillow).

``ALTERATIONS`` describes each for tables and figures (the level's name, and which way is stronger).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np


def _check_batch(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected a batch of RGB images (N, H, W, 3), got shape {x.shape}")
    return x.astype(np.float32, copy=False)


def noise_draw(shape: tuple[int, ...], percent: float, *, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """One draw of the study's pixel noise for a batch of ``shape`` (N, H, W, C): ``(mask, values)``.

    ``mask`` is 1 on the (pixel, channel) entries that are replaced and 0 elsewhere, ``values`` holds
    the new values there (0 elsewhere), so the noisy batch is ``x * (1 - mask) + values``: a function of
    ``x`` that is differentiable (``adaptive`` uses it). ``seed`` is anything ``numpy.random.default_rng``
    takes; the same seed gives the same draw, image by image, whatever the batch size.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must lie in [0, 100], got {percent}")
    n, height, width, channels = shape
    mask = np.zeros((n, height * width, channels), dtype=np.float32)
    values = np.zeros_like(mask)
    count = int(round(percent / 100.0 * height * width))
    if count:
        rng = np.random.default_rng(seed)
        for image in range(n):
            pixels = rng.choice(height * width, size=count, replace=False)
            new = rng.random(count, dtype=np.float32)  # drawn before the channels, as the study's loop did
            picked = rng.integers(0, channels, size=count)
            mask[image, pixels, picked] = 1.0
            values[image, pixels, picked] = new
    return mask.reshape(shape), values.reshape(shape)


def random_pixel_noise(x: np.ndarray, percent: float, *, seed=0) -> np.ndarray:
    """Set one random channel of ``percent`` % of each image's pixels (distinct positions) to a random value.

    The number of pixels is ``round(percent / 100 * H * W)``; values are uniform in [0, 1), so every
    picked pixel changes (a draw equal to the old value has probability zero). See ``noise_draw``.
    """
    x = _check_batch(x)
    mask, values = noise_draw(x.shape, percent, seed=seed)
    return (x * (1.0 - mask) + values).astype(np.float32)


def blur(x: np.ndarray, kernel: int) -> np.ndarray:
    """A ``kernel`` x ``kernel`` mean filter over each channel (edges reflected); 1 leaves images unchanged."""
    from scipy.ndimage import uniform_filter

    if kernel < 1:
        raise ValueError(f"kernel must be >= 1, got {kernel}")
    x = _check_batch(x)
    if kernel == 1:
        return x.copy()
    return uniform_filter(x, size=(1, kernel, kernel, 1), mode="reflect").astype(np.float32)


def pca_reconstruction(x: np.ndarray, components: int) -> np.ndarray:
    """Each channel of each image rebuilt from its first ``components`` principal components (rows as samples)."""
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    if components < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    x = _check_batch(x)
    n, height, width, channels = x.shape
    k = min(components, height, width)
    out = np.empty_like(x)
    # One BLAS thread: for matrices this small, several threads mostly wait for each other (40x slower
    # on a busy 2-core machine, measured).
    with threadpool_limits(limits=1, user_api="blas"):
        for image in range(n):
            for channel in range(channels):
                plane = x[image, :, :, channel].astype(np.float64)
                pca = PCA(n_components=k, svd_solver="full")
                out[image, :, :, channel] = pca.inverse_transform(pca.fit_transform(plane))
    return np.clip(out, 0.0, 1.0)


def jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    """Each image encoded as JPEG at ``quality`` (1-95, Pillow) and decoded again."""
    from PIL import Image

    if not 1 <= quality <= 100:
        raise ValueError(f"quality must lie in [1, 100], got {quality}")
    x = _check_batch(x)
    out = np.empty_like(x)
    for index, image in enumerate(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[index] = np.asarray(decoded.convert("RGB"), dtype=np.float32) / 255.0
    return out


@dataclass(frozen=True)
class Alteration:
    """How to apply and describe one alteration."""

    name: str
    title: str
    level: str  # what the grid value means, for axis labels
    apply: Callable[..., np.ndarray]
    stronger_when_lower: bool  # PCA components and JPEG quality: fewer / lower alters more

    def __call__(self, x: np.ndarray, level, *, seed: int = 0) -> np.ndarray:
        if self.name == "noise":
            return self.apply(x, level, seed=seed)
        return self.apply(x, level)

    def label(self, level) -> str:
        return {
            "noise": f"noise {level:g}%",
            "blur": f"blur k={level}",
            "pca": f"PCA {level} comp.",
            "jpeg": f"JPEG q={level}",
        }[self.name]


ALTERATIONS: dict[str, Alteration] = {
    "noise": Alteration("noise", "Random pixel noise", "pixels altered (%)", random_pixel_noise, False),
    "blur": Alteration("blur", "Blur", "kernel size k", blur, False),
    "pca": Alteration("pca", "PCA reconstruction", "principal components kept", pca_reconstruction, True),
    "jpeg": Alteration("jpeg", "JPEG compression", "JPEG quality", jpeg, True),
}
