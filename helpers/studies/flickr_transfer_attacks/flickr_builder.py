"""Build a class-per-folder photo set from Flickr with ``flickrapi``, as the study collected its photos.

For each class a text search (``flickr.photos.search``) in relevance order, restricted to licenses that
allow reuse with modification (the study publishes altered copies), page by page until ``per_class``
photos are kept. Each photo is downloaded, decoded, centre-cropped and resized, and saved as
``<root>/<class>/<photo id>.jpg``; a file that does not decode is skipped as corrupt, one whose bytes
hash (SHA-256) like an already kept photo as a duplicate. ``<root>/manifest.csv`` lists every kept photo
with its id, owner, license and URLs for attribution. An existing manifest is resumed, not rebuilt.

The API key and secret come only from the environment variables ``FLICKR_API_KEY`` and
``FLICKR_API_SECRET``. They are held in an object whose ``repr`` hides them, never returned, printed or
written to a file, and while the builder runs the loggers of flickrapi and its OAuth libraries (which log
the signed request at DEBUG level) are held at WARNING and every handler redacts both values.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from PIL import Image, ImageOps, UnidentifiedImageError

from helpers.cache import atomic_path, atomic_write_text
from helpers.progress import progress_bar

log = logging.getLogger(__name__)

KEY_ENV = "FLICKR_API_KEY"
SECRET_ENV = "FLICKR_API_SECRET"

#: Flickr's license ids (``flickr.photos.licenses.getInfo``).
FLICKR_LICENSES = {
    0: "All Rights Reserved",
    1: "CC BY-NC-SA 2.0",
    2: "CC BY-NC 2.0",
    3: "CC BY-NC-ND 2.0",
    4: "CC BY 2.0",
    5: "CC BY-SA 2.0",
    6: "CC BY-ND 2.0",
    7: "No known copyright restrictions",
    8: "United States Government Work",
    9: "CC0 1.0 (Public Domain Dedication)",
    10: "Public Domain Mark 1.0",
}
#: Licenses that allow reuse *and* modification: no All Rights Reserved, no NoDerivs (the study
#: publishes attacked copies of the photos). The NonCommercial ones restrict the dataset to
#: non-commercial use; pass ``licenses=(4, 5, 7, 8, 9, 10)`` for a set without that restriction.
REUSE_LICENSES = (1, 2, 4, 5, 7, 8, 9, 10)

#: Photo sizes asked for, largest useful first (z: 640 px, c: 800 px, m: 500 px, n: 320 px).
URL_EXTRAS = ("url_z", "url_c", "url_m", "url_n")

MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = (
    "class", "file", "photo_id", "owner", "owner_name", "license", "license_name", "title",
    "page_url", "image_url", "sha256", "search_text", "search_rank",
)
# Transient network and decode failures that skip one photo rather than stopping the build.
_SKIP_ERRORS = (OSError, ValueError)


class FlickrCredentialsMissing(RuntimeError):
    """No Flickr API key or secret in the environment; the message names the variables, never values."""


class FlickrSearchError(RuntimeError):
    """A Flickr API call failed; the message has the credentials redacted."""


@dataclass(frozen=True)
class FlickrCredentials:
    """The API key and secret, read from the environment; ``repr``/``str`` never show them."""

    key: str = field(repr=False)
    secret: str = field(repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "FlickrCredentials":
        environ = os.environ if environ is None else environ
        key, secret = environ.get(KEY_ENV, "").strip(), environ.get(SECRET_ENV, "").strip()
        missing = [name for name, value in ((KEY_ENV, key), (SECRET_ENV, secret)) if not value]
        if missing:
            raise FlickrCredentialsMissing(
                f"no Flickr API credentials: set the environment variable(s) {' and '.join(missing)} "
                "(get a key at https://www.flickr.com/services/apps/create/); the photo set cannot be built from Flickr"
            )
        return cls(key, secret)

    def redact(self, text: str) -> str:
        for value in (self.key, self.secret):
            if value:
                text = text.replace(value, "<hidden>")
        return text

    def __repr__(self) -> str:
        return "FlickrCredentials(<hidden>)"

    __str__ = __repr__


def have_credentials(environ: Mapping[str, str] | None = None) -> bool:
    """True when both ``FLICKR_API_KEY`` and ``FLICKR_API_SECRET`` are set (their values are not read out)."""
    try:
        FlickrCredentials.from_environment(environ)
    except FlickrCredentialsMissing:
        return False
    return True


def class_folder_name(search_text: str) -> str:
    """The folder a search text's photos go to: ``"golden retriever"`` -> ``golden_retriever``."""
    name = "_".join(search_text.split())
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise ValueError(f"cannot use {search_text!r} as a class folder name")
    return name


