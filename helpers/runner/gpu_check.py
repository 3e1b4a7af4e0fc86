"""``advlab gpu-check`` (``make gpu-check``): does this machine's GPU really run the collection?

In one command, within about 8 minutes on a CUDA machine, it

- reports the GPU (``nvidia-smi``: name, driver, memory), torch's CUDA devices and build, and TensorFlow's
  devices, the latter from the TensorFlow GPU environment (``.venv-tf``, built by ``make setup-gpu``) when
  there is one (TensorFlow's CUDA 12 libraries and PyPI torch's CUDA 13 ones cannot share an environment;
  see the README, "On a GPU"),
- runs every study's smoke preset with ``device=cuda`` (which stops a run instead of falling back to the CPU),
  the Keras study in the TensorFlow GPU environment,
- runs the PGD and training benchmarks of ``advlab bench`` on the GPU and sets them beside the CPU numbers
  the README states (the GPU/CPU ratio the full presets' cost estimates assume),

and writes ``reports/gpu-check/`` (``report.md``, ``report.json`` and each study's smoke report under
``runs/``). On a machine without a CUDA GPU it says so in one line and exits 2; it exits 1 when anything it
ran failed or ran off the GPU, else 0.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from helpers import paths

NO_GPU_EXIT = 2
BUDGET_SECONDS = 8 * 60
STUDY_TIMEOUT_SECONDS = 180
TENSORFLOW_STUDIES = ("flickr_transfer_attacks",)
TF_VENV = ".venv-tf"

# The CPU numbers of the README's benchmark table (2-core x86_64, 2 threads, images per second), the
# denominator of the GPU/CPU ratios in the report.
CPU_REFERENCE = {
    "PGD-40, quickstart CNN": 80.9,
    "training, quickstart CNN": 3570.0,
    "PGD-10, MobileNetV3-small": 434.8,
    "training, MobileNetV3-small": 2784.0,
}

_TF_PROBE = """
import json, sys
out = {"python": sys.executable}
try:
    from helpers.frameworks import describe_tensorflow_device, import_tensorflow
    tf = import_tensorflow()
    info = tf.sysconfig.get_build_info()
    out.update(version=tf.__version__, cuda_build=info.get("cuda_version"), cudnn_build=info.get("cudnn_version"),
               gpus=[d.name for d in tf.config.list_physical_devices("GPU")], device=describe_tensorflow_device())
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def nvidia_smi(run: Callable = subprocess.run) -> list[dict[str, str]]:
    """One dict per GPU nvidia-smi lists (name, driver, memory), or [] when there is no nvidia-smi or GPU."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                  capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode:
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return gpus


def torch_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"version": torch.__version__, "cuda_build": torch.version.cuda,
                            "cuda_available": torch.cuda.is_available()}
    if info["cuda_available"]:
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def no_gpu_line(torch_sees_cuda: bool, smi: Sequence[Mapping[str, str]]) -> str | None:
    """The one line for a machine this check cannot use, or None when torch sees a CUDA GPU."""
    if torch_sees_cuda:
        return None
    if smi:
        return (f"advlab gpu-check: nvidia-smi lists {smi[0]['name']} (driver {smi[0]['driver']}) but torch sees no "
                f"CUDA device: this torch build or the driver does not fit; nothing was run")
    return "advlab gpu-check: no CUDA GPU on this machine (torch sees none, no nvidia-smi GPU); nothing to check"


def tensorflow_python(root: Path | None = None) -> Path | None:
    """The interpreter of the TensorFlow GPU environment: ``$ADVLAB_TF_PYTHON``, else ``.venv-tf`` in the checkout."""
    named = os.environ.get("ADVLAB_TF_PYTHON")
    if named:
        return Path(named)
    candidate = (root or paths.REPO_ROOT) / TF_VENV / "bin" / "python"
    return candidate if candidate.exists() else None


def tensorflow_info(python: Path | str, run: Callable = subprocess.run) -> dict[str, Any]:
    try:
        out = run([str(python), "-c", _TF_PROBE], capture_output=True, text=True, timeout=180)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001  (any failure is a finding of the check)
        return {"python": str(python), "error": f"{type(exc).__name__}: {exc}"}


def run_smoke(study: str, python: Path | str, runs_root: Path, timeout: float) -> dict[str, Any]:
    """One study's smoke preset with device=cuda in ``python``'s environment; what ran where, and how long."""
    env = {**os.environ, "ADVLAB_REPORTS": str(runs_root)}
    command = [str(python), "-m", "helpers.run", study, "--preset", "smoke", "-p", "device=cuda"]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        rc, tail = done.returncode, (done.stdout + done.stderr).strip().splitlines()[-1:]
    except subprocess.TimeoutExpired:
        rc, tail = None, [f"stopped after {timeout:.0f} s"]
    row: dict[str, Any] = {"study": study, "python": str(python), "wall_seconds": round(time.perf_counter() - started, 1),
                           "status": "ok" if rc == 0 else "FAILED", "device": "", "headline": [], "note": ""}
    metrics = runs_root / study / "metrics.json"
    if metrics.exists():
        try:
            record = json.loads(metrics.read_text(encoding="utf-8"))
            row["device"] = record.get("device", "")
            row["headline"] = [(m.get("label") or m.get("key"), m.get("value"), m.get("unit", ""))
                               for m in (record.get("headline") or [])[:3]]
        except (OSError, ValueError, AttributeError):
            pass
    if rc != 0:
        row["note"] = " ".join(tail)[:300]
    return row


def run_benchmarks(device_name: str = "cuda") -> list[dict[str, Any]]:
    """PGD and training throughput of ``advlab bench``'s models on ``device_name`` (shorter than the full bench)."""
    import torch

    from helpers import attacks
    from helpers.data import load_cifar10, load_mnist
    from helpers.device import pick_device, seed_everything
    from helpers.models import SmallCNN
    from helpers.runner import bench
    from helpers.training import fit

    seed_everything(0)
    device = pick_device(device_name)
    rows: list[dict[str, Any]] = []
    data = load_mnist(10_000, 512, seed=0)
    model = SmallCNN()
    history = fit(model, data.x_train, data.y_train, epochs=1, batch_size=128, device=device, desc="gpu-check training")
    rows.append({"benchmark": "training, quickstart CNN", "images_per_second": history[-1]["images_per_second"]})
    model.eval()
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10, device=device)
    pgd = bench.pgd_rows(model, classifier, data.x_test, data.y_test, eps=0.3, steps=40, batch_size=128, device=device, rounds=2)
    rows.append(_pgd_row("PGD-40, quickstart CNN", pgd))

    from helpers.studies.cifar_robust_training import recipe
    from helpers.studies.cifar_robust_training.model import CifarMobileNetV3

    cifar = load_cifar10(2048, 256, seed=0)
    torch.manual_seed(0)
    net = CifarMobileNetV3(width=0.5).to(memory_format=torch.channels_last)
    started = time.perf_counter()
    fit(net, cifar.x_train, cifar.y_train, epochs=1, batch_size=256, optimizer=recipe.sgd(net, 0.4),
        loss_fn=recipe.smoothed_cross_entropy(0.1), scheduler=recipe.one_cycle(0.4), augment=recipe.augmenter(0),
        device=device, desc="gpu-check MobileNetV3")
    rows.append({"benchmark": "training, MobileNetV3-small", "images_per_second": len(cifar.x_train) / (time.perf_counter() - started)})
    net.eval()
    net_classifier = attacks.as_art_classifier(net, input_shape=(3, 32, 32), nb_classes=10, device=device)
    pgd = bench.pgd_rows(net, net_classifier, cifar.x_test, cifar.y_test, eps=8 / 255, steps=10, batch_size=256, device=device, rounds=2)
    rows.append(_pgd_row("PGD-10, MobileNetV3-small", pgd))
    for row in rows:
        cpu = CPU_REFERENCE.get(row["benchmark"])
        row["cpu_reference"] = cpu
        row["gpu_cpu_ratio"] = round(row["images_per_second"] / cpu, 1) if cpu and row["images_per_second"] else None
    return rows


