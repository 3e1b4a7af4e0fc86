"""Run by tests/test_colab.py inside a Colab-like venv (its own Python, its own torch): before advlab exists.

    python colab_like_run.py CHECKOUT WORKDIR

Clones CHECKOUT (its committed HEAD), points the quickstart notebook's setup cell at that clone instead
of GitHub, makes ``google.colab`` importable (a stand-in package), injects the smoke preset after the
parameters cell as papermill would, and executes the notebook with nbclient from an empty folder.
Prints one JSON line: the torch version before and after, and where the report went.
Only the standard library, nbformat, nbclient and PyYAML are used: what a Colab runtime already has.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

checkout, workdir = Path(sys.argv[1]), Path(sys.argv[2])
# A fresh runtime has no advlab (a previous run of this script installed one): the setup cell must install it.
subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "advlab"], check=False)
clone = workdir / "clone"
subprocess.run(["git", "clone", "--quiet", str(checkout), str(clone)], check=True)
url = tomllib.loads((clone / "pyproject.toml").read_text())["project"]["urls"]["Repository"]

stand_in = workdir / "stand_in"
(stand_in / "google" / "colab").mkdir(parents=True)
(stand_in / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab\'s module."""\n')

nb = nbformat.read(clone / "notebooks" / "00_quickstart.ipynb", as_version=4)
setup = next(c for c in nb.cells if "colab-setup" in c.metadata.get("tags", []))
# localhost: pip 23 (a Python 3.11 venv's own) rejects git+file:/// URLs with an empty host.
setup.source = setup.source.replace(f"git+{url}", f"git+file://localhost{clone}")
at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
smoke = yaml.safe_load((clone / "notebooks" / "presets" / "quickstart" / "smoke.yaml").read_text())
smoke["preset"] = "smoke"
injected = "\n".join(f"{name} = {value!r}" for name, value in smoke.items())
nb.cells.insert(at + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))

work = workdir / "work"
work.mkdir()
os.environ["PYTHONPATH"] = str(stand_in)
os.environ["XDG_CACHE_HOME"] = str(workdir / "xdg-cache")
os.environ["XDG_DATA_HOME"] = str(workdir / "xdg-data")
torch_before = metadata.version("torch")
try:
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
finally:
    nbformat.write(nb, work / "executed.ipynb")
    print("setup cell said:", "".join(o.get("text", "") for o in setup.get("outputs", []))[-2000:], file=sys.stderr)
torch_after = subprocess.run([sys.executable, "-c", "from importlib.metadata import version; print(version('torch'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({"torch_before": torch_before, "torch_after": torch_after,
                  "reports": sorted(str(p.relative_to(work)) for p in (work / "reports").rglob("metrics.json")),
                  "cache": sorted(str(p.relative_to(workdir)) for p in (workdir / "xdg-cache").glob("*"))}))
