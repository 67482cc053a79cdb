"""The network matches the report; the loss matches a hand computation."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from shoevae.architecture import graph_dot
from shoevae.config import VAEConfig
from shoevae.model import VAE, prepare, to_uint8, vae_loss
from shoevae.presets import preset


def test_paper_preset_layers_match_the_report():
    m = VAE(preset("paper"))
    convs = [layer for layer in m.encoder if isinstance(layer, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (3, 6, 4, 2), (6, 12, 3, 2), (12, 24, 3, 2), (24, 30, 4, 1), (30, 40, 3, 2)]
    assert all(isinstance(layer, (nn.Conv2d, nn.ReLU, nn.Flatten)) for layer in m.encoder)
    deconvs = [layer for layer in m.decoder if isinstance(layer, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.output_padding[0]) for c in deconvs] == [
        (40, 30, 3, 2, 0), (30, 24, 4, 1, 0), (24, 12, 3, 2, 0), (12, 6, 3, 2, 0), (6, 3, 4, 2, 0)]
    assert m.feature_shape == (40, 6, 6) and m.fc_mu.in_features == 1440 and m.fc_mu.out_features == 100
    sizes, x = [], torch.rand(2, 3, 136, 136)
    for layer in m.encoder:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            sizes.append(x.shape[-1])
    assert sizes == [67, 33, 16, 13, 6]


@pytest.mark.parametrize("name,size", [("paper", 136), ("style", 136), ("style", 64), ("paper", 100)])
def test_round_trip_decodes_a_sample_of_the_encoding(name, size):
    """forward = encode, draw z = mu + sigma * eps, decode; the shapes survive the trip at any image size."""
    m = VAE(preset(name, image_size=size, latent_dim=16)).eval()
    x = torch.rand(3, 3, size, size)
    torch.manual_seed(7)
    logits, mu, logvar = m(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (3, 16)
    torch.manual_seed(7)
    eps = torch.randn(3, 16)
    with torch.no_grad():
        assert torch.allclose(logits, m.decode_logits(mu + eps * torch.exp(0.5 * logvar)), atol=1e-5)
        assert not torch.allclose(logits, m.decode_logits(mu), atol=1e-5), "forward decodes a sample, not the mean"
        assert torch.allclose(m.decode(mu), torch.sigmoid(m.decode_logits(mu)))
        assert not torch.allclose(m.encode(x)[0], m.encode(x.flip(-1))[0]), "the code depends on the photo"
    assert m.decode(torch.randn(4, 16)).shape == (4, 3, size, size)


def test_the_reconstruction_loss_reaches_the_encoder_through_the_sample():
    """With beta = 0 only the reconstruction trains: mu and sigma get gradients only through z = mu + sigma*eps."""
    m = VAE(preset("paper", image_size=64, latent_dim=8))
    x = torch.rand(4, 3, 64, 64)
    logits, mu, logvar = m(x)
    vae_loss(logits, x, mu, logvar, beta=0.0)["loss"].backward()
    assert m.fc_mu.weight.grad.abs().sum() > 0 and m.fc_logvar.weight.grad.abs().sum() > 0
    first_conv = next(layer for layer in m.encoder if isinstance(layer, nn.Conv2d))
    assert first_conv.weight.grad.abs().sum() > 0


def test_encode_is_deterministic_and_sampling_is_not():
    m = VAE(preset("paper")).eval()
    x = torch.rand(2, 3, 136, 136)
    assert torch.equal(m.encode(x)[0], m.encode(x)[0])
    mu, logvar = m.encode(x)
    assert not torch.equal(m.reparameterize(mu, logvar), m.reparameterize(mu, logvar))


def test_logvar_is_bounded_without_killing_its_gradient():
    m = VAE(preset("paper"))
    with torch.no_grad():
        m.fc_logvar.bias.fill_(1e4)  # what a diverging step does: exp(1e4) would be inf
    mu, logvar = m.encode(torch.rand(2, 3, 136, 136))
    assert logvar.max() <= 10 and torch.isfinite(vae_loss(m.decode_logits(mu), torch.rand(2, 3, 136, 136), mu, logvar)["kl"])
    with torch.no_grad():
        m.fc_logvar.bias.fill_(5.0)
    logvar = m.encode(torch.rand(2, 3, 136, 136))[1]
    logvar.sum().backward()
    assert m.fc_logvar.bias.grad.abs().min() > 0  # tanh, not a hard clamp: the KL can still pull it back


def test_loss_matches_hand_computation():
    x = torch.tensor([[[[1.0, 0.0]]]])  # one image, one channel, two pixels
    p = torch.tensor([[[[0.8, 0.3]]]])
    logits = torch.log(p / (1 - p))
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, math.log(4.0)]])
    bce = -math.log(0.8) - math.log(0.7)
    # KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))
    kl = -0.5 * ((1 + 0 - 0.25 - 1) + (1 + math.log(4) - 1 - 4))
    terms = vae_loss(logits, x, mu, logvar, beta=2.0)
    assert terms["bce"].item() == pytest.approx(bce, rel=1e-5)
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(bce + 2.0 * kl, rel=1e-5)


def test_loss_is_per_image_mean_over_the_batch():
    x = torch.rand(4, 3, 8, 8)
    logits, mu, logvar = torch.randn(4, 3, 8, 8), torch.randn(4, 5), torch.randn(4, 5)
    whole = vae_loss(logits, x, mu, logvar)
    halves = [vae_loss(logits[i:i + 2], x[i:i + 2], mu[i:i + 2], logvar[i:i + 2]) for i in (0, 2)]
    assert whole["loss"].item() == pytest.approx(sum(h["loss"].item() for h in halves) / 2, rel=1e-5)


def test_prepare_and_to_uint8_round_trip():
    imgs = torch.randint(0, 256, (2, 10, 10, 3), dtype=torch.uint8).numpy()
    x = prepare(imgs)
    assert x.shape == (2, 3, 10, 10) and x.is_contiguous(memory_format=torch.channels_last)
    assert (to_uint8(x) == imgs).all()
    assert prepare(imgs, 6).shape == (2, 3, 6, 6)


def test_config_validation_and_round_trip():
    cfg = preset("style", latent_dim=8)
    assert VAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown preset"):
        preset("nope")
    with pytest.raises(ValueError, match="same length"):
        VAEConfig(channels=(1, 2))
    with pytest.raises(ValueError, match="too small"):
        VAE(preset("paper", image_size=20))


def test_decoder_depth_gives_every_upsampling_stage_more_convolutions_and_the_top_one_a_non_linearity():
    """depth 1 is the mirror (the shipped checkpoints' layer names); depth 2 adds a 3x3 conv to each stage, and
    the full-size stage draws through an activation instead of one linear filter of the upsampled map."""
    one, two = (VAE(preset("parts", decoder="bilinear", decoder_depth=d)) for d in (1, 2))
    assert set(one.state_dict()) == set(VAE(preset("parts")).state_dict())
    top = lambda m: list(m.decoder)[max(i for i, layer in enumerate(m.decoder) if isinstance(layer, nn.Upsample)) + 1:]
    assert [type(layer) for layer in top(one)] == [nn.Conv2d]
    assert [type(layer) for layer in top(two)] == [nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU, nn.Conv2d]
    assert [(c.in_channels, c.out_channels) for c in top(two) if isinstance(c, nn.Conv2d)] == [(16, 16), (16, 3)]
    convs = lambda m: [(c.in_channels, c.out_channels) for c in m.decoder if isinstance(c, nn.Conv2d)]
    assert convs(two) == [(256, 128), (128, 128), (128, 64), (64, 64), (64, 32), (32, 32), (32, 16), (16, 16),
                          (16, 16), (16, 3)]
    z = torch.randn(2, 100)
    assert two.decode(z).shape == one.decode(z).shape == (2, 3, 136, 136)
    boxes = [line for line in graph_dot(two).splitlines() if line.startswith("d") and "label" in line]
    assert len(boxes) == 5 and "Upsample + 2 conv 3×3 16→16→3" in boxes[-1], "one box a stage on How it works"
    assert VAEConfig.from_dict({k: v for k, v in preset("parts").to_dict().items() if k != "decoder_depth"}) == \
        preset("parts"), "checkpoints saved before the setting load as depth 1"
    with pytest.raises(ValueError, match="decoder_depth must be a whole number from 1 to 4"):
        preset("parts", decoder_depth=0)
    with pytest.raises(ValueError, match="needs an upsampling decoder"):
        preset("paper", decoder_depth=2)


@pytest.mark.parametrize("name", ["paper", "style"])
def test_embed_gives_the_encoders_mean_and_leaves_the_model_alone(name):
    """embed folds batch norm into the convolutions for speed: same mu as model.encode in eval mode, and the
    model untouched: its weights, its running statistics and its mode (a model in training stays in training)."""
    from shoevae.embedding import embed, mean_encoder

    torch.manual_seed(0)
    m = VAE(preset(name, image_size=64, latent_dim=8))
    m.train()
    for _ in range(3):  # move batch norm's running statistics away from (0, 1), so folding them matters
        m(torch.rand(4, 3, 64, 64))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    images = (np.random.default_rng(1).random((5, 64, 64, 3)) * 255).astype(np.uint8)
    got = embed(m, images, batch_size=2)
    folded = mean_encoder(m)
    assert m.training and all(layer.training for layer in m.modules())  # still in training mode, every layer
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    with torch.no_grad():
        want, _ = m.eval().encode(prepare(images, 64))
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=1e-4)
    assert not any(isinstance(layer, nn.BatchNorm2d) for layer in folded.modules())
    assert any(isinstance(layer, nn.BatchNorm2d) for layer in m.modules()) == (name == "style")
