import json

import pytest
import torch

from helpers import cache
from helpers.models import SmallCNN


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return SmallCNN(channels=1, classes=3, width=4, image_size=8)


def counting_trainer(calls):
    def train(model):
        calls.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        return {"history": [{"epoch": 1, "loss": 0.5}]}

    return train


def test_second_call_loads_from_cache_with_same_weights_and_meta():
    calls = []
    first_model = tiny_model()
    first = cache.cached_torch_model("tiny", first_model, counting_trainer(calls), {"epochs": 1})
    second_model = tiny_model(seed=1)
    second = cache.cached_torch_model("tiny", second_model, counting_trainer(calls), {"epochs": 1})
    assert len(calls) == 1 and not first.from_cache and second.from_cache
    assert second.meta == {"history": [{"epoch": 1, "loss": 0.5}]}
    for a, b in zip(first_model.state_dict().values(), second_model.state_dict().values()):
        assert torch.equal(a, b)


def test_key_changes_with_parts_and_versions(monkeypatch):
    assert cache.cache_key({"epochs": 1}) == cache.cache_key({"epochs": 1})
    assert cache.cache_key({"epochs": 1}) != cache.cache_key({"epochs": 2})
    key = cache.cache_key({"epochs": 1})
    monkeypatch.setattr(cache, "library_versions", lambda frameworks=("torch",): {"torch": "0.0"})
    assert cache.cache_key({"epochs": 1}) != key


def test_interrupted_build_leaves_nothing_behind():
    def crashing_build(path):
        path.write_bytes(b"half a model")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached_artifact("models", "crash", {"a": 1}, crashing_build)
    folder = cache.cache_dir() / "models"
    assert [p for p in folder.iterdir() if p.suffix != ".lock"] == []
    # The next call builds normally.
    entry = cache.cached_artifact("models", "crash", {"a": 1}, lambda p: p.write_bytes(b"ok") and None)
    assert entry.path.read_bytes() == b"ok" and not entry.from_cache


@pytest.mark.parametrize("damage", ["truncate", "garbage", "drop_sidecar", "bad_sidecar", "list_sidecar",
                                    "null_sidecar", "wrong_types"])
def test_corrupt_cache_file_is_detected_and_rebuilt(damage):
    calls = []
    model = tiny_model()
    entry = cache.cached_torch_model("tiny", model, counting_trainer(calls), {"epochs": 1})
    sidecar = entry.path.with_name(entry.path.name + ".json")
    if damage == "truncate":
        entry.path.write_bytes(entry.path.read_bytes()[:100])
    elif damage == "garbage":
        entry.path.write_bytes(b"\x00" * entry.path.stat().st_size)
    elif damage == "drop_sidecar":
        sidecar.unlink()
    elif damage == "list_sidecar":
        sidecar.write_text("[1, 2, 3]")
    elif damage == "null_sidecar":
        sidecar.write_text("null")
    elif damage == "wrong_types":
        sidecar.write_text(json.dumps({"sha256": 12, "meta": [1]}))
    else:
        sidecar.write_text("{not json")
    with pytest.warns(UserWarning, match="rebuilding"):
        again = cache.cached_torch_model("tiny", tiny_model(), counting_trainer(calls), {"epochs": 1})
    assert len(calls) == 2 and not again.from_cache
    assert json.loads(sidecar.read_text())["sha256"] == cache.file_sha256(again.path)


