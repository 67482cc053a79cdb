"""The adversarial patch term (shoevae/adversarial.py): the critic, the decoder's fooling term, the adapted weight,
and their place in training, checkpoints and resuming."""
import math

import pytest
import torch
import torch.nn.functional as F

from shoevae import TrainConfig, preset, train
from shoevae.adversarial import MAX_RATIO, Adversary, PatchCritic, adaptive_weight, critic_loss, fooling_term
from shoevae.checkpoint import load_checkpoint, make_checkpoint
from shoevae.errors import ConfigError


def _stripes(n: int, seed: int) -> torch.Tensor:
    """Photos with fine detail: random vertical stripes, 2 px wide, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    cols = torch.rand(n, 3, 1, 16, generator=g).repeat_interleave(2, -1)
    return cols.expand(n, 3, 32, 32).contiguous()


def _blurred(x: torch.Tensor) -> torch.Tensor:
    """The same pictures without their detail (what a likelihood alone draws)."""
    return F.avg_pool2d(x, 8).repeat_interleave(8, -1).repeat_interleave(8, -2)


def test_the_critic_learns_to_tell_detailed_patches_from_smooth_ones_and_the_fooling_term_follows_it():
    torch.manual_seed(0)
    critic = PatchCritic(width=8)
    opt = torch.optim.Adam(critic.parameters(), lr=2e-3, betas=(0.5, 0.9))
    for step in range(40):
        real = _stripes(8, step)
        loss = critic_loss(critic, real, _blurred(real))
        opt.zero_grad()
        loss.backward()
        opt.step()
    real = _stripes(16, 1000)  # photos it has not seen
    with torch.no_grad():
        assert critic(real).mean() > critic(_blurred(real)).mean() + 0.5
        assert critic_loss(critic, real, _blurred(real)) < 1.5  # below the 2.0 of a critic that cannot tell
        assert fooling_term(critic, _blurred(real)) > fooling_term(critic, real)  # smooth drawings pay more
    # the fooling term's gradient moves a smooth drawing towards what the critic scores as a photo
    drawing = _blurred(real).requires_grad_(True)
    (grad,) = torch.autograd.grad(fooling_term(critic, drawing), drawing)
    with torch.no_grad():
        assert critic(drawing - 0.05 * grad / grad.abs().max()).mean() > critic(drawing).mean()


def test_the_adapted_weight_makes_the_term_pull_the_last_layer_scale_times_as_hard_as_the_likelihood():
    g_lik, g_fool = torch.full((10,), 3.0), torch.full((10,), 0.01)
    w = adaptive_weight(g_lik, g_fool, 0.5)
    assert math.isclose(w * g_fool.norm().item(), 0.5 * g_lik.norm().item(), rel_tol=1e-2)
    assert adaptive_weight(g_lik, torch.zeros(10), 0.5) <= 0.5 * MAX_RATIO  # a vanishing critic gradient is capped
    big = adaptive_weight(torch.full((10,), 3e4), g_fool, 0.5)  # the Gaussian likelihood's size: not capped there
    assert math.isclose(big * g_fool.norm().item(), 0.5 * 3e4 * 10 ** 0.5, rel_tol=1e-3)


def test_the_adversary_adds_the_term_at_the_adapted_weight_and_reads_the_likelihoods_gradient_back():
    """backward(): the last layer's gradient is the likelihood's plus weight times the fooling term's, with the
    weight from the previous step's likelihood gradient; inactive, it is the plain backward."""
    torch.manual_seed(0)
    last = torch.nn.Conv2d(4, 3, 3, padding=1)
    feats = torch.rand(2, 4, 16, 16)
    photos = torch.rand(2, 3, 16, 16)
    adv = Adversary(last, scale=0.5, lr=1e-3)

    def losses():
        drawing = torch.sigmoid(last(feats))
        return ((drawing - photos) ** 2).sum(), drawing

    lik, drawing = losses()
    (g_lik,) = torch.autograd.grad(lik, last.weight)
    lik, drawing = losses()
    out = adv.backward(lik, drawing, active=False)  # the warm-up: likelihood alone, its norm remembered
    assert out["adv_weight"] == 0.0 and torch.allclose(last.weight.grad, g_lik)
    assert torch.isclose(adv.likelihood_norm, g_lik.norm())

    last.weight.grad = None
    adv.critic.eval()  # spectral norm's power iteration holds still, so both calls below see the same critic
    lik, drawing = losses()
    (g_fool,) = torch.autograd.grad(fooling_term(adv.critic, drawing), last.weight, retain_graph=True)
    out = adv.backward(lik, drawing, active=True)
    w = out["adv_weight"]
    assert w > 0 and math.isclose(w, 0.5 * g_lik.norm().item() / g_fool.norm().item(), rel_tol=1e-4)
    assert torch.allclose(last.weight.grad, g_lik + w * g_fool, atol=1e-5)
    assert torch.isclose(adv.likelihood_norm, g_lik.norm(), rtol=1e-4)

    adv.critic.train()
    before = [p.detach().clone() for p in adv.critic.parameters()]
    assert math.isfinite(adv.step(photos, drawing))
    assert any(not torch.equal(a, b) for a, b in zip(before, adv.critic.parameters()))  # the critic learnt


def test_training_with_the_critic_records_its_terms_keeps_it_for_resuming_and_ships_without_it(
        shapes_catalogue, tmp_path):
    cfg = preset("sharp", image_size=64, latent_dim=8)
    tc = TrainConfig(epochs=2, batch_size=16, limit=48, adversarial=0.5, adversarial_start=0.5)
    out = tmp_path / "gan.pt"
    ckpt = train(cfg, tc, shapes_catalogue, out=out)
    h = ckpt["history"]
    assert all(math.isfinite(r[k]) for r in h for k in ("loss", "fool", "critic", "adv_weight"))
    assert h[0]["adv_weight"] < h[1]["adv_weight"] and h[1]["adv_weight"] > 0  # joined half-way, not before
    critic = ckpt["critic_state"]["critic"]
    _, loaded = load_checkpoint(out)
    assert all(torch.equal(critic[k], loaded["critic_state"]["critic"][k]) for k in critic)
    resumed = train(cfg, TrainConfig(**{**tc.to_dict(), "epochs": 3}), shapes_catalogue, out=out, resume=out)
    assert len(resumed["history"]) == 3 and resumed["critic_state"]["optimizer"]["state"]  # optimizer state went on

    from shoevae.model import VAE
    model = VAE(cfg)
    model.load_state_dict(ckpt["model_state"])
    shipped = make_checkpoint(model, tc, optimizer=None, history=h, data=ckpt["data"], train_seconds=1.0, half=True,
                              critic_state=ckpt["critic_state"])
    assert shipped["critic_state"] is None  # training only: the shipped file holds the VAE alone
    no_critic = train(cfg, TrainConfig(epochs=1, batch_size=16, limit=16), shapes_catalogue)
    assert "fool" not in no_critic["history"][0] and no_critic["critic_state"] is None


def test_bad_adversarial_settings_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="adversarial must be a number >= 0"):
        TrainConfig(adversarial=-1)
    with pytest.raises(ConfigError, match="adversarial_start must be a share"):
        TrainConfig(adversarial=0.5, adversarial_start=1.0)
