"""Downloads against a local HTTP server: checksums, atomic files, offline errors, and each loader's
download path (MNIST, CIFAR-10, histology, imagewoof5) with small stand-in archives."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import pickle
import socket
import tarfile
import threading
import time
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import helpers.data.cifar10 as cifar10
import helpers.data.histology as histology
import helpers.data.photos as photos
from helpers.data import (
    CIFAR10_CLASSES,
    IMAGEWOOF5_BREEDS,
    ChecksumError,
    DataMissingError,
    RemoteFile,
    fetch,
    imagewoof5_path,
    load_cifar10,
    load_histology,
    load_mnist,
    load_photo_folder,
)


class _Handler(http.server.SimpleHTTPRequestHandler):
    probe = None  # called half-way through a /slow/ download, while the client is still receiving

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        if self.path.startswith("/slow/"):  # 200 kB in two halves, with a look at the client's disk between
            self.send_response(200)
            self.send_header("Content-Length", str(200_000))
            self.end_headers()
            try:
                self.wfile.write(b"y" * 100_000)
                self.wfile.flush()
                time.sleep(0.2)
                type(self).probe()
                self.wfile.write(b"y" * 100_000)
            except (BrokenPipeError, ConnectionResetError):
                pass  # torchvision's first request only looks for redirects and hangs up
            return
        if self.path.startswith("/cut/"):  # announces 10,000 bytes, sends 100, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "10000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(folder served, base URL) of an HTTP server on 127.0.0.1 for this test."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part") or "extracting" in p.name)


def test_fetch_verifies_and_extracts(server, tmp_path):
    served, url = server
    with zipfile.ZipFile(served / "tiles.zip", "w") as archive:
        archive.writestr("tiles/a.txt", "hello")
        archive.writestr("__MACOSX/tiles/._a.txt", "junk")
    sha = hashlib.sha256((served / "tiles.zip").read_bytes()).hexdigest()
    remote = RemoteFile(f"{url}/tiles.zip", "tiles.zip", md5=_md5(served / "tiles.zip"), sha256=sha)
    path = fetch(remote, tmp_path / "data", dataset="Tiles", how_to_get="-", extract_to=tmp_path / "data")
    assert path == tmp_path / "data" / "tiles.zip" and path.read_bytes() == (served / "tiles.zip").read_bytes()
    assert (tmp_path / "data" / "tiles" / "a.txt").read_text() == "hello"
    assert not (tmp_path / "data" / "__MACOSX").exists() and _leftovers(tmp_path / "data") == []
    # a verified copy is reused without the network ...
    (served / "tiles.zip").unlink()
    assert fetch(remote, tmp_path / "data", dataset="Tiles", how_to_get="-") == path
    # ... and a damaged one is fetched again (here: fails, because the server no longer has it)
    path.write_bytes(b"damaged")
    with pytest.raises(DataMissingError):
        fetch(remote, tmp_path / "data", dataset="Tiles", how_to_get="-")
    assert not path.exists()


@pytest.mark.parametrize("wrong", [{"md5": "0" * 32}, {"sha256": "0" * 64}, {"size": 1}])
def test_checksum_mismatch_leaves_nothing_under_the_final_name(server, tmp_path, wrong):
    served, url = server
    (served / "file.bin").write_bytes(b"payload")
    with pytest.raises(ChecksumError, match="file.bin"):
        fetch(RemoteFile(f"{url}/file.bin", "file.bin", **wrong), tmp_path, dataset="X", how_to_get="-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def test_offline_or_cut_off_download_is_data_missing(server, tmp_path):
    served, url = server
    target = tmp_path / "data"
    dead = RemoteFile(f"http://127.0.0.1:{_closed_port()}/big.zip", "big.zip", md5="0" * 32)
    with pytest.raises(DataMissingError) as info:
        fetch(dead, target, dataset="Big set", how_to_get="Ask a colleague for a copy.")
    message = str(info.value)
    assert "Big set" in message and str(target / "big.zip") in message
    assert dead.url in message and "Ask a colleague" in message
    with pytest.raises(DataMissingError, match="stopped after 100 of 10000 bytes"):
        fetch(RemoteFile(f"{url}/cut/big.zip", "big.zip", size=10000), target, dataset="Big set", how_to_get="-")
    assert list(target.iterdir()) == []  # neither big.zip nor big.zip.part


def test_download_in_progress_is_never_under_the_final_name(server, tmp_path, monkeypatch):
    _, url = server
    seen = []
    look = staticmethod(lambda: seen.append(sorted(p.name for p in tmp_path.glob("big*"))))
    monkeypatch.setattr(_Handler, "probe", look)
    remote = RemoteFile(f"{url}/slow/big.bin", "big.bin", sha256=hashlib.sha256(b"y" * 200_000).hexdigest())
    path = fetch(remote, tmp_path, dataset="Big", how_to_get="-")
    assert ["big.bin.part"] in seen and not any("big.bin" in names for names in seen)  # mid-way: only .part
    assert path.stat().st_size == 200_000 and sorted(p.name for p in tmp_path.glob("big*")) == ["big.bin"]


def _idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as a gzipped IDX file, the MNIST format."""
    header = np.array([0x0800 | array.ndim, *array.shape], dtype=">i4")  # magic: uint8, ndim
    with gzip.open(path, "wb") as handle:
        handle.write(header.tobytes() + array.astype(np.uint8).tobytes())


