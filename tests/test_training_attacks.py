"""A trained tiny model really loses accuracy under attack, and a pre-processor really changes inputs."""
import numpy as np
import pytest
import torch

from conftest import needs_mnist
from helpers import attacks, metrics
from helpers.models import SmallCNN
from helpers.training import evaluate, fit, predict


@pytest.fixture(scope="module")
def trained():
    from helpers.data import load_mnist

    torch.manual_seed(0)
    data = load_mnist(3000, 300, seed=0)
    model = SmallCNN(width=8)
    history = fit(model, data.x_train, data.y_train, epochs=2, batch_size=64, lr=2e-3, validation=(data.x_test, data.y_test))
    return model, data, history


@needs_mnist
def test_fit_learns_and_records_history(trained):
    model, data, history = trained
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_accuracy"] > 0.85
    loss, acc = evaluate(model, data.x_test, data.y_test)
    assert acc == pytest.approx(history[-1]["val_accuracy"])
    assert predict(model, data.x_test[:5]).shape == (5, 10)


def test_fit_is_reproducible_with_a_seed():
    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 3, (64,))
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SmallCNN(classes=3, width=4, image_size=8)
        fit(model, x, y, epochs=1, batch_size=16, seed=5)
        results.append(predict(model, x))
    assert torch.equal(*results)


@needs_mnist
@pytest.mark.parametrize("name", ["fgsm", "bim", "pgd"])
def test_budgeted_attacks_lower_accuracy_within_budget(trained, name):
    model, data, _ = trained
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10)
    x, y = data.x_test[:100].numpy(), data.y_test[:100].numpy()
    clean = metrics.accuracy(classifier.predict(x), y)
    adversarial = attacks.generate(attacks.make_attack(name, classifier, eps=0.25, batch_size=50), x, y)
    assert np.abs(adversarial - x).max() <= 0.25 + 1e-5
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert metrics.accuracy(classifier.predict(adversarial), y) < clean - 0.4


@needs_mnist
def test_torch_native_pgd_matches_arts_pytorch_pgd(trained):
    """helpers' PGD (ART's class, a leaner loop) is as strong as ART's own PyTorch PGD, in the same ball."""
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    model, data, _ = trained
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10)
    x, y = data.x_test[:200].numpy(), data.y_test[:200].numpy()
    ours = attacks.make_attack("pgd", classifier, eps=0.1, max_iter=20, batch_size=64)
    assert isinstance(ours, ProjectedGradientDescentPyTorch) and type(ours) is not ProjectedGradientDescentPyTorch
    theirs = ProjectedGradientDescentPyTorch(classifier, eps=0.1, eps_step=ours.eps_step, max_iter=20, num_random_init=1,
                                             batch_size=64, verbose=False)
    clean = metrics.accuracy(classifier.predict(x), y)
    ours_adv, theirs_adv = attacks.generate(ours, x, y), attacks.generate(theirs, x, y)
    assert np.abs(ours_adv - x).max() <= 0.1 + 1e-6 and 0 <= ours_adv.min() and ours_adv.max() <= 1
    ours_acc, theirs_acc = metrics.accuracy(classifier.predict(ours_adv), y), metrics.accuracy(classifier.predict(theirs_adv), y)
    assert ours_acc < clean - 0.2
    assert abs(ours_acc - theirs_acc) <= 0.04  # random starts differ; 200 images
    targeted = attacks.make_attack("pgd", classifier, eps=0.25, max_iter=20, batch_size=64, targeted=True)
    goal = (y + 1) % 10
    hit = classifier.predict(targeted.generate(x, y=goal)).argmax(1) == goal
    assert hit.mean() > 0.5


def test_torch_native_pgd_hands_other_cases_to_art(monkeypatch):
    """A mask (or L2, several restarts, momentum) goes to ART's own generate, unchanged."""
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    torch.manual_seed(0)
    classifier = attacks.as_art_classifier(SmallCNN(classes=3, width=4, image_size=8), input_shape=(1, 8, 8), nb_classes=3)
    x, y = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32), np.arange(6) % 3
    called = []
    monkeypatch.setattr(ProjectedGradientDescentPyTorch, "generate", lambda self, x, y=None, **kw: called.append(kw) or x)
    attack = attacks.make_attack("pgd", classifier, eps=0.1, max_iter=2, batch_size=6)
    mask = np.zeros_like(x)
    attack.generate(x, y, mask=mask)
    assert len(called) == 1 and called[0]["mask"] is mask
    adversarial = attack.generate(x, y)  # the plain case runs our loop, not ART's
    assert len(called) == 1 and np.abs(adversarial - x).max() <= 0.1 + 1e-6


