"""The CIFAR-10 robust-training study's notebook, presets, tables and headline agree with its schema and reference."""
from __future__ import annotations

import json

import pytest
import yaml

from helpers.params import ParameterError, check_parameters
from helpers.paths import notebooks_dir
from helpers.studies.cifar_robust_training import parameters, reference, report, study

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


def _preset(name: str) -> dict:
    default = _parameters_cell()
    if name == "default":
        return default
    return {**default, **yaml.safe_load((PRESETS / f"{name}.yaml").read_text()), "preset": name}


def test_default_and_presets_pass_the_schema_and_the_combination_check():
    assert _parameters_cell()["preset"] == "default"
    for name in ("default", "smoke", "full"):
        params = check_parameters(_preset(name), parameters.PARAMETERS)
        parameters.check_combinations(params)


def test_a_test_subset_larger_than_the_test_images_is_refused():
    params = check_parameters(_preset("default"), parameters.PARAMETERS)
    with pytest.raises(ParameterError, match="adaptive_size"):
        parameters.check_combinations({**params, "adaptive_size": params["test_size"] + 1})


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "advlab"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def _denoiser_rows(params: dict, fgsm_by_layers=lambda layers: 0.3) -> list[dict]:
    return [{"layers": l, "noise": n, "natural": 0.6, "fgsm": fgsm_by_layers(l) if n else 0.1, "pgd": 0.1, "deepfool": 0.2,
             "pgd_subset": 0.1, "adaptive": 0.05, "adaptive_images": 50} for l, n in study.denoiser_configs(params)]


def test_denoiser_and_final_tables_line_up_with_the_reference():
    params = {"denoiser_layers": 4, "epsilon": 0.0314, "eval_pgd_steps": 10}
    rows = _denoiser_rows(params)
    table, header = report.denoiser_table(rows)
    assert len(table) == 10 and all(len(r) == len(header) for r in table)
    four_noisy = next(r for r in table if r[0] == "4 layers" and r[1] == "yes")
    assert four_noisy[-2:] == [0.6572, 0.5332]
    evals = {k: {"natural": 0.5, "fgsm": 0.2, "pgd": 0.1, "deepfool": 0.0} for k in study.MODEL_LABELS}
    final, header = report.final_table(report.final_rows(evals, rows, params), params, 50, 50)
    assert len(final) == len(study.MODEL_LABELS) + 4 and all(len(r) == len(header) for r in final)
    assert final[0][7:] == [0.7773, 0.0957, 0.0324]


def _models(accuracy: float) -> study.Models:
    models = study.Models()
    for kind in study.MODEL_LABELS:
        e = {"natural": accuracy, "fgsm": accuracy / 2, "pgd": accuracy / 4, "deepfool": 0.0, "images": 40, "adversarials": {},
             "pgd_double": accuracy / 4, "pgd_steps": 10, "autoattack": accuracy / 5, "autoattack_images": 20,
             "pgd_on_autoattack_images": accuracy / 4, "autoattack_version": "AutoAttack (ART), APGD-CE + APGD-DLR"}
        models.add(study.Trained(kind, None, [], from_cache=True), e)
    return models


@pytest.mark.parametrize("preset", ["smoke", "default"])
def test_headline_keys_are_stable_and_carry_the_studys_values(preset):
    params = check_parameters(_preset(preset), parameters.PARAMETERS)
    # the best denoiser is the deepest stack with noise here, whatever denoiser_layers is
    rows = _denoiser_rows(params, fgsm_by_layers=lambda layers: 0.2 + 0.05 * layers)
    cost = {"ratio": 3.14159, "expected": params["train_pgd_steps"] + 1}
    metrics = report.headline(_models(0.6), rows, cost, params)
    keys = [m.key for m in metrics]
    assert keys == [m.key for m in report.headline(_models(0.4), _denoiser_rows({"denoiser_layers": 1}), cost,
                                                   {**params, "epsilon": 0.0627, "eval_pgd_steps": 3})]
    assert 4 <= len(keys) <= 10 and len(set(keys)) == len(keys) and all(k.isidentifier() for k in keys)
    assert set(reference.REFERENCE) <= set(keys)
    by_key = {m.key: m for m in metrics}
    for key, ref in reference.REFERENCE.items():
        assert by_key[key].study == ref.value and by_key[key].study_source == ref.source
    assert by_key["natural_accuracy"].value == 60.0 and by_key["natural_accuracy"].unit == "%"
    assert by_key["natural_pgd_accuracy"].detail["eps"] == params["epsilon"]
    assert by_key["denoiser_fgsm_accuracy"].detail["layers"] == params["denoiser_layers"]
    assert by_key["denoiser_fgsm_accuracy"].value == pytest.approx(100 * (0.2 + 0.05 * params["denoiser_layers"]))
    aa = by_key["pgd_at_autoattack_accuracy"]
    assert aa.value == pytest.approx(12.0) and aa.study is None and aa.detail["images"] == 20 and "APGD" in aa.detail["version"]


def test_reference_is_in_percent_and_matches_the_study_tables():
    assert reference.REFERENCE["natural_accuracy"].value == 77.73
    assert reference.REFERENCE["pgd_at_pgd_accuracy"].value == 34.28
    assert reference.BEST_DENOISER == (4, True)
    assert reference.REFERENCE["denoiser_fgsm_accuracy"].value == 53.32


def test_tables_show_intervals_and_the_autoattack_gap():
    params = {"eval_pgd_steps": 10}
    table, header = report.adversarial_table(_models(0.6), params)
    assert len(header) == len(table[0]) and "AutoAttack (first 20)" in header
    natural = table[0]
    assert natural[1].startswith("60.0% (") and natural[5].startswith("12.0% (")
    assert natural[6] == "+3.0 pt"  # PGD 15% minus AutoAttack 12% on the same images
    ci = report.interval(0.5, 1000)
    assert 0.46 < ci.low < 0.47 and 0.53 < ci.high < 0.54


def test_catastrophic_overfitting_is_found_only_when_pgd_collapses_while_fgsm_rises():
    rising = [{"epoch": e, "monitor_pgd": p, "monitor_fgsm": f} for e, p, f in ((1, 0.30, 0.35), (2, 0.32, 0.38), (3, 0.05, 0.70))]
    found = report.overfitting(rising)
    assert found and found["best_epoch"] == 2 and found["last_pgd"] == 0.05
    steady = [{"epoch": e, "monitor_pgd": 0.3 + 0.01 * e, "monitor_fgsm": 0.4} for e in (1, 2, 3)]
    assert report.overfitting(steady) is None
    assert report.overfitting([{"epoch": 1, "loss": 1.0}]) is None


def test_overfitting_prose_tells_a_collapse_from_masking_without_robustness():
    from torch import nn

    def trained(history):
        return study.Trained("regularized", nn.Linear(1, 1), history, False)

    collapse = [{"epoch": e, "monitor_pgd": p, "monitor_fgsm": f} for e, p, f in ((1, 0.30, 0.35), (2, 0.32, 0.38), (3, 0.05, 0.70))]
    masking = [{"epoch": e, "monitor_pgd": p, "monitor_fgsm": f} for e, p, f in ((1, 0.055, 0.25), (2, 0.05, 0.40))]
    models = study.Models()
    models.trained["regularized"] = trained(collapse)
    assert "overfits catastrophically: PGD accuracy on the monitor images falls from 32.0%" in report.overfitting_summary(models)
    models.trained["regularized"] = trained(masking)
    text = report.overfitting_summary(models)
    assert "without gaining robustness" in text and "catastrophically" not in text
