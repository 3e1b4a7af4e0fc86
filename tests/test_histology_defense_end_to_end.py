"""The histology study's end-to-end attacker, its LightGBM surrogate, HopSkipJump on the whole pipeline, and the
JPEG-history check: on a small CNN trained on synthetic four-class tiles, so the tests are fast and need no data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.studies.histology_defense import postprocessors as post
from helpers.studies.histology_defense import preprocessors as pre
from helpers.studies.histology_defense import study
from helpers.studies.histology_defense.adaptive import (art_bpda_pgd, bpda_pgd, defended_classifier, end_to_end_pgd, end_to_end_rounds,
                                                        transfer_pgd)
from helpers.studies.histology_defense.adversarial_set import attack_mix, build_defense_set
from helpers.studies.histology_defense.decision_attack import blackbox_classifier, hop_skip_jump, pipeline_predict
from helpers.studies.histology_defense.jpeg_history import jpeg_check
from helpers.studies.histology_defense.model import HistologyCNN, freeze, probabilities
from helpers.studies.histology_defense.surrogate import build_surrogate

SIZE = 16
EPS = 0.1


def _tiles(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes of noisy 16 px tiles, each a fixed colour template plus noise: learnable, and attackable at EPS."""
    templates = np.random.default_rng(0).uniform(0.3, 0.7, (4, 3, 1, 1)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = templates[y] + rng.normal(0, 0.08, (n, 3, SIZE, SIZE)).astype(np.float32)
    return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def setting():
    return build_setting()


def build_setting() -> dict:
    """A trained CNN, a clean + adversarial mix of its held-out tiles, and LightGBM on the softmax outputs behind
    a median filter, as the study builds them; plus held-out clean tiles LightGBM never saw."""
    torch.manual_seed(0)
    x_train, y_train = _tiles(600, seed=1)
    model = HistologyCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(4):
        for start in range(0, len(x_train), 32):
            xb, yb = torch.from_numpy(x_train[start:start + 32]), torch.from_numpy(y_train[start:start + 32])
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model = freeze(model)
    x_test, y_test = _tiles(260, seed=2)
    right = probabilities(model, x_test).argmax(1) == y_test
    assert right.mean() > 0.9, "the synthetic CNN should learn the four templates"
    x_test, y_test = x_test[right], y_test[right]
    x_mix, y_mix = x_test[:200], y_test[:200]
    x_held, y_held = x_test[200:230], y_test[200:230]
    classifier = defended_classifier(model, image_size=SIZE, logits=True)
    configs = attack_mix(["fgsm", "pgd"], fgsm_epsilons=[EPS], pgd_epsilons=[EPS], pgd_steps=5, deepfool_max_iter=1, deepfool_overshoot=0.02)
    mix, _ = build_defense_set(classifier, x_mix, y_mix, configs, batch_size=64)
    smoothing = pre.make_preprocessor("spatial_smoothing", 2)
    probs = pre.preprocessed_probabilities(model, smoothing, mix.x)
    pool, test = post.tile_split(mix, 0.3, seed=0)
    lightgbm = post.fit_lightgbm(probs, mix, pool, learning_rate=0.1, num_leaves=15, n_estimators=50, min_child_samples=5)
    return {"model": model, "mix": mix, "probs": probs, "pool": pool, "test": test, "lightgbm": lightgbm,
            "smoothing": smoothing, "x": x_held, "y": y_held}


def _pipeline_accuracy(setting, images) -> float:
    predict = pipeline_predict(setting["model"], setting["smoothing"], setting["lightgbm"])
    return float((predict(images).argmax(1) == setting["y"]).mean())


def test_surrogate_agrees_with_lightgbm_on_most_held_out_inputs(setting):
    s = setting
    surrogate = build_surrogate(s["lightgbm"], s["probs"][s["pool"]], s["probs"][s["test"]], samples=3000, hidden=64, steps=800)
    assert surrogate.held_out_inputs == len(s["test"]) > 20
    assert surrogate.agreement_held_out >= 0.9
    assert surrogate.agreement_random >= 0.75
    assert surrogate.agreement_train >= 0.9


def test_end_to_end_attack_lowers_the_pipelines_accuracy_at_least_as_much_as_transfer(setting):
    s = setting
    surrogate = build_surrogate(s["lightgbm"], s["probs"][s["pool"]], s["probs"][s["test"]], samples=3000, hidden=64, steps=800)
    x_transfer = transfer_pgd(s["model"], s["x"], s["y"], eps=EPS, steps=10)
    x_bpda = bpda_pgd(s["model"], s["x"], s["y"], preprocessor=s["smoothing"], eps=EPS, steps=10, image_size=SIZE)
    x_e2e = end_to_end_pgd(s["model"], surrogate.net, s["x"], s["y"], preprocessor=s["smoothing"], eps=EPS, steps=10, image_size=SIZE)
    x_rounds, last = end_to_end_rounds(s["model"], s["lightgbm"], s["x"], s["y"], preprocessor=s["smoothing"],
                                       train_probs=s["probs"][s["pool"]], held_out_probs=s["probs"][s["test"]], rounds=2, samples=3000,
                                       hidden=64, surrogate_steps=800, eps=EPS, steps=10, image_size=SIZE)
    assert np.abs(x_e2e - s["x"]).max() <= EPS + 1e-5 and np.abs(x_rounds - s["x"]).max() <= EPS + 1e-5
    assert last.rounds == 2 and last.attack_inputs == len(s["y"]) and last.agreement_attack >= 0.5
    clean, transfer = _pipeline_accuracy(s, s["x"]), _pipeline_accuracy(s, x_transfer)
    bpda, end_to_end = _pipeline_accuracy(s, x_bpda), _pipeline_accuracy(s, x_e2e)
    assert clean >= 0.9
    assert transfer >= 0.7, "LightGBM learned to undo attacks made on the bare model"
    assert end_to_end <= transfer - 0.2 and end_to_end <= bpda, (clean, transfer, bpda, end_to_end)
    assert _pipeline_accuracy(s, x_rounds) <= transfer - 0.2  # the study's attacker: two rounds, the surrogate refit in between


def test_defense_row_scores_each_attack_and_the_per_tile_worst_case():
    y = np.array([0, 1, 2, 3])
    eye = np.eye(4)
    outputs = {"clean": eye[[0, 1, 2, 3]], "transfer": eye[[0, 1, 2, 0]], "bpda": eye[[0, 1, 0, 3]], "end_to_end": eye[[1, 1, 2, 3]]}
    row, correct = study.defense_row("jpeg", 30, "lightgbm", "LightGBM", outputs, y)
    assert (row["clean"], row["transfer"], row["bpda"], row["end_to_end"], row["worst"]) == (1.0, 0.75, 0.75, 0.75, 0.25)
    assert row["harmonic_worst"] == pytest.approx(2 * 0.25 / 1.25) and correct["worst"].tolist() == [False, True, False, False]
    alone, _ = study.defense_row("jpeg", 30, "none", "none", {**outputs, "end_to_end": None}, y)
    assert alone["end_to_end"] is None and alone["harmonic_end_to_end"] is None and alone["worst"] == 0.5


def test_hop_skip_jump_on_the_whole_pipeline_finds_nearby_misclassified_images(setting):
    s = setting
    predict = pipeline_predict(s["model"], s["smoothing"], s["lightgbm"])
    classifier = blackbox_classifier(predict, image_size=SIZE)
    assert classifier.predict(s["x"][:3]).shape == (3, 4)
    options = dict(image_size=SIZE, max_iter=4, max_eval=60, init_eval=10, init_size=10, seed=3, pool=s["x"])
    result = hop_skip_jump(predict, s["x"][:3], s["y"][:3], eps=1.0, **options)
    assert result.images == 3 and result.started == int(result.clean_correct.sum()) == 3 and result.queries > 100
    assert np.isfinite(result.distances).all() and (predict(result.x_adv).argmax(1) != s["y"][:3]).all()
    assert result.accuracy == 0.0  # every tile was moved to a wrong class within the (huge) budget
    assert result.median_distance < 0.5  # the boundary walk shrinks the distance from the starting tile of another class
    again = hop_skip_jump(predict, s["x"][:3], s["y"][:3], eps=1.0, **options)
    assert np.array_equal(again.x_adv, result.x_adv)  # seeded: runs repeat
    tight = hop_skip_jump(predict, s["x"][:3], s["y"][:3], eps=1e-4, **options)
    assert tight.accuracy == 1.0  # nothing that close: the tiles count as robust at that budget


def test_jpeg_check_per_tissue_class(setting):
    s = setting
    x, y = s["x"], s["y"]
    tissues = np.where(y == 0, "01_TUMOR", np.where(y == 1, "06_MUCOSA", "other_" + y.astype(str)))
    check = jpeg_check(s["model"], x, y, tissues, ["artifacts", "cancer", "normal", "other"], 10, source="test")
    assert {r["tissue"] for r in check.rows} == set(tissues.tolist())
    assert sum(r["tiles"] for r in check.rows) == len(y)
    for r in check.rows:
        assert r["change"] == pytest.approx(r["with"] - r["without"]) and 0 <= r["flipped"] <= r["tiles"]
    assert check.overall_without == 1.0  # the held-out tiles are ones the CNN gets right
    assert check.spread >= 0 and 0 < check.noise <= 1.0
    assert jpeg_check(s["model"], x, y, tissues, ["a", "b", "c", "d"], None, source="not searched").rows == []


def _hand_built_end_to_end():
    """An ``EndToEndResult`` for one pre-processor (alone and with LightGBM) from hand-made answers on four tiles."""
    from helpers.studies.histology_defense.surrogate import Surrogate

    y, eye = np.zeros(4, dtype=np.int64), np.eye(4)
    alone = {"clean": eye[[0, 0, 0, 0]], "transfer": eye[[1, 1, 1, 0]], "bpda": eye[[1, 1, 1, 1]], "end_to_end": None}
    lgbm = {"clean": eye[[0, 0, 0, 0]], "transfer": eye[[0, 0, 0, 1]], "bpda": eye[[0, 0, 1, 1]], "end_to_end": eye[[0, 1, 1, 1]]}
    rows, correct = [], {}
    for post_name, title, outputs in (("none", "none", alone), ("lightgbm", "LightGBM", lgbm)):
        row, right = study.defense_row("spatial_smoothing", 3, post_name, title, outputs, y)
        rows.append(row)
        correct[("spatial_smoothing", post_name)] = right
    surrogate = Surrogate(None, 100, 1.0, 0.97, 30, 0.9, 500, 0.8, 4, 2)
    return study.EndToEndResult(np.arange(4), 0.03, 10, rows, correct, {"spatial_smoothing": surrogate}, ("spatial_smoothing", "lightgbm"))


def test_end_to_end_prose_comes_from_the_numbers():
    from helpers.studies.histology_defense import report

    result = _hand_built_end_to_end()
    text = report.end_to_end_summary(result)
    assert "keeps 75.0% (30.1-95.4) of the tiles against the transfer attack, 50.0% (15.0-85.0) against BPDA" in text
    assert "25.0% (4.6-69.9) against the end-to-end" in text  # each with its 95% Wilson interval over the 4 tiles
    # harmonic means: LightGBM 85.7% (transfer) and 40.0% (worst case), the pre-processor alone 40.0% and 0.0%
    assert "+45.7 points against the transfer attack and by +40.0 points in the worst case" in text
    assert "88% of its gain survives" in text
    assert "97.0% of the 30 held-out softmax vectors" in report.surrogate_summary(result)
    assert "last of 2 rounds" in report.surrogate_summary(result)
    rows = report.end_to_end_rows(result)
    assert len(rows) == 4 and rows[0][5] == 0.0 and rows[0][6] == "-" and rows[3][2] == "harmonic mean"


def test_decision_prose_counts_tiles_the_gradient_attacks_missed():
    from helpers.studies.histology_defense import report
    from helpers.studies.histology_defense.decision_attack import DecisionResult

    result = _hand_built_end_to_end()
    clean = np.array([True, True, True, True])
    distances = np.array([0.01, 0.5, np.inf, 0.02])  # tiles 0 and 3 broken within eps=0.03
    d = DecisionResult(4, 0.03, clean, distances, clean & (distances > 0.03), 4, 1000, {"max_iter": 5, "max_eval": 50}, None)
    right = result.correct[result.final_key]
    decision = study.DecisionAttack(d, {k: float(right[k].mean()) for k in ("clean", "transfer", "bpda", "end_to_end", "worst")},
                                    "Spatial smoothing (window_size=3) + LightGBM", right["worst"])
    assert decision.missed_by_gradients == 1  # tile 0 withstood all three gradient attacks; tile 3 did not
    assert "On 1 of these tiles HopSkipJump finds" in report.decision_summary(decision)
    assert d.accuracy == 0.5 and d.median_distance == pytest.approx(0.02)


def test_readable_bpda_agrees_with_arts_pgd_through_its_preprocessing_defence(setting):
    """bpda_gradient + gradient_attacks.pgd against ART's PGD on ART's classifier with the median filter as a
    pre-processing defence, both without a random start: the defense's accuracy within a point on 200 tiles."""
    s = setting
    x, y = _tiles(260, seed=7)
    right = probabilities(s["model"], x).argmax(1) == y
    x, y = x[right][:200], y[right][:200]
    readable = bpda_pgd(s["model"], x, y, preprocessor=s["smoothing"], eps=EPS, steps=5, random_start=False)
    art = art_bpda_pgd(s["model"], x, y, preprocessor=s["smoothing"], eps=EPS, steps=5, image_size=SIZE)
    assert np.abs(readable - x).max() <= EPS + 1e-6
    predict = pipeline_predict(s["model"], s["smoothing"], s["lightgbm"])
    accuracy = [float((predict(images).argmax(1) == y).mean()) for images in (readable, art)]
    assert abs(accuracy[0] - accuracy[1]) <= 0.01, accuracy
    assert float(np.mean(np.abs(readable - art) < 1e-5)) > 0.99  # the same images, pixel for pixel but for rare float ties


def test_surrogate_attack_is_pgd_through_preprocessor_cnn_and_surrogate(setting):
    s = setting
    surrogate = build_surrogate(s["lightgbm"], s["probs"][s["pool"]], s["probs"][s["test"]], samples=2000, hidden=32, steps=400)
    x, y = torch.from_numpy(s["x"]), torch.from_numpy(s["y"])
    preprocess = lambda images: s["smoothing"](images)[0]  # noqa: E731
    generator = torch.Generator().manual_seed(0)
    out = study.METHODS["surrogate_attack"](s["model"], surrogate.net, preprocess, x, y, eps=EPS, steps=8, generator=generator)
    assert out.shape == x.shape and float((out - x).abs().max()) <= EPS + 1e-6
    assert _pipeline_accuracy(s, out.numpy()) <= _pipeline_accuracy(s, s["x"]) - 0.2


def test_hop_skip_jump_stops_a_tile_whose_step_search_never_ends(setting, monkeypatch):
    """ART's step-size loop never ends on a NaN update direction; the tile is halted at the query cap instead."""
    from art.attacks.evasion import HopSkipJump

    s = setting
    predict = pipeline_predict(s["model"], s["smoothing"], s["lightgbm"])
    monkeypatch.setattr(HopSkipJump, "_compute_update", lambda self, current_sample, **_: np.full_like(current_sample, np.nan))
    result = hop_skip_jump(predict, s["x"][:2], s["y"][:2], eps=0.5, image_size=SIZE, max_iter=3, max_eval=20, init_eval=5,
                           init_size=5, seed=0, pool=s["x"])
    assert result.settings["stopped_tiles"] == 2 and result.accuracy == 1.0
    assert np.all(result.tile_queries <= result.settings["query_cap_per_tile"] + 1)