@dataclass
class BuildReport:
    """What ``build_photo_set`` did: photos per class, skips by reason, API pages read."""

    root: Path
    manifest: Path
    kept: dict[str, int] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    pages: dict[str, int] = field(default_factory=dict)
    resumed: int = 0

    def describe(self) -> str:
        kept = ", ".join(f"{c}={n}" for c, n in self.kept.items())
        skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items())) or "none"
        resumed = f"; {self.resumed} photos reused from an earlier build" if self.resumed else ""
        return f"Flickr photo set at {self.root}: {kept}; skipped: {skipped}{resumed}; manifest {self.manifest.name}"


# --------------------------------------------------------------------------------------------------
# Logging that cannot leak the credentials

_CHATTY_LOGGERS = ("flickrapi", "oauthlib", "requests_oauthlib", "urllib3", "requests")


class _RedactFilter(logging.Filter):
    def __init__(self, credentials: FlickrCredentials):
        super().__init__()
        self.credentials = credentials

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.credentials.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


@contextlib.contextmanager
def _credential_safe_logging(credentials: FlickrCredentials) -> Iterator[None]:
    """Hold the HTTP/OAuth loggers at WARNING and redact the credentials in every handler."""
    levels = {}
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    redact = _RedactFilter(credentials)
    handlers = set(logging.getLogger().handlers)
    if logging.lastResort is not None:  # what prints WARNING records when no handler is configured
        handlers.add(logging.lastResort)
    for name in ("", *_CHATTY_LOGGERS, __name__):
        handlers.update(logging.getLogger(name).handlers)
    for handler in handlers:
        handler.addFilter(redact)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


# --------------------------------------------------------------------------------------------------
# Building


def _resize_jpeg(data: bytes, image_size: int) -> bytes:
    """Decode downloaded bytes, centre-crop to a square, resize and re-encode as JPEG (quality 95)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # truncated files only fail when the pixels are read
        image = ImageOps.exif_transpose(image).convert("RGB")
        image = ImageOps.fit(image, (image_size, image_size), method=Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _read_manifest(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if (path.parent / row["file"]).is_file()]


def _write_manifest(path: Path, rows: Sequence[Mapping]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _photo_url(item: Mapping) -> str | None:
    for extra in URL_EXTRAS:
        if item.get(extra):
            return str(item[extra])
    return None


def _search_pages(flickr, text: str, *, licenses: Sequence[int], per_page: int, credentials: FlickrCredentials) -> Iterator[tuple[int, list[dict]]]:
    """Yield (page number, photos) of a relevance-ordered text search until the last page."""
    page = 1
    while True:
        try:
            response = flickr.photos.search(
                text=text, sort="relevance", license=",".join(str(i) for i in licenses),
                media="photos", content_type=1, safe_search=1,
                extras=",".join(("license", "owner_name", *URL_EXTRAS)),
                per_page=per_page, page=page,
            )
        except Exception as error:  # flickrapi, requests or JSON errors: report without the credentials
            raise FlickrSearchError(credentials.redact(f"Flickr search for {text!r} (page {page}) failed: {error}")) from None
        photos = response.get("photos", {})
        items = list(photos.get("photo", []))
        yield page, items
        if not items or page >= int(photos.get("pages", page)):
            return
        page += 1


def build_photo_set(
    classes: Sequence[str],
    root: Path | str,
    *,
    per_class: int,
    image_size: int = 224,
    licenses: Sequence[int] = REUSE_LICENSES,
    per_page: int = 100,
    credentials: FlickrCredentials | None = None,
    rest_url: str | None = None,
    timeout: float = 30.0,
) -> BuildReport:
    """Search Flickr for each class text and keep ``per_class`` reusable, decodable, distinct photos.

    Args:
        classes: search texts, one per class (``"golden retriever"``); folders get underscores.
        root: where ``<class>/<photo id>.jpg`` and ``manifest.csv`` go; an existing manifest is resumed.
        licenses: Flickr license ids to search for and to accept (checked again on each result).
        credentials: default ``FlickrCredentials.from_environment()``.
        rest_url: another endpoint that answers like Flickr's REST API (tests use a local server).

    Raises ``FlickrCredentialsMissing`` before anything is written when the key or secret is not set,
    and ``FlickrSearchError`` (credentials redacted) when an API call fails.

    The set is built in ``<root>.partial/`` and published as ``root`` only when the build is over, so
    ``root`` is never half-written. A failed build keeps its staging folder for the next call to resume
    from (or removes it when it holds no photo yet), and leaves ``root`` as it was.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    if not classes:
        raise ValueError("no classes to search for")
    unknown = sorted(set(licenses) - set(FLICKR_LICENSES))
    if unknown:
        raise ValueError(f"unknown Flickr license id(s) {unknown}; known: {sorted(FLICKR_LICENSES)}")
    credentials = credentials or FlickrCredentials.from_environment()
    root = Path(root)
    staging = root.with_name(root.name + ".partial")
    if root.exists() and not staging.exists():
        shutil.copytree(root, staging)  # resume from (or top up) the published set
    try:
        report = _build_into(classes, staging, per_class=per_class, image_size=image_size, licenses=licenses,
                             per_page=per_page, credentials=credentials, rest_url=rest_url, timeout=timeout)
    except BaseException:
        if not _read_manifest(staging / MANIFEST_NAME):
            shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(staging, root)
    report.root, report.manifest = root, root / MANIFEST_NAME
    return report


