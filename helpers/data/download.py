"""Checksummed downloads that fail with a how-to-get message instead of a socket traceback.

The transfer itself is torchvision's (``download_url`` and ``extract_archive``, the two halves of
``download_and_extract_archive``). The wrapper adds what the notebooks need around it:

- **No half-written file under a final name.** torchvision streams straight into the target file, so
  an interrupted download would leave a truncated archive that the next run takes for a complete
  one. Here the download goes to ``<name>.part`` and is renamed only after its checksum matched;
  an archive is extracted into a temporary folder beside the destination and its top-level entries
  are moved into place with ``os.replace`` once extraction has finished.
- **Checksums**: md5 through torchvision's ``check_integrity``; sha256 (which torchvision does not
  do) with ``hashlib``; optionally the byte size, which catches a truncated file without hashing.
- **Offline is a normal state**: any network error becomes ``DataMissingError``, whose message names
  the dataset, where it was looked for and how to get it by hand (``helpers.paths``).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets.utils import check_integrity, download_url, extract_archive

from ..paths import DataMissingError

__all__ = ["RemoteFile", "ChecksumError", "fetch", "verify_file", "extract_atomically"]


@dataclass(frozen=True)
class RemoteFile:
    """A file on the web and what it must look like once here.

    At least one of ``md5`` / ``sha256`` should be given; a file with neither is downloaded unchecked
    (the loaders that define one say in a comment why no checksum is known).
    """

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None


class ChecksumError(RuntimeError):
    """A downloaded file does not match its published size or checksum (corrupt or changed upstream)."""


def _sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(
    path: Path | str, *, md5: str | None = None, sha256: str | None = None, size: int | None = None
) -> None:
    """Raise ``ChecksumError`` unless ``path`` has the given size and checksums (None = not checked)."""
    path = Path(path)
    if not path.is_file():
        raise ChecksumError(f"{path} does not exist")
    if size is not None and path.stat().st_size != size:
        raise ChecksumError(f"{path} has {path.stat().st_size} bytes, expected {size}")
    if md5 is not None and not check_integrity(str(path), md5):
        raise ChecksumError(f"{path} does not match md5 {md5}")
    if sha256 is not None and _sha256(path) != sha256.lower():
        raise ChecksumError(f"{path} does not match sha256 {sha256}")


def fetch(
    remote: RemoteFile,
    download_root: Path | str,
    *,
    dataset: str,
    how_to_get: str,
    extract_to: Path | str | None = None,
) -> Path:
    """Make sure ``download_root/remote.filename`` is here and verified; optionally extract it.

    An existing file that passes the checks is reused (no network needed); one that fails them is
    replaced. Returns the path of the downloaded file.

    Raises ``DataMissingError`` (naming ``dataset``, the target path and ``how_to_get``) when the
    download fails for network reasons, and ``ChecksumError`` when it arrives but does not match;
    in both cases nothing is left under the final name.
    """
    download_root = Path(download_root)
    download_root.mkdir(parents=True, exist_ok=True)
    final = download_root / remote.filename
    checks = {"md5": remote.md5, "sha256": remote.sha256, "size": remote.size}

    if final.is_file():
        try:
            verify_file(final, **checks)
        except ChecksumError:
            final.unlink()  # a stale or damaged copy: fetch it again

    if not final.is_file():
        part = final.with_name(final.name + ".part")
        part.unlink(missing_ok=True)  # download_url would accept any leftover .part as complete
        try:
            download_url(remote.url, str(download_root), filename=part.name)
        except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, refused, cut off
            part.unlink(missing_ok=True)
            raise DataMissingError(dataset, final, f"Downloading {remote.url} failed ({err}). {how_to_get}") from err
        except BaseException:  # e.g. KeyboardInterrupt half-way through
            part.unlink(missing_ok=True)
            raise
        received = part.stat().st_size if part.is_file() else 0
        if remote.size is not None and received < remote.size:
            # urllib ends a cut-off stream quietly; the size tells an interruption from a bad file.
            part.unlink(missing_ok=True)
            raise DataMissingError(
                dataset, final, f"Downloading {remote.url} stopped after {received} of {remote.size} bytes; "
                f"try again. {how_to_get}"
            )
        try:
            verify_file(part, **checks)
        except ChecksumError as err:
            part.unlink(missing_ok=True)
            raise ChecksumError(f"download of {remote.url} is corrupt or changed upstream: {err}") from None
        os.replace(part, final)

    if extract_to is not None:
        extract_atomically(final, extract_to)
    return final


def extract_atomically(archive: Path | str, destination: Path | str) -> list[Path]:
    """Extract ``archive`` (zip, tar[.gz], .gz, ...) into ``destination`` without exposing partial output.

    Extraction runs in a hidden temporary folder inside ``destination`` (same file system, so the
    final moves are renames); each top-level entry is then moved into place. Entries that already
    exist at the destination are left as they are. Returns the paths of the moved entries.
    """
    archive, destination = Path(archive), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", suffix=".extracting", dir=destination))
    moved: list[Path] = []
    try:
        extract_archive(str(archive), str(staging))
        for entry in sorted(staging.iterdir()):
            if entry.name == "__MACOSX":  # resource forks that macOS zip tools add
                continue
            target = destination / entry.name
            if not target.exists():
                os.replace(entry, target)
                moved.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return moved
