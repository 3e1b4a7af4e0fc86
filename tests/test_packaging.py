"""The environment files agree, the notebooks are committed clean, and CI calls the README's command."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0].lower()


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_and_make_setup_install_from_the_same_lock():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in env["dependencies"]
    assert pip_section == ["-c constraints.txt", "-e .[test,lab]"]
    makefile = (REPO / "Makefile").read_text()
    assert "-c constraints.txt" in makefile and "'.[test,lab]'" in makefile and "--sys-prefix" in makefile


def test_every_dependency_has_a_range_and_a_tested_pin():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    pins = _constraints()
    requirements = project["dependencies"] + project["optional-dependencies"]["test"] + project["optional-dependencies"]["lab"]
    for requirement in requirements:
        name = _name(requirement).replace("_", "-")
        assert "==" not in requirement, f"{requirement}: pyproject keeps ranges, constraints.txt the exact versions"
        assert name in pins, f"{name} has no tested version in constraints.txt"
    assert pins["torch"] == "2.13.0" and pins["torchvision"] == "0.28.0" and pins["adversarial-robustness-toolbox"] == "1.20.1"


def test_notebooks_are_committed_without_outputs_and_with_one_parameters_cell():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), f"{path.name} has outputs"
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
        assert 'preset = "default"' in "".join(tagged[0]["source"])


def test_ci_runs_the_test_command_from_the_readme():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme
    assert re.search(r"^\s*(time )?make test\s*$", (REPO / ".ci" / "run").read_text(), re.M)


def test_package_list_covers_every_package_under_helpers():
    from setuptools import find_packages

    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(listed) == sorted([*find_packages(str(REPO), include=["helpers*"]), "helpers.study_notebooks"])


def test_a_plain_install_runs_from_an_empty_folder_with_user_directories(tmp_path):
    """pip install of the project (not editable), then `advlab run quickstart --preset smoke` from an
    empty folder: the report lands in that folder, data and cache in the user's directories. The
    dependencies are this environment's (no download): the wheel is installed with --no-deps."""
    import os
    import subprocess
    import sys

    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO),
                    "-w", str(wheels)], check=True, cwd=tmp_path, capture_output=True)
    wheel = next(wheels.glob("advlab-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    assert (site / "bin" / "advlab").exists()
    data_home, cache_home = tmp_path / "xdg-data", tmp_path / "xdg-cache"
    shared_mnist = Path(os.environ.get("ADVLAB_DATA", REPO / "data")) / "MNIST"
    (data_home / "advlab").mkdir(parents=True)
    (data_home / "advlab" / "MNIST").symlink_to(shared_mnist)  # offline: the user's data dir holds MNIST
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVLAB_") and k != "MPLBACKEND"}
    env.update(PYTHONPATH=str(site), XDG_DATA_HOME=str(data_home), XDG_CACHE_HOME=str(cache_home), HOME=str(tmp_path))
    cli = [sys.executable, "-c", "import sys; from helpers.runner.cli import main; sys.exit(main())"]
    where = subprocess.run([*cli[:2], "import helpers; print(helpers.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), f"imported {where}, not the installed copy"

    result = subprocess.run([*cli, "run", "quickstart", "--preset", "smoke"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (work / "reports" / "quickstart" / "quickstart.reader.html").exists()
    assert list((cache_home / "advlab" / "models").glob("quickstart-cnn-*.pt"))
    assert not (site / "reports").exists() and not (site / ".cache").exists()

    copied = subprocess.run([*cli, "notebooks", str(work / "nb")], cwd=work, env=env, capture_output=True, text=True)
    assert copied.returncode == 0
    assert (work / "nb" / "00_quickstart.ipynb").read_bytes() == (REPO / "notebooks" / "00_quickstart.ipynb").read_bytes()
    assert (work / "nb" / "presets" / "quickstart" / "smoke.yaml").exists()