def _pgd_row(benchmark: str, pgd: list[dict]) -> dict[str, Any]:
    """One benchmark row from ``bench.pgd_rows``: helpers through ART, torchattacks and the direct loop (medians)."""
    by_method = {row["method"]: row.get("median") for row in pgd}
    return {"benchmark": benchmark, "images_per_second": by_method.get(bench.HELPERS_ART),
            "torchattacks": by_method.get(bench.TORCHATTACKS_LABEL), "bare": by_method.get(bench.HELPERS_DIRECT)}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def render_markdown(result: Mapping[str, Any]) -> str:
    """The short report: the machine, each framework's devices, each smoke run, the benchmark table."""
    lines = [f"# GPU check, {result.get('host', '')}, {result.get('finished_at', '')}", ""]
    for gpu in result.get("nvidia_smi") or []:
        lines.append(f"- GPU: {gpu['name']}, driver {gpu['driver']}, {gpu['memory']}")
    t = result.get("torch") or {}
    lines.append(f"- torch {t.get('version', '?')} (CUDA build {t.get('cuda_build')}, cuDNN {t.get('cudnn')}): "
                 f"{', '.join(t.get('devices') or []) or 'no CUDA device'}")
    tf = result.get("tensorflow") or {}
    if tf.get("error"):
        lines.append(f"- TensorFlow ({tf.get('python', '')}): {tf['error']}")
    else:
        lines.append(f"- TensorFlow {tf.get('version', '?')} (CUDA build {tf.get('cuda_build')}, cuDNN {tf.get('cudnn_build')}) "
                     f"in {tf.get('python', '')}: {tf.get('device', '')}")
    lines += ["", "## Smoke presets with device=cuda", "",
              "| study | status | device | wall time | headline (smoke numbers mean nothing) | note |", "|---|---|---|---|---|---|"]
    for row in result.get("studies") or []:
        headline = "; ".join(f"{label} {_fmt(value, 3)}{unit}" for label, value, unit in row.get("headline") or [])
        lines.append(f"| `{row['study']}` | {row['status']} | {row.get('device', '')} | {_fmt(row.get('wall_seconds'))} s | "
                     f"{headline} | {row.get('note', '')} |")
    lines += ["", "## Throughput on the GPU (images/s)", "",
              "| benchmark | `helpers` | torchattacks | bare PyTorch | README's CPU | GPU / CPU |", "|---|---|---|---|---|---|"]
    for row in result.get("benchmarks") or []:
        ratio = f"{row['gpu_cpu_ratio']}x" if row.get("gpu_cpu_ratio") else ""
        lines.append(f"| {row['benchmark']} | {_fmt(row.get('images_per_second'))} | {_fmt(row.get('torchattacks'))} | "
                     f"{_fmt(row.get('bare'))} | {_fmt(row.get('cpu_reference'))} | {ratio} |")
    for note in result.get("notes") or []:
        lines += ["", note]
    lines += ["", f"Result: {'passed' if result.get('passed') else 'FAILED'} in {_fmt(result.get('wall_seconds'))} s.", ""]
    return "\n".join(lines)