def test_mnist_download_path(server, tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    served, url = server
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (40, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(40) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(20) % 10,
    }
    for name, array in arrays.items():
        _idx(served / name, array)
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{_closed_port()}/", f"{url}/"])  # first one is down
    monkeypatch.setattr(MNIST, "resources", [(name, _md5(served / name)) for name in arrays])
    data = load_mnist(train_size=20, root=tmp_path / "data")
    assert data.x_train.shape == (20, 1, 28, 28) and len(data.x_test) == 20
    assert set(data.class_counts().values()) == {2}
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert (raw / "t10k-labels-idx1-ubyte").is_file() and _leftovers(raw) == []
    full = load_mnist(root=tmp_path / "data", download=False)
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte.gz"].astype(np.uint8))
    assert torch.equal((full.x_train[:, 0] * 255).round().to(torch.uint8), expected)


def test_cifar10_download_path(server, tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    served, url = server
    build = tmp_path / "build" / "cifar-10-batches-py"
    build.mkdir(parents=True)
    labels = (np.arange(30) % 10).tolist()
    pixels = np.repeat(np.asarray(labels, dtype=np.uint8)[:, None] * 20, 3072, axis=1)
    md5 = {}
    for name, n in (("data_batch_1", 30), ("test_batch", 20)):
        with open(build / name, "wb") as handle:
            pickle.dump({"data": pixels[:n], "labels": labels[:n]}, handle)
        md5[name] = _md5(build / name)
    with open(build / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": CIFAR10_CLASSES}, handle)
    with tarfile.open(served / "cifar.tar.gz", "w:gz") as archive:
        archive.add(build, arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10, "url", f"{url}/cifar.tar.gz")
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(served / "cifar.tar.gz"))
    monkeypatch.setattr(cifar10, "_CIFAR10_ARCHIVE_SIZE", (served / "cifar.tar.gz").stat().st_size)
    monkeypatch.setattr(CIFAR10, "train_list", [["data_batch_1", md5["data_batch_1"]]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    meta = {"filename": "batches.meta", "key": "label_names", "md5": _md5(build / "batches.meta")}
    monkeypatch.setattr(CIFAR10, "meta", meta)
    data = load_cifar10(train_size=10, root=tmp_path / "data")
    assert data.name == "CIFAR-10 (torchvision)" and data.x_train.shape == (10, 3, 32, 32) and len(data.x_test) == 20
    assert torch.allclose(data.x_train[:, :, 0, 0].mul(255).round(), (data.y_train * 20).float()[:, None].expand(10, 3))
    assert (tmp_path / "data" / CIFAR10.filename).is_file() and _leftovers(tmp_path / "data") == []


def test_histology_download_path(server, tmp_path, monkeypatch):
    served, url = server
    with zipfile.ZipFile(served / "kather.zip", "w") as archive:
        for k, name in enumerate(histology.KATHER2016_GROUPS):
            for i in range(3):
                tile = tmp_path / f"{name}_{i}.tif"
                Image.new("RGB", (150, 150), (30 * k, 100, 100)).save(tile)
                archive.write(tile, f"Kather_texture_2016_image_tiles_5000/{name}/{i}.tif")
    spec = histology.SOURCES["kather2016"]
    archive = RemoteFile(f"{url}/kather.zip", spec.archive.filename, md5=_md5(served / "kather.zip"))
    monkeypatch.setitem(histology.SOURCES, "kather2016", histology._Source(**{**spec.__dict__, "archive": archive}))
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path / "data"))
    tiles = load_histology("kather2016", image_size=32)
    assert len(tiles.x_train) + len(tiles.x_test) == 24
    assert str(tmp_path / "data" / "Kather_texture_2016_image_tiles_5000") in tiles.name
    assert tiles.x_train.shape[1:] == (3, 32, 32)
    assert (tmp_path / "data" / "Kather_texture_2016_image_tiles_5000").is_dir()
    assert _leftovers(tmp_path / "data") == []


def test_imagewoof5_is_built_from_the_imagewoof_archive(server, tmp_path, monkeypatch):
    served, url = server
    with tarfile.open(served / "woof.tgz", "w:gz") as archive:
        for synset in [*IMAGEWOOF5_BREEDS, "n02086240"]:  # the last one (Shih-Tzu) is not in the subset
            for split, count in (("train", 3), ("val", 2)):
                for i in range(count):
                    photo = tmp_path / "photo.JPEG"
                    Image.new("RGB", (320, 240), (i * 40, 90, 90)).save(photo)
                    archive.add(photo, f"imagewoof2-320/{split}/{synset}/{synset}_{i}.JPEG")
    monkeypatch.setattr(photos, "_IMAGEWOOF_URL", f"{url}/woof.tgz")
    monkeypatch.setattr(photos, "_IMAGEWOOF_SHA256", hashlib.sha256((served / "woof.tgz").read_bytes()).hexdigest())
    monkeypatch.setattr(photos, "_IMAGEWOOF_SIZE", (served / "woof.tgz").stat().st_size)
    monkeypatch.setenv("ADVLAB_DATA", str(tmp_path / "data"))
    root = imagewoof5_path()
    assert root == tmp_path / "data" / "imagewoof5"
    loaded = load_photo_folder(root, image_size=32)
    assert sorted(loaded.classes) == sorted(IMAGEWOOF5_BREEDS.values())
    assert set(loaded.class_counts().values()) == {5}  # train and val photos, same names kept apart
    assert _leftovers(tmp_path / "data") == [] and not list((tmp_path / "data").glob(".imagewoof5*"))
    assert imagewoof5_path(download=False) == root
