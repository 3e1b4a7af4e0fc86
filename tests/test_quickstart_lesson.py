"""The quickstart as a lesson: its readable methods agree with ART's path, its findings are judged on the numbers,
and a student who changes a parameter and re-runs from the top gets the new value and the cached model."""
from __future__ import annotations

import inspect
import json
import re

import nbformat
import numpy as np
import pytest
import torch

from conftest import needs_mnist
from helpers import attacks
from helpers.findings import DOES_NOT_HOLD, HOLDS, NOT_SHOWN
from helpers.models import SmallCNN
from helpers.studies.quickstart import report, study
from helpers.studies.quickstart.reference import FINDINGS
from helpers.studies.quickstart.squeezing import Squeezed, bpda, feature_squeezing
from helpers.studies.quickstart.study import DefenseRow, SweepResult

# ---------------------------------------------------------------------------------------------------
# The readable methods


def test_methods_are_short_documented_functions():
    assert set(study.METHODS) >= {"fgsm", "pgd", "feature_squeezing", "bpda"}
    for name, function in study.METHODS.items():
        assert inspect.isfunction(function) and inspect.getdoc(function), name
        assert len(inspect.getsource(function).splitlines()) <= 30, f"{name} is not short enough to read"


def test_feature_squeezing_rounds_to_the_levels_of_its_bit_depth():
    x = torch.tensor([0.0, 0.2, 0.49, 0.51, 0.8, 1.0])
    assert feature_squeezing(x, 1).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert torch.allclose(feature_squeezing(x, 2), torch.tensor([0.0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1.0]))
    digits = torch.arange(256, dtype=torch.float32) / 255
    assert torch.allclose(feature_squeezing(digits, 8), digits)  # 8 bits keep what MNIST stores


def test_bpda_has_the_squeezers_value_and_the_identitys_gradient():
    x = torch.tensor([0.2, 0.4, 0.6, 0.9], requires_grad=True)
    weights = torch.tensor([1.0, -2.0, 3.0, 0.5])
    out = bpda(x, lambda z: feature_squeezing(z, 1))
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0]
    (out * weights).sum().backward()
    assert torch.equal(x.grad, weights)  # straight through
    x.grad = None
    (feature_squeezing(x, 1) * weights).sum().backward()
    assert torch.count_nonzero(x.grad) == 0  # without BPDA rounding masks the gradient