def passed(result: Mapping[str, Any]) -> bool:
    """Every smoke run ok and on a GPU, TensorFlow sees a GPU, and the benchmarks ran."""
    studies = result.get("studies") or []
    on_gpu = all(r["status"] == "ok" and ("cuda" in r.get("device", "").lower() or "gpu" in r.get("device", "").lower())
                 for r in studies)
    tf_gpu = bool((result.get("tensorflow") or {}).get("gpus"))
    return bool(studies) and on_gpu and tf_gpu and bool(result.get("benchmarks")) and not result.get("errors")


def write_report(result: dict[str, Any], folder: Path) -> list[Path]:
    """Write ``report.json`` and ``report.md`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    result = {**result, "passed": passed(result)}
    written = [folder / "report.json", folder / "report.md"]
    written[0].write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    written[1].write_text(render_markdown(result), encoding="utf-8")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="advlab gpu-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=Path, default=None, help="output folder (default: <reports root>/gpu-check)")
    parser.add_argument("--studies", nargs="*", default=None, metavar="STUDY", help="smoke runs (default: every study)")
    parser.add_argument("--no-bench", action="store_true", help="skip the throughput benchmarks")
    parser.add_argument("--tf-python", type=Path, default=None,
                        help=f"interpreter of the TensorFlow GPU environment (default: $ADVLAB_TF_PYTHON or {TF_VENV}/bin/python)")
    parser.add_argument("--budget", type=float, default=BUDGET_SECONDS, help="seconds; later steps are skipped past it")
    args = parser.parse_args(argv)

    torch_part = torch_info()
    smi = nvidia_smi()
    line = no_gpu_line(torch_part["cuda_available"], smi)
    if line:
        print(line, file=sys.stderr)
        return NO_GPU_EXIT

    from helpers.runner.catalog import list_studies

    started = time.perf_counter()
    folder = (args.reports or paths.reports_root() / "gpu-check").resolve()
    runs_root = folder / "runs"
    tf_python = args.tf_python or tensorflow_python()
    notes = []
    if tf_python is None:
        tf_python = Path(sys.executable)
        notes.append(f"No TensorFlow GPU environment ({TF_VENV}): TensorFlow was checked in this one, which has no CUDA "
                     "libraries for it; build it with `make setup-gpu`.")
    result: dict[str, Any] = {"host": os.uname().nodename, "started_at": datetime.now().isoformat(timespec="seconds"),
                              "nvidia_smi": smi, "torch": torch_part, "tensorflow": tensorflow_info(tf_python),
                              "studies": [], "benchmarks": [], "errors": [], "notes": notes}
    print(f"GPU: {', '.join(g['name'] for g in smi) or ', '.join(torch_part.get('devices', []))}; "
          f"TensorFlow: {result['tensorflow'].get('device') or result['tensorflow'].get('error')}")
    studies = args.studies or [s.id for s in list_studies()]
    for study in studies:
        left = args.budget - (time.perf_counter() - started)
        if left < 30:
            result["studies"].append({"study": study, "status": "FAILED", "device": "", "wall_seconds": 0.0,
                                      "headline": [], "note": "skipped: past the time budget"})
            continue
        python = tf_python if study in TENSORFLOW_STUDIES else Path(sys.executable)
        row = run_smoke(study, python, runs_root, timeout=min(STUDY_TIMEOUT_SECONDS, left))
        print(f"{study:<32} {row['status']:<7} {row['device']:<28} {row['wall_seconds']:>7.1f} s {row['note']}")
        result["studies"].append(row)
    if not args.no_bench:
        try:
            result["benchmarks"] = run_benchmarks("cuda")
        except Exception as exc:  # noqa: BLE001  (reported, not raised: the rest of the report stands)
            result["errors"].append(f"benchmarks: {type(exc).__name__}: {exc}")
    result["finished_at"] = datetime.now().isoformat(timespec="seconds")
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    written = write_report(result, folder)
    ok = passed(result)
    print(f"gpu-check {'passed' if ok else 'FAILED'} in {result['wall_seconds']:.0f} s; report: {written[1]}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