@needs_mnist
@pytest.mark.parametrize("name", ["deepfool", "jsma", "cw"])
def test_minimal_perturbation_attacks_lower_accuracy(trained, name):
    model, data, _ = trained
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10)
    x, y = data.x_test[:12].numpy(), data.y_test[:12].numpy()
    options = {"max_iter": 10} if name == "deepfool" else {}
    adversarial = attacks.generate(attacks.make_attack(name, classifier, batch_size=12, **options), x, y)
    assert metrics.accuracy(classifier.predict(adversarial), y) < metrics.accuracy(classifier.predict(x), y) - 0.3


def test_make_attack_validates_names_and_budgets():
    model = SmallCNN(classes=3, width=4, image_size=8)
    classifier = attacks.as_art_classifier(model, input_shape=(1, 8, 8), nb_classes=3)
    with pytest.raises(ValueError, match="choose from"):
        attacks.make_attack("fgsn", classifier, eps=0.1)
    with pytest.raises(ValueError, match="budget"):
        attacks.make_attack("pgd", classifier)
    assert type(attacks.make_attack("C&W", classifier)).__name__ == "CarliniL2Method"
    assert type(attacks.make_attack("autoattack", classifier, eps=0.1)).__name__ == "AutoAttack"
    assert attacks.attack_title("pgd", 0.1) == "PGD eps=0.1"


def test_as_art_classifier_rejects_other_objects():
    with pytest.raises(TypeError, match="expected a torch nn.Module or a keras.Model"):
        attacks.as_art_classifier(object(), input_shape=(1, 8, 8), nb_classes=3)


def test_keras_model_is_wrapped_and_attacked():
    from helpers.frameworks import import_tensorflow

    tf = import_tensorflow()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(3)])
    classifier = attacks.as_art_classifier(model, input_shape=(8, 8, 1), nb_classes=3)
    assert type(classifier).__name__ == "TensorFlowV2Classifier"
    x = np.random.default_rng(0).random((6, 8, 8, 1)).astype(np.float32)
    y = classifier.predict(x).argmax(1)
    adversarial = attacks.generate(attacks.make_attack("pgd", classifier, eps=0.5, max_iter=10), x, y)
    assert metrics.accuracy(classifier.predict(adversarial), y) < 1.0


@needs_mnist
def test_feature_squeezing_changes_inputs_and_keeps_dtype(trained):
    """The readable squeezer and ART's pre-processor: same binarised digits, float32 kept."""
    from helpers.studies.quickstart.squeezing import feature_squeezing
    from helpers.studies.quickstart.study import art_feature_squeezing

    _, data, _ = trained
    x = data.x_test[:20]
    ours = feature_squeezing(x, 1)
    theirs, _ = art_feature_squeezing(1)(x.numpy())
    assert ours.dtype == torch.float32 and theirs.dtype == np.float32
    assert set(np.unique(theirs)) <= {0.0, 1.0}
    assert not np.array_equal(theirs, x.numpy())
    assert np.array_equal(ours.numpy(), theirs)


@needs_mnist
def test_readable_pgd_and_arts_torch_native_pgd_agree_within_a_point(trained):
    """helpers.gradient_attacks.pgd on the model and make_attack("pgd") (TorchNativePGD) from the same random start:
    the same accuracy within one point on a trained model (they compute the same digits)."""
    from helpers import gradient_attacks

    model, data, _ = trained
    classifier = attacks.as_art_classifier(model, input_shape=(1, 28, 28), nb_classes=10)
    x, y = data.x_test[:200], data.y_test[:200]
    eps, steps = 0.1, 10
    readable = gradient_attacks.pgd(gradient_attacks.input_gradient(model), x, y, eps=eps, steps=steps,
                                    step_size=gradient_attacks.default_step_size(eps, steps),
                                    generator=torch.Generator().manual_seed(3))
    fast = attacks.make_attack("pgd", classifier, eps=eps, max_iter=steps, batch_size=len(y))
    assert type(fast).__name__ == "TorchNativePGD"
    fast.generator = torch.Generator().manual_seed(3)
    fast_adv = fast.generate(x.numpy(), y.numpy())
    readable_acc = metrics.accuracy(classifier.predict(readable.numpy()), y)
    fast_acc = metrics.accuracy(classifier.predict(fast_adv), y)
    assert readable_acc < metrics.accuracy(classifier.predict(x.numpy()), y) - 0.2  # the attack does something
    assert abs(readable_acc - fast_acc) <= 0.01
    assert np.abs(readable.numpy() - fast_adv).max() <= 1e-5


def test_torch_native_pgd_without_clip_values_stays_in_the_ball():
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(0)
    model = SmallCNN(classes=3, width=4, image_size=8)
    classifier = PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=3)
    x, y = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32), np.arange(6) % 3
    adversarial = attacks.make_attack("pgd", classifier, eps=2.0, max_iter=3, batch_size=6).generate(x, y)
    assert np.abs(adversarial - x).max() <= 2.0 + 1e-6 and (adversarial < 0).any()  # no [0, 1] clip when none is set
