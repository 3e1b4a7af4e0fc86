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


def test_environment_yml_lists_the_same_packages_as_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in env["dependencies"]
    assert sorted(r.replace(" ", "").replace("'", '"') for r in pyproject) == sorted(
        r.replace(" ", "").replace("'", '"') for r in pip_section if r != "-e ."
    )
    pins = {_name(r): r for r in pyproject}
    assert pins["torch"] == "torch==2.13.0" and pins["torchvision"] == "torchvision==0.28.0"
    assert pins["adversarial-robustness-toolbox"].endswith("==1.20.1")


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