def test_unloadable_file_with_matching_checksum_is_rebuilt():
    calls = []
    entry = cache.cached_torch_model("tiny", tiny_model(), counting_trainer(calls), {"epochs": 1})
    # A state_dict of another architecture: the bytes match the sidecar but loading fails.
    torch.save({"unexpected": torch.zeros(1)}, entry.path)
    sidecar = entry.path.with_name(entry.path.name + ".json")
    meta = json.loads(sidecar.read_text())
    meta["sha256"] = cache.file_sha256(entry.path)
    sidecar.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="unreadable"):
        cache.cached_torch_model("tiny", tiny_model(), counting_trainer(calls), {"epochs": 1})
    assert len(calls) == 2


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with cache.atomic_path(target) as temporary:
            temporary.write_text("new, half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_fit_or_load_trains_once_then_loads_the_same_weights():
    from types import SimpleNamespace

    from helpers.training import fit_or_load

    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 3, (32,))
    data = SimpleNamespace(name="toy", x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    first = tiny_model()
    history, from_cache = fit_or_load("toy", first, data, epochs=2, batch_size=8, learning_rate=0.01, seed=0)
    assert not from_cache and [h["epoch"] for h in history] == [1, 2] and "val_accuracy" in history[-1]
    second = tiny_model(seed=3)
    again, from_cache = fit_or_load("toy", second, data, epochs=2, batch_size=8, learning_rate=0.01, seed=0)
    assert from_cache and again == history
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    _, from_cache = fit_or_load("toy", tiny_model(), data, epochs=1, batch_size=8, learning_rate=0.01, seed=0)
    assert not from_cache  # another setting, another model


def test_a_cache_that_cannot_be_written_leaves_no_entry_and_the_run_goes_on(tmp_path, monkeypatch):
    """A read-only cache folder (as a full disk would): one warning, the model is trained, nothing is left."""
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = cache.cache_dir() / "models"
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    try:
        calls = []
        model = tiny_model()
        with pytest.warns(UserWarning, match="could not store tiny"):
            entry = cache.cached_torch_model("tiny", model, counting_trainer(calls), {"epochs": 1})
        assert calls == [1] and not entry.from_cache and list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_failing_sidecar_write_removes_the_artifact(monkeypatch):
    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "atomic_write_text", full_disk)
    calls = []
    with pytest.warns(UserWarning, match="No space left on device"):
        entry = cache.cached_torch_model("tiny", tiny_model(), counting_trainer(calls), {"epochs": 1})
    assert calls == [1] and not entry.from_cache
    assert [p for p in (cache.cache_dir() / "models").iterdir() if p.suffix != ".lock"] == []


CONCURRENT_WRITER = """
import sys, time, torch
from helpers import cache
from helpers.models import SmallCNN

torch.manual_seed(0)
model = SmallCNN(channels=1, classes=3, width=4, image_size=8)

def train(m):
    time.sleep(1.0)  # long enough for the other process to arrive while this one trains
    with torch.no_grad():
        for p in m.parameters():
            p.add_(float(sys.argv[1]))  # different weights per process: a torn entry would show
    return {"trained_by": sys.argv[1]}

entry = cache.cached_torch_model("shared", model, train, {"epochs": 1})
print(entry.from_cache, entry.meta["trained_by"])
"""


def test_two_processes_training_the_same_model_end_with_one_valid_entry(tmp_path):
    """Sweep workers sharing a cache: one trains, the other waits and loads; the entry is whole."""
    import os
    import subprocess
    import sys

    script = tmp_path / "writer.py"
    script.write_text(CONCURRENT_WRITER)
    env = {**os.environ, "ADVLAB_CACHE": str(cache.cache_dir())}
    writers = [subprocess.Popen([sys.executable, str(script), str(i)], env=env, stdout=subprocess.PIPE, text=True)
               for i in (1, 2)]
    outputs = sorted(w.communicate(timeout=120)[0].split() for w in writers)
    assert [w.returncode for w in writers] == [0, 0]
    built = [o for o in outputs if o[0] == "False"]
    loaded = [o for o in outputs if o[0] == "True"]
    assert len(built) == 1 and len(loaded) == 1 and loaded[0][1] == built[0][1]  # the loader got the builder's entry
    entries = [p for p in (cache.cache_dir() / "models").iterdir() if p.suffix == ".pt"]
    assert len(entries) == 1
    sidecar = json.loads(entries[0].with_name(entries[0].name + ".json").read_text())
    assert sidecar["sha256"] == cache.file_sha256(entries[0])
