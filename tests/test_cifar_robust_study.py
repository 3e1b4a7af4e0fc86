"""The CIFAR-10 robust-training study's notebook, presets and tables agree with its parameter schema."""
from __future__ import annotations

import json

import yaml

from helpers.studies.cifar_robust_training import study
from helpers.params import check_parameters
from helpers.paths import notebooks_dir

NOTEBOOK = notebooks_dir() / "02_cifar_robust_training.ipynb"
PRESETS = notebooks_dir() / "presets" / study.STUDY


def _parameters_cell() -> dict:
    nb = json.loads(NOTEBOOK.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1
    namespace: dict = {}
    exec("".join(cells[0]["source"]), namespace)
    namespace.pop("__builtins__")
    return namespace


def test_default_and_presets_pass_the_schema():
    default = _parameters_cell()
    assert default["preset"] == "default"
    check_parameters(default, study.PARAMETERS)
    for name in ("smoke", "full"):
        overrides = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
        check_parameters({**default, **overrides, "preset": name}, study.PARAMETERS)


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "advlab"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_denoiser_and_final_tables_line_up_with_the_reference():
    params = {"denoiser_layers": 4, "epsilon": 0.0314, "eval_pgd_steps": 10}
    rows = [{"layers": l, "noise": n, "natural": 0.6, "fgsm": 0.3, "pgd": 0.1, "deepfool": 0.2, "pgd_subset": 0.1,
             "adaptive": 0.05, "adaptive_images": 50} for l, n in study.denoiser_configs(params)]
    table, header = study.denoiser_table(rows)
    assert len(table) == 10 and all(len(r) == len(header) for r in table)
    four_noisy = next(r for r in table if r[0] == "4 layers" and r[1] == "yes")
    assert four_noisy[-2:] == [0.6572, 0.5332]
    evals = {k: {"natural": 0.5, "fgsm": 0.2, "pgd": 0.1, "deepfool": 0.0} for k in study.MODEL_LABELS}
    final, header = study.final_table(study.final_rows(evals, rows, params), params, 50, 50)
    assert len(final) == len(study.MODEL_LABELS) + 4 and all(len(r) == len(header) for r in final)
    assert final[0][6:] == [0.7773, 0.0957, 0.0324]
