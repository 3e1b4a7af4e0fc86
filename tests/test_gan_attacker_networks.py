"""Study 4's networks: shapes, and the attacker's output bound in both output modes."""
import pytest
import torch

from helpers.studies.gan_attacker.networks import Attacker, Classifier, attacker_output, channels, frozen


def test_classifier_returns_logits_for_mnist_batches():
    assert Classifier()(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_attacker_layers_have_the_study_shapes():
    attacker = Attacker(0.1)
    shapes, h = [], torch.rand(2, 1, 28, 28)
    for layer in list(attacker.encoder) + [m for block in attacker.decoder for m in block]:
        h = layer(h)
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 14, 14), (128, 7, 7), (256, 4, 4), (512, 2, 2), (256, 4, 4), (128, 7, 7), (64, 14, 14), (1, 28, 28)]


def test_skip_attacker_hands_each_decoder_layer_the_encoder_features():
    """U-Net skip connections: the decoder's 2nd-4th layers take twice the channels (their input and the encoder's
    features at that resolution), and the perturbation keeps the study's shape and bound."""
    study, skip = Attacker(0.1, architecture="study"), Attacker(0.1, architecture="skip")
    assert [block[0].in_channels for block in skip.decoder] == [512, 512, 256, 128]
    assert [block[0].in_channels for block in study.decoder] == [512, 256, 128, 64]
    x = torch.rand(4, 1, 28, 28)
    delta = skip.perturbation(x)
    assert delta.shape == x.shape and delta.abs().max() <= 0.1 + 1e-6
    with pytest.raises(ValueError, match="architecture"):
        Attacker(0.1, architecture="resnet")


def test_width_scales_every_channel_and_keeps_the_shapes_of_the_output():
    assert channels(1.0) == (64, 128, 256, 512) and channels(0.25) == (16, 32, 64, 128) and channels(0.001) == (1, 1, 1, 1)
    for architecture in ("study", "skip"):
        narrow, wide = Attacker(0.1, architecture=architecture, width=0.25), Attacker(0.1, architecture=architecture)
        assert narrow.encoder[0].out_channels == 16 and narrow.decoder[-1][0].out_channels == 1
        x = torch.rand(3, 1, 28, 28)
        assert narrow.perturbation(x).shape == x.shape
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        assert count(narrow) < count(wide) / 10  # convolutions scale with the square of the width
    with pytest.raises(ValueError, match="width"):
        Attacker(0.1, width=0)


def test_attacker_output_bounds_the_perturbation_and_keeps_an_image():
    x = torch.tensor([0.0, 0.5, 1.0, 0.95])
    h = torch.tensor([-1.0, 0.5, 1.0, 0.9])
    delta, attacked = attacker_output(x, h, 0.1)
    assert torch.allclose(delta, torch.tensor([-0.1, 0.05, 0.1, 0.09]))
    assert torch.allclose(attacked, torch.tensor([0.0, 0.55, 1.0, 1.0]))
    delta, _ = attacker_output(x, h, 0.1, "clamp")
    assert torch.allclose(delta, torch.tensor([-0.1, 0.1, 0.1, 0.1]))


@pytest.fixture(scope="module")
def saturated():
    """An attacker whose weights are scaled up so that its tanh saturates: then the bound, not small
    activations, is what holds the output in."""
    torch.manual_seed(0)
    attacker = Attacker(0.1)
    with torch.no_grad():
        for p in attacker.parameters():
            p.mul_(5)
    return attacker


@pytest.mark.parametrize("mode", ["scaled", "clamp"])
def test_attacker_output_respects_the_bound(saturated, mode):
    x = torch.rand(8, 1, 28, 28)
    saturated.output_mode = mode
    for t in (0.01, 0.08, 0.64):
        saturated.intensity = t
        for train in (True, False):
            saturated.train(train)
            delta = saturated.perturbation(x)
            assert delta.abs().max() <= t + 1e-6
            assert delta.abs().max() > 0.9 * t  # the bound is reached, so the check above is not vacuous
            attacked = saturated(x)
            assert (attacked - x).abs().max() <= t + 1e-6
            assert attacked.min() >= 0 and attacked.max() <= 1


def test_scaled_and_clamped_outputs_differ_below_the_bound():
    torch.manual_seed(0)
    scaled = Attacker(0.5, "scaled").eval()
    clamped = Attacker(0.5, "clamp").eval()
    clamped.load_state_dict(scaled.state_dict())
    x = torch.rand(4, 1, 28, 28)
    raw = scaled.last_activation(x)
    assert torch.allclose(raw, scaled.decoder(scaled.encoder(x)))  # the study's A: no skip connections
    assert torch.allclose(scaled.perturbation(x), 0.5 * raw)
    assert torch.allclose(clamped.perturbation(x), raw.clamp(-0.5, 0.5))


def test_attacker_rejects_bad_settings():
    with pytest.raises(ValueError, match="output_mode"):
        Attacker(0.1, "sigmoid")
    with pytest.raises(ValueError, match="intensity"):
        Attacker(1.5)


def test_frozen_sets_eval_mode_and_gradients():
    model = frozen(Classifier())
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    frozen(model, False)
    assert model.training and all(p.requires_grad for p in model.parameters())
