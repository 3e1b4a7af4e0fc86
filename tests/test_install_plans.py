"""Every documented install resolves, and the GPU install plan writes no file twice.

Each check is ``pip install --dry-run --report`` against the package index pip is configured with (nothing is
installed), so it needs that index: without it each test is skipped with one line. The overlap checks read
each CUDA wheel's ``*.dist-info/RECORD`` (the list of files it writes) with HTTP range requests, a few
kilobytes per wheel instead of the gigabytes of the wheels themselves.

- every extra of ``pyproject.toml`` and every extra the README names resolves against ``constraints.txt``;
- every ``pip install`` line of the README resolves as written (an ``advlab[...]`` requirement is resolved
  from this checkout, which is what the repository URL it names serves);
- ``make setup`` (``.venv``: PyPI's torch, CUDA 13) writes no file twice; nor does ``make setup-gpu``'s
  TensorFlow environment (``.venv-tf``: torch's CPU build installed without dependencies into a fresh
  environment, from PyTorch's CPU index or, where that is unreachable, from the folder of CPU wheels
  ``ADVLAB_TORCH_CPU_WHEELS`` names; then TensorFlow's CUDA 12 wheels resolved on top of it), and
  ``constraints-gpu.txt`` pins what TensorFlow's ``and-cuda`` extra resolves to;
- the plan they replace, both frameworks' CUDA wheels in one environment, is detected as overlapping (in
  ``nvidia/cudnn`` and ``nvidia/nccl``), which is why there are two environments.

The GPU plan's checks (the last four), the known conflicts and the resolution of the README's lines as
written (most leave versions open, so pip searches) take minutes; they run when ``ADVLAB_INSTALL_PLANS=1`` is
set (the README's GPU section names it), and are skipped with one line otherwise. Every test run resolves the
extras against ``constraints.txt`` and checks that the README's lines name extras that exist.

On a machine whose pip configuration adds other wheels (a local find-links folder), run these with
``PIP_CONFIG_FILE=/dev/null`` to resolve what a user of the public index gets.
"""
from __future__ import annotations

import collections
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
import zipfile
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
REPOSITORY = PROJECT["urls"]["Repository"]
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_WHEEL = re.compile(r"^(nvidia-|cuda-)")


GPU_PLAN = pytest.mark.skipif(os.environ.get("ADVLAB_INSTALL_PLANS") != "1",
                              reason="GPU install plan not checked: set ADVLAB_INSTALL_PLANS=1 to resolve it")


def index_url() -> str:
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "https://pypi.org/simple"


@cache
def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url.rstrip("/") + "/", method="HEAD"), timeout=10):
            return True
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (OSError, ValueError):
        return False


def need(url: str) -> None:
    if not reachable(url):
        pytest.skip(f"no package index reachable at {url}: resolution not checked")