def test_squeezed_models_gradient_is_arts_gradient_through_its_squeezer():
    torch.manual_seed(0)
    model = SmallCNN(classes=3, width=4, image_size=8).eval()
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    y = np.arange(6) % 3
    defended = attacks.as_art_classifier(model, input_shape=(1, 8, 8), nb_classes=3,
                                         preprocessing_defences=[study.art_feature_squeezing(2)])
    theirs = defended.loss_gradient(x, np.eye(3, dtype=np.float32)[y])
    from helpers.gradient_attacks import input_gradient

    ours = input_gradient(Squeezed(model, 2))(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    assert np.allclose(ours, theirs, atol=1e-6 * np.abs(theirs).max())
    squeezed, _ = study.art_feature_squeezing(2)(x)
    assert np.array_equal(feature_squeezing(torch.from_numpy(x), 2).numpy(), squeezed)


@pytest.fixture(scope="module")
def lesson_run():
    """A small trained CNN and the first attacked digits, as the notebook builds them."""
    from helpers.data import load_mnist
    from helpers.training import fit

    torch.manual_seed(0)
    data = load_mnist(3000, 300, seed=0)
    model = SmallCNN(width=8)
    fit(model, data.x_train, data.y_train, epochs=2, batch_size=64, lr=2e-3)
    model.eval()
    params = {"seed": 0, "epsilons": [0.1, 0.2], "grid_epsilon": 0.2, "pgd_steps": 10, "pgd_random_start": True,
              "squeeze_bit_depth": 1, "attack_size": 150, "batch_size": 64}
    trained = study.Trained(model, [], False, 0.0, len(data.y_test))
    return trained, study.attack_set(trained, data, params, "cpu"), params


@needs_mnist
def test_readable_attacks_agree_with_art_within_a_point(lesson_run):
    trained, target, params = lesson_run
    fgsm, pgd = study.compare_attacks(trained, target, params, "cpu")
    assert (fgsm.art, pgd.art) == ("FastGradientMethod", "TorchNativePGD")
    for row in (fgsm, pgd):
        assert row.size == study.AGREEMENT_SIZE
        assert report.within_one_point(row), row
        assert row.same_prediction >= 0.99 and row.max_difference <= 1e-5
    assert pgd.readable_accuracy < target.clean_accuracy - 0.1  # the budget of the comparison does something


@needs_mnist
def test_readable_squeezer_and_bpda_agree_with_arts(lesson_run):
    trained, target, params = lesson_run
    squeeze, gradient, adaptive = study.compare_defense(trained, target, params, "cpu")
    assert squeeze.max_difference == 0 and report.within_one_point(squeeze)
    assert gradient.max_difference <= 1e-5
    # ART's NumPy PGD draws its own random start: the two adaptive attacks agree within their intervals
    a, b = report.wilson(adaptive.readable_accuracy, adaptive.size), report.wilson(adaptive.art_accuracy, adaptive.size)
    assert a.low <= b.high and b.low <= a.high


@needs_mnist
def test_adaptive_attack_is_the_readable_pgd_through_bpda(lesson_run):
    """run_defense's adaptive column is ``pgd`` on ``Squeezed(model)``, from the seeded generator."""
    trained, target, params = lesson_run
    x, y = torch.from_numpy(target.x[:40]), torch.from_numpy(target.y[:40])
    one = study.adaptive_pgd(trained.model, x, y, bit_depth=1, eps=0.3, steps=5, batch_size=16, seed=4)
    two = study.adaptive_pgd(trained.model, x, y, bit_depth=1, eps=0.3, steps=5, batch_size=16, seed=4)
    assert torch.equal(one, two) and (one - x).abs().max() <= 0.3 + 1e-6
    assert not torch.equal(one, study.adaptive_pgd(trained.model, x, y, bit_depth=1, eps=0.3, steps=5, batch_size=16, seed=5))


# ---------------------------------------------------------------------------------------------------
# Findings on constructed numbers


def _sweep(fgsm: dict, pgd: dict, size: int) -> SweepResult:
    return SweepResult(epsilons=list(pgd), accuracy={"fgsm": fgsm, "pgd": pgd}, size=size)


def _defense(rows, size: int) -> list[DefenseRow]:
    return [DefenseRow(0.0, 0.98, 0.97, None, size)] + [DefenseRow(e, u, t, a, size) for e, u, t, a in rows]


def _verdicts(sweep, defense) -> dict[str, object]:
    return {o.key: o for o in report.findings(sweep, defense, {})}


def test_every_finding_is_judged_once():
    outcomes = report.findings(_sweep({0.3: 0.1}, {0.3: 0.0}, 100), _defense([(0.3, 0.0, 0.8, 0.1)], 100), {})
    assert [o.key for o in outcomes] == [f.key for f in FINDINGS]
    assert [f.key for f in FINDINGS if f.ours] == ["squeezing_falls_to_bpda"]


@pytest.mark.parametrize("fgsm, pgd, size, status", [
    ({0.1: 0.50, 0.3: 0.05}, {0.1: 0.20, 0.3: 0.00}, 1000, HOLDS),
    ({0.1: 0.97, 0.3: 0.00}, {0.1: 0.97, 0.3: 0.00}, 1000, HOLDS),       # ties with narrow intervals
    ({0.1: 0.50, 0.3: 0.00}, {0.1: 0.50, 0.3: 0.00}, 1000, NOT_SHOWN),   # a tie at 50%: intervals wider than the margin
    ({0.1: 0.30, 0.3: 0.05}, {0.1: 0.60, 0.3: 0.00}, 1000, DOES_NOT_HOLD),
    ({0.1: 0.45, 0.3: 0.05}, {0.1: 0.50, 0.3: 0.00}, 20, NOT_SHOWN),
])
def test_pgd_at_least_as_strong_as_fgsm(fgsm, pgd, size, status):
    outcome = _verdicts(_sweep(fgsm, pgd, size), _defense([(0.3, 0.0, 0.8, 0.8)], size))["pgd_at_least_as_strong_as_fgsm"]
    assert outcome.status == status
    assert bool(outcome.measured) == (status == DOES_NOT_HOLD)
    assert "eps 0.1" in outcome.evidence and "eps 0.3" in outcome.evidence


@pytest.mark.parametrize("pgd, size, status", [
    ({0.1: 0.3, 0.3: 0.0}, 1000, HOLDS),
    ({0.1: 0.6, 0.3: 0.4}, 1000, DOES_NOT_HOLD),
    ({0.1: 0.3, 0.3: 0.03}, 60, NOT_SHOWN),
    ({0.1: 0.3, 0.2: 0.0}, 1000, NOT_SHOWN),  # no budget of 0.3 was attacked
])
def test_pgd_breaks_an_undefended_mnist_cnn(pgd, size, status):
    outcome = _verdicts(_sweep(dict(pgd), pgd, size), _defense([(0.1, 0.5, 0.9, 0.9)], size))["pgd_breaks_an_undefended_mnist_cnn"]
    assert outcome.status == status
    assert bool(outcome.measured) == (status == DOES_NOT_HOLD)


@pytest.mark.parametrize("rows, size, transfer_status, bpda_status", [
    ([(0.1, 0.5, 0.90, 0.90), (0.3, 0.00, 0.84, 0.10)], 1000, HOLDS, HOLDS),
    ([(0.3, 0.00, 0.84, 0.84), (0.1, 0.50, 0.90, 0.20)], 1000, HOLDS, NOT_SHOWN),  # judged at the largest budget
    ([(0.3, 0.60, 0.05, 0.60)], 1000, DOES_NOT_HOLD, DOES_NOT_HOLD),
    ([(0.3, 0.40, 0.50, 0.45)], 40, NOT_SHOWN, NOT_SHOWN),
])
def test_squeezing_findings_at_the_largest_budget(rows, size, transfer_status, bpda_status):
    verdicts = _verdicts(_sweep({0.3: 0.1}, {0.3: 0.0}, size), _defense(rows, size))
    transfer, falls = verdicts["squeezing_looks_robust_to_transfer"], verdicts["squeezing_falls_to_bpda"]
    assert (transfer.status, falls.status) == (transfer_status, bpda_status)
    assert "eps 0.3" in transfer.evidence and "eps 0.3" in falls.evidence
    assert bool(falls.measured) == (bpda_status == DOES_NOT_HOLD)


def test_headline_reports_the_largest_budget_row():
    sweep = _sweep({0.1: 0.5, 0.3: 0.1}, {0.3: 0.0, 0.1: 0.2}, 100)
    defense = _defense([(0.3, 0.0, 0.8, 0.7), (0.1, 0.2, 0.9, 0.85)], 100)
    trained = study.Trained(None, [], True, 0.99, 100)
    values = {m.key: m.value for m in report.headline(trained, sweep, defense, {"pgd_steps": 7, "squeeze_bit_depth": 1})}
    assert values["squeezed_transfer_accuracy"] == pytest.approx(80.0)
    assert values["squeezed_adaptive_accuracy"] == pytest.approx(70.0)


@pytest.mark.parametrize("row, bits, says", [
    ((0.1, 0.60, 0.50, 0.50), 4, "enlarge the perturbation"),
    ((0.3, 0.0, 0.84, 0.10), 1, "overstates the defense"),
    ((0.3, 0.0, 0.84, 0.84), 1, "finds no more than the transferred digits"),
])
def test_defense_prose_follows_the_intervals(row, bits, says):
    assert says in report.defense_summary(_defense([row], 1000), bits)


# ---------------------------------------------------------------------------------------------------
# A student in JupyterLab: change pgd_steps, restart and run all, get the new value and the cached model


def _set_parameters(source: str, values: dict) -> str:
    """The parameters cell with ``values`` typed over the old ones, as a student edits it (comments kept)."""
    lines = []
    for line in source.splitlines():
        match = re.match(r"^(\w+)\s*=\s*(.*?)(\s*#.*)?$", line)
        if match and match.group(1) in values:
            line = f"{match.group(1)} = {values[match.group(1)]!r}{match.group(3) or ''}"
        lines.append(line)
    return "\n".join(lines)


def _run_all(values: dict, workdir) -> nbformat.NotebookNode:
    """Restart the kernel and run every cell from the top, as JupyterLab does, with the parameters cell edited."""
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    from helpers.runner.catalog import find_study

    nb = nbformat.read(find_study("quickstart").path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = _set_parameters(cell.source, values)
    kernel = "advlab" if "advlab" in KernelSpecManager().find_kernel_specs() else "python3"
    NotebookClient(nb, timeout=600, kernel_name=kernel, resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/markdown", ""))
    return "\n".join(parts)


@needs_mnist
def test_changing_pgd_steps_and_rerunning_from_the_top_uses_the_new_value_and_the_cache(tmp_path, monkeypatch):
    """The smoke preset typed into the parameters cell, run top to bottom; then pgd_steps changed and run again in a
    fresh kernel. Reports and cache go to scratch folders (conftest sets ADVLAB_CACHE and ADVLAB_REPORTS)."""
    from helpers.runner.catalog import find_study, load_preset

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    smoke = {**load_preset(find_study("quickstart"), "smoke"), "preset": "smoke"}
    metrics_path = tmp_path / "reports" / "quickstart" / "metrics.json"

    first = _run_all(smoke, tmp_path)
    before = json.loads(metrics_path.read_text())
    changed = smoke["pgd_steps"] + 2
    second = _run_all({**smoke, "pgd_steps": changed}, tmp_path)
    after = json.loads(metrics_path.read_text())

    headline = lambda record: {m["key"]: m for m in record["headline"]}  # noqa: E731
    assert headline(before)["model_from_cache"]["value"] is False
    assert headline(after)["model_from_cache"]["value"] is True  # the CNN came from the cache
    assert before["parameters"]["pgd_steps"] == smoke["pgd_steps"] and after["parameters"]["pgd_steps"] == changed
    assert headline(after)["pgd_accuracy"]["detail"]["steps"] == changed
    assert "was trained now" in _output_text(first) and "loaded from the cache" in _output_text(second)
    assert f"PGD-{changed}" in _output_text(second) and f"PGD-{changed}" not in _output_text(first)
    assert [o["key"] for o in after["findings"]] == [f.key for f in FINDINGS]
