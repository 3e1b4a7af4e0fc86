"""The Flickr photo-set builder, through the real flickrapi code path, against a local server.

The server (127.0.0.1 only, no network) answers like Flickr's REST API: ``flickr.photos.search`` as JSON
with pagination, and the image files, made from the one-photo-per-class ``flickr5`` set. It serves a
corrupt file, a duplicate (same bytes, another id) and a photo under a license that forbids reuse, and
records every request it gets, so the tests can check what flickrapi sent.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from PIL import Image, ImageOps

from helpers.studies.flickr_transfer_attacks import flickr_builder, study
from helpers.studies.flickr_transfer_attacks.flickr_builder import (
    KEY_ENV,
    MANIFEST_FIELDS,
    REUSE_LICENSES,
    SECRET_ENV,
    FlickrCredentials,
    FlickrCredentialsMissing,
    FlickrSearchError,
    build_photo_set,
)
from helpers.paths import data_root

KEY = "k3yTESTabcdef0123456789"
SECRET = "s3cr3tTESTfedcba"


def _variants(source: Path, count: int) -> list[bytes]:
    """``count`` visibly different JPEGs (distinct bytes) made from one photo."""
    with Image.open(source) as image:
        image = image.convert("RGB")
    out = []
    for index in range(count):
        variant = ImageOps.mirror(image) if index % 2 else image
        variant = variant.rotate(7 * index, expand=False).crop((index, index, variant.width - index, variant.height - index))
        buffer = io.BytesIO()
        variant.save(buffer, format="JPEG", quality=80 + index % 10)
        out.append(buffer.getvalue())
    return out


class FakeFlickr:
    """Search results and image files, served like Flickr's REST API and static photo hosts."""

    def __init__(self, flickr5: Path):
        self.requests: list[dict] = []
        self.images: dict[str, bytes] = {}
        ambulance = _variants(next((flickr5 / "ambulance").iterdir()), 4)
        bus = _variants(next((flickr5 / "school_bus").iterdir()), 2)
        self.images.update({f"a{i}": data for i, data in enumerate(ambulance)})
        self.images.update({f"b{i}": data for i, data in enumerate(bus)})
        self.images["corrupt"] = ambulance[1][:300]  # a truncated JPEG: the header reads, the pixels do not
        self.images["garbage"] = b"<html>not an image</html>"
        self.images["dup"] = ambulance[0]  # the same bytes as a0 under another photo id
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        # Relevance order as Flickr would return it; each entry: (photo id, license, image name or None).
        self.results = {
            "ambulance": [("101", 4, "a0"), ("102", 4, "corrupt"), ("103", 5, "dup"),
                          ("104", 0, "a1"), ("105", 9, "a2"), ("106", 2, "garbage"), ("107", 1, "a3")],
            "school bus": [("201", 10, "b0"), ("202", 6, "b1"), ("203", 4, None), ("204", 7, "b1")],
        }

    def _photo(self, photo_id: str, license_id: int, image: str | None) -> dict:
        photo = {"id": photo_id, "owner": f"owner{photo_id}@N00", "secret": "abc", "server": "1", "farm": 1,
                 "title": f"photo {photo_id}", "ispublic": 1, "license": str(license_id), "ownername": f"Owner {photo_id}"}
        if image is not None:
            photo["url_z"] = f"{self.base}/img/{image}.jpg"
        return photo

    def search(self, params: dict) -> tuple[int, bytes]:
        text = params.get("text", "")
        if text == "boom":  # a server error whose body echoes the request's credentials
            return 500, f"oauth_consumer_key={KEY}&secret={SECRET}".encode()
        entries = self.results.get(text, [])
        per_page, page = int(params.get("per_page", 100)), int(params.get("page", 1))
        pages = max(1, -(-len(entries) // per_page))
        chosen = entries[(page - 1) * per_page: page * per_page]
        body = {"photos": {"page": page, "pages": pages, "perpage": per_page, "total": len(entries),
                           "photo": [self._photo(*entry) for entry in chosen]}, "stat": "ok"}
        return 200, json.dumps(body).encode()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                params = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append({"path": self.path, "params": params, "authorization": self.headers.get("Authorization", "")})
                if self.path != "/services/rest/" or params.get("method") != "flickr.photos.search":
                    return self._send(200, json.dumps({"stat": "fail", "code": 112, "message": "Method not found"}).encode(), "application/json")
                status, body = fake.search(params)
                self._send(status, body, "application/json" if status == 200 else "text/plain")

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1].removesuffix(".jpg")
                if self.path.startswith("/img/") and name in fake.images:
                    return self._send(200, fake.images[name], "image/jpeg")
                self._send(404, b"not found", "text/plain")

        return Handler

    @property
    def rest_url(self) -> str:
        return f"{self.base}/services/rest/"

    def searches(self, text: str) -> list[dict]:
        return [r["params"] for r in self.requests if r["params"].get("text") == text]


@pytest.fixture
def fake_flickr():
    flickr5 = data_root() / "flickr5"
    if not flickr5.is_dir():
        pytest.skip("flickr5 not under ADVLAB_DATA")
    fake = FakeFlickr(flickr5)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def credentials_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(SECRET_ENV, SECRET)


def _manifest(root: Path) -> list[dict]:
    with open(root / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_builds_through_flickrapi_with_pagination_and_skips(fake_flickr, credentials_env, tmp_path):
    root = tmp_path / "flickr"
    report = build_photo_set(["ambulance", "school bus"], root, per_class=3, image_size=64, per_page=3, rest_url=fake_flickr.rest_url)

    # ambulance: page 1 = kept, corrupt, duplicate; page 2 = license 0, kept, garbage; page 3 = kept.
    assert [int(p["page"]) for p in fake_flickr.searches("ambulance")] == [1, 2, 3]
    assert report.kept == {"ambulance": 3, "school_bus": 2}  # school bus runs out of usable results
    assert report.skipped == {"corrupt": 2, "duplicate": 1, "license not allowed": 2, "no image URL": 1}
    first = fake_flickr.searches("ambulance")[0]
    assert first["method"] == "flickr.photos.search" and first["sort"] == "relevance"
    assert first["license"] == ",".join(map(str, REUSE_LICENSES)) and first["per_page"] == "3"
    assert "url_z" in first["extras"] and "license" in first["extras"]
    # The real flickrapi path: requests are OAuth-signed with the key (sent to the API, never stored).
    assert f'oauth_consumer_key="{KEY}"' in fake_flickr.requests[0]["authorization"]

    rows = _manifest(root)
    assert list(rows[0]) == list(MANIFEST_FIELDS)
    assert [r["photo_id"] for r in rows] == ["101", "105", "107", "201", "204"]
    assert {r["class"] for r in rows} == {"ambulance", "school_bus"}
    for row in rows:
        assert row["owner"] and row["license_name"] and row["page_url"].endswith(row["photo_id"]) and row["image_url"]
        with Image.open(root / row["file"]) as image:
            assert image.size == (64, 64) and image.mode == "RGB"
    assert len({r["sha256"] for r in rows}) == len(rows)


def test_school_bus_skips_no_derivatives_and_duplicate_ids(fake_flickr, credentials_env, tmp_path):
    report = build_photo_set(["school bus"], tmp_path / "f", per_class=5, image_size=32, per_page=10, rest_url=fake_flickr.rest_url)
    rows = _manifest(tmp_path / "f")
    # 202 is CC BY-ND (license 6, no derivatives: skipped before download), 203 has no URL, so 204 (the
    # same bytes as 202, license 7) is no duplicate of anything kept.
    assert [r["photo_id"] for r in rows] == ["201", "204"]
    assert report.kept == {"school_bus": 2} and report.skipped["license not allowed"] == 1


def test_resumes_from_an_existing_manifest(fake_flickr, credentials_env, tmp_path):
    root = tmp_path / "flickr"
    build_photo_set(["ambulance"], root, per_class=2, image_size=32, per_page=3, rest_url=fake_flickr.rest_url)
    calls = len(fake_flickr.requests)
    again = build_photo_set(["ambulance"], root, per_class=2, image_size=32, per_page=3, rest_url=fake_flickr.rest_url)
    assert len(fake_flickr.requests) == calls and again.resumed == 2 and again.kept == {"ambulance": 2}


def test_missing_key_stops_before_anything_is_written(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with pytest.raises(FlickrCredentialsMissing, match=KEY_ENV) as caught:
        build_photo_set(["ambulance"], tmp_path / "f", per_class=1)
    assert SECRET not in str(caught.value)
    assert not (tmp_path / "f").exists()
    assert not flickr_builder.have_credentials()


def test_without_key_the_study_uses_the_photo_folder(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    if not (data_root() / "imagewoof5").is_dir():
        pytest.skip("imagewoof5 not under ADVLAB_DATA")
    source = study.choose_photo_source({"use_flickr": True, "photo_folder": "imagewoof5"})
    assert source.kind == "folder" and source.path.name == "imagewoof5" and KEY_ENV in source.description


def test_study_builds_from_flickr_when_the_key_is_set(fake_flickr, credentials_env, tmp_path):
    params = {"use_flickr": True, "flickr_classes": ["ambulance", "school bus"], "flickr_dir": str(tmp_path / "set"),
              "photos_per_class": 2, "image_size": 32, "flickr_licenses": list(REUSE_LICENSES), "photo_folder": "imagewoof5"}
    source = study.choose_photo_source(params, rest_url=fake_flickr.rest_url)
    assert source.kind == "flickr" and sorted(p.name for p in source.path.iterdir() if p.is_dir()) == ["ambulance", "school_bus"]


def test_credentials_never_reach_files_logs_or_output(fake_flickr, credentials_env, tmp_path, capsys):
    log_text = io.StringIO()
    handler = logging.StreamHandler(log_text)
    handler.setLevel(logging.DEBUG)
    root_logger = logging.getLogger()
    old_level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    try:
        root = tmp_path / "flickr"
        report = build_photo_set(["ambulance", "school bus"], root, per_class=3, image_size=32, per_page=3, rest_url=fake_flickr.rest_url)
        print(report.describe(), repr(report), FlickrCredentials.from_environment())
        # An API error whose body echoes the credentials: flickrapi logs the body, the error names the call.
        with pytest.raises(FlickrSearchError) as caught:
            build_photo_set(["boom"], tmp_path / "boom", per_class=1, rest_url=fake_flickr.rest_url)
        print(caught.value)
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(old_level)
    captured = capsys.readouterr()
    assert "<hidden>" in log_text.getvalue()  # the echoed body was logged, redacted
    texts = {"log": log_text.getvalue(), "stdout": captured.out, "stderr": captured.err, "error": str(caught.value)}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("latin-1")
    for where, text in texts.items():
        assert KEY not in text and SECRET not in text, f"a credential leaked into {where}"
    assert len(list(root.rglob("*.jpg"))) == 5


def test_a_build_failing_on_its_first_search_leaves_the_data_root_untouched(fake_flickr, credentials_env, tmp_path):
    """Fault class 7: no empty class folders, no staging folder, a published set stays byte-identical."""
    good = tmp_path / "published"
    build_photo_set(["ambulance"], good, per_class=2, image_size=32, per_page=3, rest_url=fake_flickr.rest_url)
    before = {p.relative_to(good): p.read_bytes() for p in good.rglob("*") if p.is_file()}
    with pytest.raises(FlickrSearchError):
        build_photo_set(["boom"], tmp_path / "fresh", per_class=1, rest_url=fake_flickr.rest_url)
    assert not (tmp_path / "fresh").exists() and not (tmp_path / "fresh.partial").exists()
    with pytest.raises(FlickrSearchError):  # topping up a published set with a failing class
        build_photo_set(["ambulance", "boom"], good, per_class=2, rest_url=fake_flickr.rest_url)
    assert {p.relative_to(good): p.read_bytes() for p in good.rglob("*") if p.is_file()} == before
