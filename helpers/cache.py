"""A content-addressed cache for trained models and other expensive artifacts.

An artifact is stored under ``<cache_dir>/<kind>/<name>-<key>.<suffix>`` where ``key`` hashes
everything that determines it: the caller's parts (architecture, data subset, hyperparameters, seed)
plus the versions of the libraries that produced it. Changing any of them trains anew; rerunning a
notebook with unchanged parameters reuses the model.

Writes are atomic: the artifact is written to a temporary file in the same folder and renamed into
place, and only then is a sidecar ``.json`` written (also atomically) holding the artifact's SHA-256.
The sidecar also names the entry's key, so a file and sidecar moved under another entry's name are
not taken for it. An artifact without a sidecar, of another key, whose bytes do not match, or that
fails to load, is treated as corrupt: it is deleted and rebuilt, with a warning. A cache that cannot
be written (read-only, full disk, whatever the error) costs one warning: the artifact is built into a
private temporary folder instead and the run goes on uncached.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .paths import cache_dir

FRAMEWORK_MODULES = {
    "torch": ("torch", "torchvision"),
    "tensorflow": ("tensorflow", "keras"),
    "sklearn": ("sklearn",),
    "lightgbm": ("lightgbm",),
}


def library_versions(frameworks: tuple[str, ...] = ("torch",)) -> dict[str, str]:
    """Versions of Python, NumPy, ART and the named frameworks (their modules are imported)."""
    import importlib

    modules = ["numpy", "art"] + [m for fw in frameworks for m in FRAMEWORK_MODULES.get(fw, (fw,))]
    versions = {"python": platform.python_version()}
    for module in modules:
        try:
            versions[module] = importlib.import_module(module).__version__
        except ImportError:
            versions[module] = "absent"
    return versions


def cache_key(parts: dict[str, Any], frameworks: tuple[str, ...] = ("torch",)) -> str:
    """A 16-hex-digit hash of ``parts`` and the library versions; stable across runs and machines."""
    payload = json.dumps({"parts": parts, "versions": library_versions(frameworks)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final`` (same suffixes); rename it into place on success.

    On an exception the temporary file is removed and ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{final.name}")
    try:
        yield temporary
        if not temporary.exists():
            raise RuntimeError(f"nothing was written to {temporary}")
        with open(temporary, "rb") as handle:  # flush to disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(Path(path)) as temporary:
        temporary.write_text(text)


@dataclass
class CacheEntry:
    """A cached artifact: its file, the metadata stored with it, and whether it came from the cache."""

    path: Path
    meta: dict = field(default_factory=dict)
    from_cache: bool = False


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _valid(path: Path, key: str | None = None) -> dict | None:
    """The sidecar metadata if ``path`` is complete, matches it and is the entry of ``key``, else None."""
    sidecar = _sidecar(path)
    if not path.exists() or not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    # A sidecar that parses but is not what we write (a list, null, wrong types) is as bad as a torn one.
    if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str) or not isinstance(meta.get("meta", {}), dict):
        return None
    # The entry names its own key: a file and sidecar moved (or swapped) under another entry's name
    # are not that entry, even though their checksum agrees.
    if key is not None and meta.get("key") != key:
        return None
    return meta if meta["sha256"] == file_sha256(path) else None


def _discard(path: Path, reason: str) -> None:
    warnings.warn(f"cache file {path} is {reason}; rebuilding it", stacklevel=3)
    for stale in (path, _sidecar(path)):
        stale.unlink(missing_ok=True)


def cached_artifact(
    kind: str,
    name: str,
    parts: dict[str, Any],
    build: Callable[[Path], dict | None],
    *,
    suffix: str = ".pt",
    frameworks: tuple[str, ...] = ("torch",),
    load: Callable[[Path], Any] | None = None,
) -> CacheEntry:
    """Return the cached artifact for ``parts``, building it with ``build(temporary_path)`` if needed.

    ``build`` writes the artifact to the path it is given and may return JSON-serialisable metadata
    (a training history, say), which is stored in the sidecar and returned on later cache hits.
    ``load``, if given, is tried on a cache hit; if it raises, the file counts as corrupt.
    """
    key = cache_key(parts, frameworks)
    try:
        path = cache_dir() / kind / f"{name}-{key}{suffix}"
        entry = _cached_entry(path, load, key)
        if entry is not None:
            return entry
        lock = _entry_lock(path)
        lock.__enter__()
    except Exception as error:  # the cache folder cannot be created, read or locked (read-only, say)
        return _build_uncached(name, suffix, build, error)
    # Two processes (sweep workers, say) asking for the same entry: one builds, the other waits and loads.
    try:
        entry = _cached_entry(path, load, key)
        if entry is not None:
            return entry
        try:
            if path.exists() or _sidecar(path).exists():
                _discard(path, "incomplete, not the entry of its key, or does not match its checksum")
            with atomic_path(path) as temporary:
                built_meta = build(temporary) or {}
        except Exception as error:
            if _writable(path.parent):
                raise  # the build itself failed: that is the run's error, not the cache's
            return _build_uncached(name, suffix, build, error)
        sidecar = {
            "key": key,
            "sha256": file_sha256(path),
            "parts": parts,
            "versions": library_versions(frameworks),
            "argv": sys.argv[:1],
            "meta": built_meta,
        }
        try:
            atomic_write_text(_sidecar(path), json.dumps(sidecar, indent=2, default=str))
        except Exception as error:  # an artifact without its sidecar is no entry: move it out of the cache
            _warn_uncached(name, error)
            private = _private_folder() / path.name
            try:
                shutil.move(path, private)
            except Exception:
                path.unlink(missing_ok=True)
            return CacheEntry(private, built_meta, from_cache=False)
        return CacheEntry(path, built_meta, from_cache=False)
    finally:
        lock.__exit__(None, None, None)


def _writable(folder: Path, size: int = 1 << 16) -> bool:
    """Whether ``size`` bytes can be written into ``folder`` just now."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".advlab-probe-") as probe:
            probe.write(b"\0" * size)
            probe.flush()
            os.fsync(probe.fileno())
        return True
    except Exception:
        return False