@cache
def dry_run(args: tuple[str, ...], python: str | None = None) -> dict:
    """pip's installation report for ``pip install ARGS`` in an empty environment, or on top of what the environment
    of ``python`` holds (nothing is installed)."""
    target = ["--python", python] if python else []
    command = [sys.executable, "-m", "pip", *target, "install", "--dry-run", *([] if python else ["--ignore-installed"]), "--quiet",
               "--disable-pip-version-check", "--report", "-", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"pip install {shlex.join(args)} does not resolve:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout[done.stdout.index("{"):])


def installed(report: dict) -> dict[str, str]:
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


class RangeReader(io.RawIOBase):
    """A seekable file over HTTP range requests, enough for ``zipfile`` to read one member of a remote wheel."""

    def __init__(self, url: str):
        self.url, self.position = url, 0
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as response:
            self.size = int(response.headers["Content-Length"])

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=0):
        self.position = {0: offset, 1: self.position + offset, 2: self.size + offset}[whence]
        return self.position

    def readinto(self, buffer):
        count = min(len(buffer), self.size - self.position)
        if count <= 0:
            return 0
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={self.position}-{self.position + count - 1}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            if response.status != 206:
                pytest.skip(f"{self.url.split('/')[2]} does not serve byte ranges: wheel contents not checked")
            data = response.read()
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


@cache
def wheel_record(url: str) -> tuple[tuple[str, str], ...]:
    """(path, hash) of every file the wheel at ``url`` installs, from its RECORD."""
    archive = zipfile.ZipFile(io.BufferedReader(RangeReader(url), buffer_size=1 << 16))
    name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
    rows = [line.rsplit(",", 2) for line in archive.read(name).decode().splitlines() if line.strip()]
    return tuple((path, digest) for path, digest, _ in rows)


def overlaps(records: dict[str, tuple[tuple[str, str], ...]]) -> dict[str, list[str]]:
    """Paths written by more than one distribution, with the distributions that write them."""
    owners = collections.defaultdict(list)
    for dist, rows in records.items():
        for path, _ in rows:
            owners[path].append(dist)
    return {path: dists for path, dists in owners.items() if len(dists) > 1}


def cuda_records(report: dict) -> dict[str, tuple[tuple[str, str], ...]]:
    return {f"{item['metadata']['name']}=={item['metadata']['version']}": wheel_record(item["download_info"]["url"])
            for item in report["install"] if CUDA_WHEEL.match(item["metadata"]["name"].lower())}


def test_overlap_detection_on_made_up_records():
    records = {"a-cu12==1": (("nvidia/cudnn/lib/libcudnn.so.9", "h1"), ("nvidia/cublas/lib/x.so", "h2")),
               "a-cu13==2": (("nvidia/cudnn/lib/libcudnn.so.9", "h3"), ("nvidia/cu13/lib/x.so", "h4"))}
    assert overlaps(records) == {"nvidia/cudnn/lib/libcudnn.so.9": ["a-cu12==1", "a-cu13==2"]}


# --- every extra and every README install line resolves --------------------------------------------------

def readme_extras() -> set[str]:
    named = set()
    for group in re.findall(r"(?:advlab|\.)\[([a-z0-9_,-]+)\]", README):
        named.update(group.split(","))
    return named


# Extras that cannot be installed against constraints.txt today, and why; each has a strict xfail below, which
# turns into a failure once it resolves (then take it out of here).
KNOWN_CONFLICTS: dict[str, str] = {}  # none today; multigpu resolves since constraints.txt pins dask 2026.7.1 (dask-cuda's)


@GPU_PLAN
@pytest.mark.parametrize("extra", sorted(KNOWN_CONFLICTS))
@pytest.mark.xfail(strict=True, reason="a known conflict with constraints.txt (KNOWN_CONFLICTS)")
def test_known_conflicting_extra_still_conflicts(extra):
    need(index_url())
    dry_run(("-c", "constraints.txt", f".[{extra}]"))


def test_every_extra_resolves_against_the_constraints():
    extras = sorted(set(PROJECT["optional-dependencies"]) | readme_extras())
    unknown = sorted(set(extras) - set(PROJECT["optional-dependencies"]))
    assert not unknown, f"the README names extras pyproject.toml does not define: {unknown}"
    need(index_url())
    # The gpu extra goes into the TensorFlow GPU environment, with its own constraints (make setup-gpu); the others
    # into one environment, resolved together first and one by one only to name the one that fails.
    main = [extra for extra in extras if extra not in ("gpu", *KNOWN_CONFLICTS)]
    failures = []
    for group, constraints in [(main, ("-c", "constraints.txt")),
                               (["gpu"], ("-c", "constraints.txt", "-c", "constraints-gpu.txt"))]:
        try:
            dry_run((*constraints, f".[{','.join(group)}]"))
        except AssertionError:
            for extra in group:
                try:
                    dry_run((*constraints, f".[{extra}]"))
                except AssertionError as error:
                    failures.append(f"{extra}: {str(error).splitlines()[0]} ... "
                                    f"{[line for line in str(error).splitlines() if 'ERROR' in line or 'requires' in line][-3:]}")
    assert not failures, "extras that cannot be installed:\n" + "\n".join(failures)


def readme_install_lines() -> list[str]:
    """Every ``pip install ...`` command of the README: in code blocks and in inline code."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        lines += [line.split("#")[0].strip() for line in block.splitlines() if line.strip().startswith("pip install")]
    lines += [span.strip() for span in re.findall(r"`(pip install [^`]+)`", README)]
    return list(dict.fromkeys(lines))


def as_dry_run_args(line: str) -> tuple[str, ...]:
    """The README's command as pip arguments; ``advlab[x] @ <repository>`` and ``advlab[x]`` resolve from this checkout."""
    args = []
    for token in shlex.split(line)[2:]:
        match = re.fullmatch(r"advlab(\[[a-z0-9_,-]+\])?(?:\s*@\s*git\+(\S+))?", token)
        if match:
            assert match.group(2) in (None, REPOSITORY), f"the README installs from {match.group(2)}, pyproject says {REPOSITORY}"
            token = "." + (match.group(1) or "")
        args.append(token)
    return tuple(args)


def test_readme_install_lines_name_this_project():
    """Without resolving (fast, every run): each README line installs extras pyproject.toml defines, from its URL."""
    lines = readme_install_lines()
    assert lines, "the README shows no pip install line"
    for line in lines:
        for token in as_dry_run_args(line):  # checks the repository URL
            for extra in re.findall(r"^\.\[([a-z0-9_,-]+)\]$", token):
                unknown = set(extra.split(",")) - set(PROJECT["optional-dependencies"])
                assert not unknown, f"{line}: pyproject.toml defines no extra {sorted(unknown)}"


@GPU_PLAN
def test_readme_install_lines_resolve():
    """Every README ``pip install`` line, resolved (minutes: most lines leave versions open, so pip searches)."""
    from concurrent.futures import ThreadPoolExecutor

    need(index_url())
    lines = [line for line in readme_install_lines() if TORCH_CPU_INDEX not in line or reachable(TORCH_CPU_INDEX)]
    assert lines, "the README shows no pip install line"

    def resolve(line: str) -> str:
        try:
            dry_run(as_dry_run_args(line))
            return ""
        except AssertionError as error:
            return f"{line}: {str(error).splitlines()[0]}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(resolve, lines) if f]
    assert not failures, "README install lines that do not resolve:\n" + "\n".join(failures)


# --- the GPU install plan writes no file twice ---------------------------------------------------------

MAIN_ENVIRONMENT = ("-c", "constraints.txt", ".[test,lab]")  # make setup


@GPU_PLAN
def test_main_environment_writes_no_cuda_file_twice():
    need(index_url())
    report = dry_run(MAIN_ENVIRONMENT)
    records = cuda_records(report)
    assert not overlaps(records), sorted(overlaps(records))[:20]
    assert "tensorflow" in installed(report) and not any(name.endswith("-cu12") for name in installed(report))


@GPU_PLAN
def test_gpu_constraints_pin_what_tensorflow_resolves_to():
    need(index_url())
    pins = dict(line.split("==") for line in (ROOT / "constraints-gpu.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    tensorflow = next(line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("tensorflow=="))
    report = dry_run((f"tensorflow[and-cuda]=={tensorflow.split('==')[1]}", "-c", "constraints-gpu.txt"))
    cuda = {name: version for name, version in installed(report).items() if CUDA_WHEEL.match(name)}
    assert cuda == pins
    assert not overlaps(cuda_records(report))


def torch_cpu_source() -> tuple[str, ...]:
    """Where step one of ``make setup-gpu`` takes torch's CPU build from: PyTorch's CPU index as the Makefile says,
    or, where that index is unreachable, a folder of CPU wheels named by ``ADVLAB_TORCH_CPU_WHEELS`` (the same
    ``torch==<pin>+cpu`` build, e.g. a local copy); skipped with one line when neither is there."""
    if reachable(TORCH_CPU_INDEX):
        return ("--index-url", TORCH_CPU_INDEX)
    folder = os.environ.get("ADVLAB_TORCH_CPU_WHEELS", "")
    if folder and list(Path(folder).glob("torch-*+cpu-*.whl")):
        return ("--no-index", "--find-links", folder)
    pytest.skip(f"{TORCH_CPU_INDEX} unreachable and ADVLAB_TORCH_CPU_WHEELS names no folder with a torch +cpu wheel: "
                ".venv-tf not checked")


def test_makefile_takes_torch_for_the_tensorflow_environment_from_the_cpu_index_without_dependencies():
    """The check below mirrors these two lines of ``make setup-gpu``; it is only as good as this match."""
    makefile = (ROOT / "Makefile").read_text()
    assert f"TORCH_CPU_INDEX ?= {TORCH_CPU_INDEX}" in makefile
    step_one, step_two = [line.strip() for line in makefile.splitlines() if line.strip().startswith("$(VENV_TF)/bin/python -m pip install")][-2:]
    assert "--no-deps --index-url $(TORCH_CPU_INDEX)" in step_one and "torch(vision)?==" in step_one
    assert step_two.endswith("-c constraints.txt -c constraints-gpu.txt -e '.[gpu]'")


@GPU_PLAN
def test_tensorflow_gpu_environment_writes_no_cuda_file_twice(tmp_path):
    """What ``make setup-gpu`` installs into .venv-tf, in its two steps: torch's CPU build without dependencies into
    a fresh environment, then the ``gpu`` extra resolved on top of it (dry run)."""
    need(index_url())
    source = torch_cpu_source()
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if re.match(r"^torch(vision)?==", line)]
    wanted = [pin + "+cpu" for pin in pins]
    if source[0] == "--no-index":  # a local folder may hold torch only; then PyPI's torchvision is resolved in step two
        wanted = [pin for pin in wanted if list(Path(source[-1]).glob(pin.replace("==", "-") + "-*.whl"))]
        if not any(pin.startswith("torch==") for pin in wanted):
            pytest.skip(f"{source[-1]} holds no torch wheel of {pins}, CPU build: .venv-tf not checked")
    environment = tmp_path / "venv-tf"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", environment], check=True)
    python = str(environment / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", *source, *wanted],
                   check=True, timeout=900)

    report = dry_run(("-c", "constraints.txt", "-c", "constraints-gpu.txt", ".[gpu]"), python=python)
    names = installed(report)
    assert "torch" not in names, f"step two replaces the CPU torch with {names.get('torch')}"
    assert "nvidia-cudnn-cu12" in names and "tensorflow" in names
    assert not any(name.endswith("-cu13") or name == "cuda-toolkit" for name in names), sorted(names)
    records = cuda_records(report)
    assert not overlaps(records), sorted(overlaps(records))[:20]


@GPU_PLAN
def test_both_cuda_stacks_in_one_environment_would_overwrite_cudnn_and_nccl():
    """Why the TensorFlow GPU environment is separate: PyPI's torch (CUDA 13) and TensorFlow's and-cuda (CUDA 12)
    write the same cuDNN and NCCL files with different contents."""
    need(index_url())
    pins = {line.split("==")[0]: line for line in (ROOT / "constraints.txt").read_text().splitlines()
            if re.match(r"^(torch|tensorflow)==", line)}
    report = dry_run((pins["torch"], pins["tensorflow"].replace("tensorflow", "tensorflow[and-cuda]"), "-c", "constraints-gpu.txt"))
    records = cuda_records(report)
    clashes = overlaps(records)
    assert "nvidia/cudnn/lib/libcudnn.so.9" in clashes and "nvidia/nccl/lib/libnccl.so.2" in clashes
    assert {path.split("/")[1] for path in clashes} <= {"cudnn", "nccl"}
