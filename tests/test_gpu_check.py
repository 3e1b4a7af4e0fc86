"""``advlab gpu-check`` on a machine without a GPU: its no-GPU path, its orchestration with the GPU parts
replaced by fakes, and its report writer. What it measures on a real GPU is not tested here."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.runner import gpu_check

FAKE_SMI = [{"name": "NVIDIA H100 80GB HBM3", "driver": "580.65", "memory": "81559 MiB"}]
FAKE_TORCH = {"version": "2.13.0", "cuda_build": "13.0", "cuda_available": True, "devices": ["NVIDIA H100 80GB HBM3"],
              "cudnn": 92000}
FAKE_TF = {"python": "/x/.venv-tf/bin/python", "version": "2.21.0", "cuda_build": "12.5.1", "cudnn_build": "9",
           "gpus": ["/physical_device:GPU:0"], "device": "GPU (1)"}


def fake_result(**changes):
    result = {
        "host": "gpu-box", "started_at": "2026-12-01T10:00:00", "finished_at": "2026-12-01T10:06:00", "wall_seconds": 360.0,
        "nvidia_smi": FAKE_SMI, "torch": FAKE_TORCH, "tensorflow": FAKE_TF, "errors": [], "notes": [],
        "studies": [
            {"study": "quickstart", "status": "ok", "device": "cuda (NVIDIA H100 80GB HBM3)", "wall_seconds": 21.5,
             "headline": [("clean accuracy", 0.9612, "")], "note": ""},
            {"study": "flickr_transfer_attacks", "status": "ok", "device": "GPU (1)", "wall_seconds": 44.0, "headline": [],
             "note": ""},
        ],
        "benchmarks": [{"benchmark": "PGD-40, quickstart CNN", "images_per_second": 4045.0, "torchattacks": 4100.0,
                        "bare": 4200.0, "cpu_reference": 80.9, "gpu_cpu_ratio": 50.0}],
    }
    result.update(changes)
    return result


def test_without_a_gpu_it_says_so_in_one_line_and_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(gpu_check, "torch_info", lambda: {"version": "2.13.0", "cuda_build": None, "cuda_available": False})
    monkeypatch.setattr(gpu_check, "nvidia_smi", lambda: [])
    assert gpu_check.main(["--reports", str(tmp_path / "out")]) == gpu_check.NO_GPU_EXIT
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "no CUDA GPU" in err
    assert not (tmp_path / "out").exists()


def test_the_command_itself_exits_2_on_this_cpu_machine():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU; the no-GPU path is covered with fakes above")
    done = subprocess.run([sys.executable, "-m", "helpers.runner.cli", "gpu-check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_a_gpu_torch_cannot_see_is_named():
    line = gpu_check.no_gpu_line(False, FAKE_SMI)
    assert "NVIDIA H100" in line and "torch sees no CUDA device" in line
    assert gpu_check.no_gpu_line(True, FAKE_SMI) is None


def test_nvidia_smi_output_is_parsed(monkeypatch):
    monkeypatch.setattr(gpu_check.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    fake = lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout="NVIDIA A100-SXM4-40GB, 550.54.15, 40960 MiB\n", stderr="")
    assert gpu_check.nvidia_smi(run=fake) == [{"name": "NVIDIA A100-SXM4-40GB", "driver": "550.54.15", "memory": "40960 MiB"}]
    monkeypatch.setattr(gpu_check.shutil, "which", lambda name: None)
    assert gpu_check.nvidia_smi(run=fake) == []


def test_report_writer_states_what_ran_where(tmp_path):
    json_path, md_path = gpu_check.write_report(fake_result(), tmp_path / "gpu-check")
    record = json.loads(json_path.read_text())
    assert record["passed"] is True
    text = md_path.read_text()
    assert "NVIDIA H100 80GB HBM3, driver 580.65" in text
    assert "TensorFlow 2.21.0" in text and "GPU (1)" in text
    assert "| `quickstart` | ok | cuda (NVIDIA H100 80GB HBM3) | 21.5 s |" in text
    assert "| PGD-40, quickstart CNN | 4,045.0 | 4,100.0 | 4,200.0 | 80.9 | 50.0x |" in text
    assert text.rstrip().endswith("Result: passed in 360.0 s.")


@pytest.mark.parametrize("change", [
    {"studies": [{"study": "quickstart", "status": "ok", "device": "cpu (2 threads)", "wall_seconds": 3.0, "headline": [], "note": ""}]},
    {"studies": [{"study": "quickstart", "status": "FAILED", "device": "", "wall_seconds": 3.0, "headline": [], "note": "boom"}]},
    {"tensorflow": {**FAKE_TF, "gpus": [], "device": "cpu (16 cores)"}},
    {"benchmarks": []},
    {"errors": ["benchmarks: RuntimeError: CUDA out of memory"]},
], ids=["ran-on-cpu", "study-failed", "tensorflow-without-gpu", "no-benchmarks", "error"])
def test_report_fails_when_anything_did_not_run_on_the_gpu(tmp_path, change):
    json_path, md_path = gpu_check.write_report(fake_result(**change), tmp_path)
    assert json.loads(json_path.read_text())["passed"] is False
    assert "Result: FAILED" in md_path.read_text()


def test_main_runs_every_study_with_device_cuda_and_the_keras_one_in_the_tensorflow_environment(monkeypatch, tmp_path, capsys):
    calls = []

    def fake_smoke(study, python, runs_root, timeout):
        calls.append((study, str(python)))
        device = "GPU (1)" if study in gpu_check.TENSORFLOW_STUDIES else "cuda (NVIDIA H100 80GB HBM3)"
        return {"study": study, "python": str(python), "wall_seconds": 10.0, "status": "ok", "device": device,
                "headline": [], "note": ""}

    monkeypatch.setattr(gpu_check, "torch_info", lambda: FAKE_TORCH)
    monkeypatch.setattr(gpu_check, "nvidia_smi", lambda: FAKE_SMI)
    monkeypatch.setattr(gpu_check, "tensorflow_info", lambda python: {**FAKE_TF, "python": str(python)})
    monkeypatch.setattr(gpu_check, "run_smoke", fake_smoke)
    monkeypatch.setattr(gpu_check, "run_benchmarks", lambda device: fake_result()["benchmarks"])
    rc = gpu_check.main(["--reports", str(tmp_path), "--tf-python", "/x/.venv-tf/bin/python"])
    assert rc == 0, capsys.readouterr()
    from helpers.runner.catalog import list_studies

    assert [study for study, _ in calls] == [s.id for s in list_studies()]
    assert dict(calls)["flickr_transfer_attacks"] == "/x/.venv-tf/bin/python"
    assert dict(calls)["quickstart"] == sys.executable
    assert (tmp_path / "report.md").exists() and json.loads((tmp_path / "report.json").read_text())["passed"]


def test_smoke_run_command_asks_for_cuda(monkeypatch, tmp_path):
    seen = {}

    def fake_run(command, **kw):
        seen["command"], seen["env"] = command, kw["env"]
        folder = tmp_path / "quickstart"
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"device": "cuda (X)", "headline": [
            {"key": "clean_accuracy", "label": "clean accuracy", "value": 0.9, "unit": ""}]}))
        return subprocess.CompletedProcess(command, 0, stdout="", stderr="")

    monkeypatch.setattr(gpu_check.subprocess, "run", fake_run)
    row = gpu_check.run_smoke("quickstart", "/py", tmp_path, timeout=60)
    assert seen["command"] == ["/py", "-m", "helpers.run", "quickstart", "--preset", "smoke", "-p", "device=cuda"]
    assert seen["env"]["ADVLAB_REPORTS"] == str(tmp_path)
    assert row["status"] == "ok" and row["device"] == "cuda (X)" and row["headline"] == [("clean accuracy", 0.9, "")]
