"""Study 3 building blocks on hand-made inputs: MC-dropout uncertainty, crop voting, the
information-gain threshold, the hybrid rule and its threshold search, and the confusion counts."""
import numpy as np
import pytest
import torch

from helpers.studies.mnist_uncertainty_detection import crops, detector, thresholds
from helpers.studies.mnist_uncertainty_detection.model import DropoutLeNet
from helpers.studies.mnist_uncertainty_detection.uncertainty import head_samples, mc_predict, uncertainty_of


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return DropoutLeNet(width=4, hidden=16).eval()


def test_uncertainty_is_zero_with_dropout_off_and_positive_with_it_on(lenet):
    x = torch.rand(12, 1, 28, 28)
    off = mc_predict(lenet, x, passes=20, batch_size=5, dropout=False)
    on = mc_predict(lenet, x, passes=20, batch_size=5, dropout=True)
    assert off.uncertainty.shape == (12,) and off.mean.shape == (12, 10)
    assert np.all(off.uncertainty == 0)
    assert np.all(on.uncertainty > 0)
    # With dropout off the MC mean is the plain softmax output.
    np.testing.assert_allclose(off.mean, lenet(x).softmax(1).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not lenet.training, "mc_predict must leave the model in eval mode"


def test_mc_passes_are_independent_masks_and_uncertainty_is_mean_std(lenet):
    x = torch.rand(3, 1, 28, 28)
    torch.manual_seed(1)
    samples = head_samples(lenet, x, 50)
    assert samples.shape == (50, 3, 10)
    assert not torch.allclose(samples[0], samples[1]), "every pass needs its own dropout mask"
    by_hand = torch.tensor([[[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]])  # 2 passes, 2 images, 2 classes
    np.testing.assert_allclose(uncertainty_of(by_hand).numpy(), [0.5, 0.0])


def test_mc_predict_is_reproducible_with_a_seed(lenet):
    x = torch.rand(4, 1, 28, 28)
    a = mc_predict(lenet, x, passes=10, seed=3)
    b = mc_predict(lenet, x, passes=10, seed=3)
    np.testing.assert_array_equal(a.uncertainty, b.uncertainty)


def test_five_crops_take_corners_and_centre_and_resize_back():
    x = torch.zeros(1, 1, 28, 28)
    x[..., :4, :4] = 1.0  # a bright top-left corner
    out = crops.five_crops(x, 24)
    assert out.shape == (5, 1, 1, 28, 28)
    top_left, top_right, bottom_left, bottom_right, centre = out[:, 0, 0]
    assert top_left[:4, :4].mean() > 0.9       # the corner crop keeps it (stretched)
    # the other corner crops start at row or column 4 and miss it; the centre crop (from row/col 2) keeps a quarter
    assert top_right.max() == 0 and bottom_left.max() == 0 and bottom_right.max() == 0
    assert 0 < centre.sum() < top_left.sum() / 2
    identity = crops.five_crops(torch.rand(2, 1, 28, 28), 28)
    assert torch.allclose(identity[0], identity[4])
    with pytest.raises(ValueError):
        crops.five_crops(x, 30)


def test_crop_votes_count_agreement_with_the_provisional_class():
    crop_predictions = np.array([[1, 2, 3], [1, 2, 0], [1, 0, 0], [1, 2, 0], [1, 9, 0]])  # 5 crops x 3 images
    np.testing.assert_array_equal(crops.count_votes(crop_predictions, [1, 2, 3]), [5, 3, 1])
    with pytest.raises(ValueError):
        crops.count_votes(crop_predictions, [1, 2])


def test_information_gain_threshold_on_a_hand_made_example():
    # clean images have low uncertainty, adversarial high, with one overlap: 0.4 is adversarial.
    u = np.array([0.1, 0.2, 0.3, 0.5, 0.4, 0.6, 0.7, 0.8])
    adv = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    t, gain = thresholds.best_information_gain_threshold(u, adv)
    assert t == pytest.approx(0.35)  # 3 clean below; above: 1 clean, 4 adversarial
    expected = 1.0 - (5 / 8) * thresholds.entropy(4 / 5)
    assert gain == pytest.approx(expected)
    assert thresholds.information_gain(u, adv, t) == pytest.approx(expected)
    # A perfect separation carries the full bit.
    assert thresholds.best_information_gain_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == (pytest.approx(0.5), pytest.approx(1.0))
    assert thresholds.entropy(0.5) == pytest.approx(1.0) and thresholds.entropy(0.0) == 0.0


def test_hybrid_rule_and_threshold_search_use_the_crops_in_the_middle_band():
    u = np.array([0.01, 0.02, 0.5, 0.5, 0.5, 0.5, 0.9, 0.95])
    votes = np.array([5, 5, 5, 4, 1, 0, 5, 5])
    adv = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    np.testing.assert_array_equal(
        thresholds.decide(u, votes, low=0.1, high=0.8, votes_needed=4), [0, 0, 0, 0, 1, 1, 1, 1]
    )
    np.testing.assert_array_equal(thresholds.decide(u, votes, low=0.1, high=0.8, votes_needed=5), [0, 0, 0, 1, 1, 1, 1, 1])
    chosen = thresholds.search_thresholds(u, votes, adv, grid=10)
    assert chosen.calibration_accuracy == 1.0
    assert chosen.low <= 0.5 <= chosen.high and chosen.votes_needed in (2, 3, 4)
    # Uncertainty alone cannot separate the middle band: at best 6 of 8.
    t, acc = thresholds.best_single_threshold(u, adv)
    assert acc == pytest.approx(6 / 8)
    assert thresholds.best_vote_count(votes, adv) == (2, pytest.approx(6 / 8))


def test_confusion_counts_and_labeled_clean_breakdown():
    flagged = np.array([1, 0, 0, 1, 1, 0, 0, 0], bool)
    is_adv = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    provisional = np.array([3, 1, 2, 3, 0, 5, 6, 9])
    y = np.array([3, 1, 7, 3, 4, 5, 0, 0])
    summary = detector.summarize(detector.Evaluation("hybrid", flagged, [{}]),
                                 detector.Scores(np.zeros(8), provisional, np.zeros(8), provisional),
                                 detector.MixedSet(np.zeros((8, 1, 2, 2)), y, is_adv, np.r_[np.arange(4), np.arange(4)]))
    assert (summary["tp"], summary["fp"], summary["tn"], summary["fn"]) == (1, 2, 2, 3)
    assert summary["accuracy"] == pytest.approx(3 / 8)
    b = summary["labeled_clean"]  # labeled clean: images 1, 2 (clean) and 5, 6, 7 (adversarial)
    assert b["n"] == 5
    assert (b["clean_correct"], b["clean_incorrect"], b["adv_correct"], b["adv_incorrect"]) == pytest.approx((0.2, 0.2, 0.2, 0.4))
    assert b["accuracy"] == pytest.approx(0.4)


def test_cross_fit_never_tunes_on_the_fold_it_labels(monkeypatch):
    mixed = detector.make_mixed(np.zeros((6, 1, 2, 2)), np.ones((6, 1, 2, 2)), np.arange(6))
    assert mixed.is_adversarial.sum() == 6 and set(mixed.folds) == {0, 1}
    seen = []

    def fake_tune(method, u, votes, truth):
        seen.append(len(u))
        return {"n": len(u)}, lambda uu, vv: uu > 0.5

    monkeypatch.setattr(detector, "_tune", fake_tune)
    scores = detector.Scores(mixed.is_adversarial.astype(float), np.zeros(12, int), np.zeros(12, int), np.zeros(12, int))
    evaluation = detector.cross_fit("hybrid", scores, mixed)
    assert seen == [6, 6]
    np.testing.assert_array_equal(evaluation.flagged, mixed.is_adversarial)


def test_random_folds_keep_a_digit_with_its_copy_and_split_in_halves():
    mixed = detector.make_mixed(np.zeros((10, 1, 2, 2)), np.ones((10, 1, 2, 2)), np.arange(10))
    folds = mixed.random_folds(3)
    np.testing.assert_array_equal(folds[:10], folds[10:])
    assert folds[:10].sum() == 5
    assert not np.array_equal(folds, mixed.random_folds(4)) or not np.array_equal(folds, mixed.folds)
    np.testing.assert_array_equal(folds, mixed.random_folds(3))


def test_mc_from_features_matches_mc_predict(lenet):
    from helpers.studies.mnist_uncertainty_detection.uncertainty import features_of, mc_from_features

    x = torch.rand(7, 1, 28, 28)
    direct = mc_predict(lenet, x, passes=12, seed=2, batch_size=3)
    reused = mc_from_features(lenet, features_of(lenet, x), passes=12, seed=2, batch_size=3)
    np.testing.assert_allclose(direct.uncertainty, reused.uncertainty, rtol=1e-6)