def _warn_uncached(name: str, error: BaseException) -> None:
    reason = getattr(error, "strerror", None) or " ".join(f"{type(error).__name__}: {error}".split())[:200]
    warnings.warn(f"model cache: could not store {name} ({reason}); continuing without caching it", stacklevel=4)


def _private_folder() -> Path:
    """A temporary folder of this process for artifacts the cache could not take; removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="advlab-uncached-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _build_uncached(name: str, suffix: str, build: Callable[[Path], dict | None], error: BaseException) -> CacheEntry:
    """Build into a private temporary folder (removed at exit) when the cache cannot be written."""
    _warn_uncached(name, error)
    path = _private_folder() / f"{name}{suffix}"
    meta = build(path) or {}
    return CacheEntry(path, meta, from_cache=False)


def _cached_entry(path: Path, load: Callable[[Path], Any] | None, key: str | None = None) -> CacheEntry | None:
    """The valid entry at ``path`` (loaded with ``load`` when given), or None; a corrupt one is discarded."""
    meta = _valid(path, key)
    if meta is not None and load is not None:
        try:
            load(path)
        except Exception as error:  # any failure to load means the bytes are not usable
            _discard(path, f"unreadable ({type(error).__name__}: {error})")
            meta = None
    return CacheEntry(path, meta.get("meta", {}), from_cache=True) if meta is not None else None


@contextlib.contextmanager
def _entry_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<entry>.lock`` (POSIX ``flock``; a no-op where there is none).

    The lock dies with its process, so a killed builder never blocks the next one.
    """
    try:
        import fcntl
    except ImportError:  # Windows: writes stay atomic, a concurrent duplicate build is possible
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_torch_model(
    name: str,
    model,
    train: Callable[[Any], dict | None],
    parts: dict[str, Any],
) -> CacheEntry:
    """Train ``model`` with ``train(model)`` or load its cached weights; the model is updated in place.

    ``parts`` must name everything that determines the weights (architecture, data, hyperparameters,
    seed). The weights are saved as a state_dict and loaded with ``weights_only=True``.
    ``train`` may return metadata (e.g. the training history) that later cache hits give back.
    """
    import torch

    trained: dict[str, Any] = {}

    def build(temporary: Path) -> dict | None:
        if "meta" not in trained:  # trained once: a retry into an uncached folder only saves
            trained["meta"] = train(model)
        try:
            torch.save(model.state_dict(), temporary)
        except Exception as error:  # torch reports a full disk as a RuntimeError of its own
            raise OSError(f"saving the weights failed: {' '.join(str(error).split())[:200]}") from error
        return trained["meta"]

    def load(path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)

    # The module's repr lists every layer and its shape, so editing an architecture retrains it.
    parts = {"architecture": type(model).__name__, "layers": repr(model), **parts}
    try:
        return cached_artifact("models", name, parts, build, suffix=".pt", load=load)
    except Exception as error:
        if "meta" not in trained:  # the failure came before or during training: that is the run's error
            raise
        # Not even a private temporary folder could take the weights: the model is trained in memory.
        _warn_uncached(name, error)
        return CacheEntry(Path(f"{name}-uncached.pt"), trained["meta"] or {}, from_cache=False)