def _publish(staging: Path, root: Path) -> None:
    """Swap the finished staging folder into place; the old set is removed only after the swap."""
    old = root.with_name(root.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        os.replace(root, old)
    os.replace(staging, root)
    shutil.rmtree(old, ignore_errors=True)


def _build_into(
    classes: Sequence[str],
    root: Path,
    *,
    per_class: int,
    image_size: int,
    licenses: Sequence[int],
    per_page: int,
    credentials: FlickrCredentials | None,
    rest_url: str | None,
    timeout: float,
) -> BuildReport:
    import flickrapi
    import requests

    credentials = credentials or FlickrCredentials.from_environment()
    root = Path(root)
    folders = {text: class_folder_name(text) for text in classes}
    manifest_path = root / MANIFEST_NAME
    rows = _read_manifest(manifest_path)
    report = BuildReport(root=root, manifest=manifest_path, resumed=len(rows))
    seen_hashes = {row["sha256"] for row in rows}
    seen_ids = {row["photo_id"] for row in rows}
    allowed = {str(i) for i in licenses}
    session = requests.Session()

    with _credential_safe_logging(credentials):
        flickr = flickrapi.FlickrAPI(credentials.key, credentials.secret, format="parsed-json", store_token=False, cache=False, timeout=timeout)
        if rest_url:
            flickr.REST_URL = rest_url
        bar = progress_bar(total=per_class * len(classes), desc="Flickr photos", unit="photo")
        with bar:
            for text, folder in folders.items():
                kept = sum(row["class"] == folder for row in rows)
                bar.update(min(kept, per_class))
                if kept >= per_class:
                    report.kept[folder] = kept
                    continue
                (root / folder).mkdir(parents=True, exist_ok=True)
                rank = 0
                for page, items in _search_pages(flickr, text, licenses=licenses, per_page=per_page, credentials=credentials):
                    report.pages[folder] = page
                    for item in items:
                        rank += 1
                        photo_id = str(item.get("id", ""))
                        if photo_id in seen_ids:
                            report.skipped["duplicate"] += 1
                            continue
                        if str(item.get("license", "")) not in allowed:
                            report.skipped["license not allowed"] += 1
                            continue
                        url = _photo_url(item)
                        if url is None:
                            report.skipped["no image URL"] += 1
                            continue
                        try:
                            response = session.get(url, timeout=timeout)
                            response.raise_for_status()
                            data = response.content
                        except requests.RequestException:
                            report.skipped["download failed"] += 1
                            continue
                        digest = hashlib.sha256(data).hexdigest()
                        if digest in seen_hashes:
                            report.skipped["duplicate"] += 1
                            continue
                        try:
                            jpeg = _resize_jpeg(data, image_size)
                        except (UnidentifiedImageError, *_SKIP_ERRORS, SyntaxError):
                            report.skipped["corrupt"] += 1
                            continue
                        file = Path(folder) / f"{photo_id}.jpg"
                        with atomic_path(root / file) as temporary:
                            temporary.write_bytes(jpeg)
                        seen_hashes.add(digest)
                        seen_ids.add(photo_id)
                        owner = str(item.get("owner", ""))
                        license_id = int(item.get("license", -1))
                        rows.append({
                            "class": folder, "file": file.as_posix(), "photo_id": photo_id, "owner": owner,
                            "owner_name": item.get("ownername", ""), "license": license_id,
                            "license_name": FLICKR_LICENSES.get(license_id, "unknown"), "title": item.get("title", ""),
                            "page_url": f"https://www.flickr.com/photos/{owner}/{photo_id}", "image_url": url,
                            "sha256": digest, "search_text": text, "search_rank": rank,
                        })
                        kept += 1
                        bar.update(1)
                        if kept >= per_class:
                            break
                    _write_manifest(manifest_path, rows)  # after every page: an interrupted build resumes
                    if kept >= per_class:
                        break
                report.kept[folder] = kept
                if kept < per_class:
                    log.warning("Flickr search %r gave only %d usable photos of %d asked for", text, kept, per_class)
    _write_manifest(manifest_path, rows)
    return report
