"""Issue 9's model changes: upsampling decoder, Gaussian likelihood, feature term, augmentation, GPU path."""
import copy
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shoevae import TrainConfig, preset, train
from shoevae.architecture import graph_dot
from shoevae.checkpoint import load_checkpoint
from shoevae.errors import ConfigError
from shoevae.model import DECODER_PARTS, VAE, prepare, vae_loss
from shoevae.perceptual import shift_and_scale
from shoevae.presets import RECIPES
from shoevae.training import TrainingPhotos


def test_the_upsampling_decoder_has_no_transposed_convolutions_and_restores_every_size():
    m = VAE(preset("style", decoder="upsample"))
    assert not any(isinstance(layer, nn.ConvTranspose2d) for layer in m.decoder)
    ups = [layer.size for layer in m.decoder if isinstance(layer, nn.Upsample)]
    assert ups == [(8, 8), (17, 17), (34, 34), (68, 68), (136, 136)]  # the encoder's sizes, mirrored
    convs = [layer for layer in m.decoder if isinstance(layer, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs) and convs[-1].out_channels == 3
    assert m(torch.rand(2, 3, 136, 136))[0].shape == (2, 3, 136, 136)
    for size in (64, 100):  # odd sizes on the way down come back exactly
        assert VAE(preset("paper", decoder="upsample", image_size=size)).decode(torch.zeros(1, 100)).shape[-1] == size


def test_sharp_keeps_the_style_encoder_so_embedding_costs_the_same():
    style, sharp = VAE(preset("style")), VAE(preset("sharp"))
    assert [tuple(p.shape) for p in style.encoder.parameters()] == [tuple(p.shape) for p in sharp.encoder.parameters()]
    assert sharp.cfg.likelihood == "gaussian" and RECIPES["sharp"]["perceptual"] > 0


def test_parts_is_sharp_with_its_feature_term_led_by_part_layers():
    """Same network as sharp (so the shipped file loads and embeds at the same cost); only the recipe differs:
    part-level layers (block 10 and deeper) among the taps, each pulling harder than the pixels, and no tap
    weaker than the pixels (the edge layers keep the drawings' colours)."""
    assert preset("parts") == preset("sharp", preset="parts")
    tc = TrainConfig(**RECIPES["parts"])  # a valid training config
    shares = tc.feature_weights or (1.0,) * len(tc.feature_layers)
    per_tap = {b: tc.perceptual * w / sum(shares) for b, w in zip(tc.feature_layers, shares)}  # x the pixels' pull
    assert any(b >= 10 for b in per_tap) and all(w > 1 for b, w in per_tap.items() if b >= 10)
    assert min(per_tap.values()) >= 1 and per_tap[0] >= 1
    sharp = RECIPES["sharp"]
    assert all(w > sharp["perceptual"] / len(sharp["feature_layers"]) for w in per_tap.values())


def test_colour_is_parts_with_bilinear_upsampling_residual_blocks_and_the_colour_term():
    """The same encoder as parts (so style vectors cost the same); the decoder upsamples bilinearly and has two
    residual blocks a stage (the shipped file's last fine-tune grew them); the recipe is parts' with the colour
    term as strong as the pixels."""
    assert preset("colour") == preset("parts", preset="colour", decoder="bilinear", decoder_blocks=2)
    assert RECIPES["colour"] == {**RECIPES["parts"], "colour": 1.0, "epochs": RECIPES["colour"]["epochs"]}
    assert TrainConfig(**RECIPES["colour"]).colour == 1.0


def test_the_shipped_default_checkpoint_holds_the_colour_recipe():
    from shoevae.cli import DEFAULT_CHECKPOINT
    from shoevae.presets import SHIPPED
    assert DEFAULT_CHECKPOINT == f"weights/{SHIPPED[0]}.pt"
    model, ck = load_checkpoint(Path(__file__).resolve().parents[1] / DEFAULT_CHECKPOINT)
    assert ck["model_config"]["preset"] == SHIPPED[0] == "colour" and model.cfg == preset("colour")
    # the colour recipe's run, then its decoder alone fine-tuned three times with the patch critic, the last time
    # grown by the residual blocks (weights/colour.md): the
    # stored settings are the fine-tune's, which keeps the colour term and every style vector of the first run
    tc = TrainConfig.from_dict(ck["train_config"])
    assert tc.decoder_only and tc.init and tc.adversarial > 0 and tc.colour == RECIPES["colour"]["colour"]
    assert ck["critic_state"] is None and ck["optimizer_state"] is None  # exported: nothing for training


def test_export_names_a_run_after_its_preset_only_when_the_network_is_that_presets(tmp_path, capsys):
    from shoevae.checkpoint import make_checkpoint, read_checkpoint, save_checkpoint
    from shoevae.cli import main
    run = tmp_path / "run.pt"
    save_checkpoint(make_checkpoint(VAE(preset("parts", decoder="bilinear", decoder_blocks=2)),
                                    TrainConfig(**RECIPES["colour"]),
                                    optimizer=None, history=[], data={}, train_seconds=1.0), run)
    assert main(["export", str(run), str(tmp_path / "colour.pt"), "--preset", "colour"]) == 0
    shipped = read_checkpoint(tmp_path / "colour.pt")
    assert shipped["model_config"]["preset"] == "colour" and shipped["model_state"]["fc_mu.weight"].dtype == torch.float16
    assert main(["export", str(run), str(tmp_path / "sharp.pt"), "--preset", "sharp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not preset 'sharp'" in err[0] and "decoder" in err[0]
    assert not (tmp_path / "sharp.pt").exists()
    flat = tmp_path / "flat.pt"  # colour's network before its residual blocks is not colour's any more
    save_checkpoint(make_checkpoint(VAE(preset("parts", decoder="bilinear")), TrainConfig(**RECIPES["colour"]),
                                    optimizer=None, history=[], data={}, train_seconds=1.0), flat)
    assert main(["export", str(flat), str(tmp_path / "flat-colour.pt"), "--preset", "colour"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not preset 'colour'" in err[0] and "decoder_blocks" in err[0], err


def test_unknown_decoder_or_likelihood_is_refused():
    with pytest.raises(ConfigError, match="decoder"):
        preset("style", decoder="pixelshuffle")
    with pytest.raises(ConfigError, match="likelihood"):
        preset("style", likelihood="laplace")
    with pytest.raises(ConfigError, match="perceptual"):
        TrainConfig(perceptual=-1.0)


def test_gaussian_likelihood_is_the_nll_at_the_optimal_shared_variance():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 8, 8)
    logits = torch.randn(4, 3, 8, 8)
    mu, logvar = torch.zeros(4, 5), torch.zeros(4, 5)
    terms = vae_loss(logits, x, mu, logvar, likelihood="gaussian")
    mean = torch.sigmoid(logits)
    var = ((mean - x) ** 2).mean()
    nll = -torch.distributions.Normal(mean, var.sqrt()).log_prob(x).sum() / 4  # per image
    assert terms["rec"].item() == pytest.approx(nll.item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(terms["rec"].item())  # KL is 0 at mu = 0, logvar = 0
    assert terms["bce"].item() == pytest.approx(F.binary_cross_entropy(mean, x, reduction="sum").item() / 4, rel=1e-5)
    # any other shared variance gives a higher NLL: the term sits at its optimum
    for scale in (0.5, 2.0):
        other = -torch.distributions.Normal(mean, (var * scale).sqrt()).log_prob(x).sum() / 4
        assert other.item() > nll.item()


def test_shift_and_scale_moves_the_shoe_but_keeps_it():
    x = torch.ones(8, 3, 64, 64)
    x[:, :, 24:40, 16:48] = 0.2  # a dark bar in the middle, white around it
    torch.manual_seed(1)
    y = shift_and_scale(x)
    assert y.shape == x.shape and y.is_contiguous(memory_format=torch.channels_last)
    assert not torch.allclose(y, x, atol=1e-3)
    dark = (y < 0.6).float().sum((1, 2, 3)) / 3
    assert ((dark > 0.7 * 16 * 32) & (dark < 1.3 * 16 * 32)).all()  # the bar stays about as big (zoom <= 8 %)
    assert torch.allclose(shift_and_scale(x, shift=0.0, scale=0.0), x, atol=1e-5)


def test_resident_photos_give_the_same_batches_as_photos_read_per_batch(shapes_catalogue):
    rows = np.arange(0, len(shapes_catalogue), 2)
    per_batch = TrainingPhotos(shapes_catalogue.images, rows, 64, torch.device("cpu"), resident=False)
    resident = TrainingPhotos(shapes_catalogue.images, rows, 64, torch.device("cpu"), resident=True)
    assert resident.on_device is not None and resident.on_device.dtype == torch.uint8
    pick = rows[[3, 7, 8, 20]]
    assert torch.equal(per_batch.batch(pick), resident.batch(pick))
    assert torch.equal(resident.batch(pick), prepare(shapes_catalogue.images[pick], 64))


@pytest.mark.parametrize("amp", [False, True])
def test_every_new_term_trains_and_the_checkpoint_loads_back(shapes_catalogue, tmp_path, amp):
    """The full sharp recipe at 64 px on the shapes; amp=True runs the bfloat16 autocast path that a GPU
    takes, here on the CPU."""
    cfg = preset("sharp", image_size=64, latent_dim=8)
    tc = TrainConfig(epochs=2, batch_size=32, perceptual=1.0, augment=True, cosine=True)
    out = tmp_path / "sharp.pt"
    ckpt = train(cfg, tc, shapes_catalogue, out=out, amp=amp)
    h = ckpt["history"]
    assert [r["epoch"] for r in h] == [1, 2] and all(math.isfinite(r[k]) for r in h for k in ("loss", "rec", "feat", "kl"))
    assert h[1]["bce"] < h[0]["bce"]
    model, loaded = load_checkpoint(out)
    assert model.cfg == cfg and loaded["train_config"]["perceptual"] == 1.0 and loaded["train_config"]["augment"] is True


def test_old_checkpoints_without_the_new_fields_load_as_the_report_built_them(shapes_checkpoint, tmp_path):
    ck = torch.load(shapes_checkpoint, weights_only=False)
    for key in ("decoder", "likelihood"):
        ck["model_config"].pop(key, None)
    for key in ("perceptual", "augment"):
        ck["train_config"].pop(key, None)
    torch.save(ck, tmp_path / "old.pt")
    model, _ = load_checkpoint(tmp_path / "old.pt")
    assert model.cfg.decoder == "transposed" and model.cfg.likelihood == "bernoulli"


def test_the_cli_applies_a_presets_recipe_under_the_flags_given(shapes_dir, tmp_path, capsys):
    from shoevae.cli import main
    out = tmp_path / "sharp.pt"
    tiny = ["--image-size", "64", "--latent-dim", "8", "--batch-size", "32", "--epochs", "1"]
    assert main(["train", "--data", str(shapes_dir), "--preset", "sharp", "--augment", "--out", str(out), *tiny]) == 0
    ck = torch.load(out, weights_only=False)
    assert ck["model_config"]["decoder"] == "upsample" and ck["model_config"]["likelihood"] == "gaussian"
    tc = ck["train_config"]
    assert tc["perceptual"] == RECIPES["sharp"]["perceptual"] and tc["cosine"] is True  # from the recipe
    assert tc["feature_layers"] == RECIPES["sharp"]["feature_layers"] == (0, 2, 4, 10)
    assert tc["augment"] is True and tc["epochs"] == 1  # the flags given win
    other = tmp_path / "plain.pt"
    assert main(["train", "--data", str(shapes_dir), "--preset", "style", "--decoder", "upsample", "--likelihood",
                 "gaussian", "--perceptual", "0", "--decoder-depth", "2", "--decoder-blocks", "1", "--out", str(other),
                 *tiny]) == 0
    ck = torch.load(other, weights_only=False)
    assert (ck["model_config"]["decoder"], ck["model_config"]["likelihood"], ck["train_config"]["perceptual"],
            ck["model_config"]["decoder_depth"]) == ("upsample", "gaussian", 0.0, 2)
    assert load_checkpoint(other)[0].cfg.decoder_depth == 2 and ck["model_config"]["decoder_blocks"] == 1
    capsys.readouterr()
    assert main(["train", "--data", str(shapes_dir), "--resume", str(out), "--epochs", "2", "--perceptual", "0"]) == 2
    assert "--perceptual 0.0 (the checkpoint has 1.0)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(shapes_dir), "--preset", "style", "--decoder", "pixelshuffle"])
    assert info.value.code == 2 and "invalid choice: 'pixelshuffle'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(shapes_dir), "--preset", "style", "--decoder-depth", "5"])
    assert info.value.code == 2 and "--decoder-depth" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(shapes_dir), "--preset", "style", "--decoder-blocks", "-1"])
    assert info.value.code == 2 and "--decoder-blocks" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(shapes_dir), "--preset", "sharp", "--feature-layers", "0,2,16"])
    assert info.value.code == 2 and "block numbers 0..15, not (0, 2, 16)" in capsys.readouterr().err


def test_the_feature_term_compares_the_layers_asked_for():
    from shoevae.perceptual import FeatureLoss
    loss = FeatureLoss(taps=(10, 0, 2, 4))
    maps = loss.features(torch.rand(2, 3, 136, 136))
    assert [m.shape[1] for m in maps] == [16, 24, 40, 112]  # sorted; block 10 gives 112 channels
    x = torch.rand(2, 3, 64, 64)
    assert loss(x, x).item() == pytest.approx(FeatureLoss(taps=(0,))(x, x).item())  # identical images: the floor
    with pytest.raises(ConfigError, match="feature_layers"):
        TrainConfig(feature_layers=(0, 16))


def test_each_feature_layer_can_have_its_own_share_of_the_term():
    """feature_weights are shares, in the order the layers were given: (1, 0) is the first layer alone, (3, 1) a
    3:1 mix of the two layers' terms; equal shares are the plain mean. Bad shares are refused by name."""
    from shoevae.perceptual import FeatureLoss, load_lite0
    net = load_lite0()
    x, y = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)).split(1)
    edge, part = FeatureLoss(net, taps=(0,))(x, y).item(), FeatureLoss(net, taps=(10,))(x, y).item()
    assert edge != pytest.approx(part)
    assert FeatureLoss(net, taps=(10, 0), weights=(1, 0))(x, y).item() == pytest.approx(part)
    assert FeatureLoss(net, taps=(10, 0), weights=(0, 2))(x, y).item() == pytest.approx(edge)
    assert FeatureLoss(net, taps=(0, 10), weights=(3, 1))(x, y).item() == pytest.approx(0.75 * edge + 0.25 * part)
    assert FeatureLoss(net, taps=(0, 10))(x, y).item() == pytest.approx((edge + part) / 2)
    assert FeatureLoss(net, taps=(0, 10), weights=(2, 2))(x, y).item() == pytest.approx((edge + part) / 2)
    with pytest.raises(ConfigError, match="one per layer"):
        FeatureLoss(net, taps=(0, 10), weights=(1.0,))
    for bad in [(1.0,), (1.0, -1.0), (0.0, 0.0), (1.0, math.nan)]:
        with pytest.raises(ConfigError, match="feature_weights"):
            TrainConfig(feature_layers=(0, 10), feature_weights=bad)
    with pytest.raises(ConfigError, match="distinct"):
        TrainConfig(feature_layers=(0, 0), feature_weights=(1.0, 2.0))
    tc = TrainConfig(feature_layers=(0, 10), feature_weights=(1.0, 2.0))
    assert TrainConfig.from_dict(tc.to_dict()) == tc  # stored in checkpoints, read back the same
    assert TrainConfig.from_dict({"feature_layers": [0, 10]}).feature_weights is None  # older files: equal shares
    from shoevae.perceptual import feature_layers_text, unequal_shares
    assert feature_layers_text(tc) == "0, 10 (shares 1:2)" and unequal_shares(tc) == (1.0, 2.0)
    equal = TrainConfig(feature_layers=(0, 10), feature_weights=(3.0, 3.0))  # the same term as no shares at all
    assert feature_layers_text(equal) == feature_layers_text(TrainConfig(feature_layers=(0, 10))) == "0, 10"
    assert unequal_shares(equal) is None


def test_the_cli_takes_feature_weights_and_drops_a_recipes_shares_with_other_layers(monkeypatch, capsys):
    from shoevae import cli, commands
    shares = tuple(float(i + 1) for i in range(len(RECIPES["parts"]["feature_layers"])))
    monkeypatch.setitem(RECIPES, "parts", {**RECIPES["parts"], "feature_weights": shares})

    def configs(*flags: str):
        args = cli.build_parser().parse_args(["train", "--preset", "parts", *flags])
        return commands.train_configs(args)[1]
    assert configs().feature_weights == shares
    assert configs("--feature-layers", "0,10").feature_weights is None  # the recipe's shares were for its layers
    assert configs("--feature-layers", "0,10", "--feature-weights", "1,3").feature_weights == (1.0, 3.0)
    with pytest.raises(SystemExit):
        configs("--feature-weights", "1,x")
    assert "is not a list of numbers" in capsys.readouterr().err


def test_the_network_drawing_shows_the_upsampling_decoder_on_the_decoder_side():
    from shoevae.architecture import graph_dot
    dot = graph_dot(VAE(preset("sharp")))
    decoder = [line for line in dot.splitlines() if line.startswith("d") and "label" in line]
    encoder = [line for line in dot.splitlines() if line.startswith("e") and "label" in line]
    assert len(decoder) == len(encoder) == 5
    assert all("Upsample + conv 3×3" in line for line in decoder) and not any("Upsample" in line for line in encoder)
    assert "16→3" in decoder[-1] and "3 × 136 × 136" in decoder[-1]


def test_one_resolver_layers_the_defaults_the_recipe_and_what_the_user_set():
    from shoevae.presets import train_configs
    assert train_configs() == (preset("paper"), TrainConfig())  # no preset, nothing set: the dataclass defaults
    model, tc = train_configs({"preset": "parts"})
    assert model == preset("parts") and tc == TrainConfig(**RECIPES["parts"]) and tc.epochs == 15 and tc.cosine
    model, tc = train_configs({"preset": "parts", "epochs": 2, "latent_dim": 8, "lr": None, "perceptual": 0.0})
    assert (tc.epochs, model.latent_dim, tc.lr, tc.perceptual) == (2, 8, TrainConfig.lr, 0.0)  # None: not set
    assert tc.cosine and tc.feature_layers == RECIPES["parts"]["feature_layers"]  # the rest of the recipe stays
    quick = train_configs({"preset": "quick"})[1]
    assert (quick.epochs, quick.lr, quick.batch_size) == (3, 3e-3, 32)  # the Train page's demo is quick's recipe
    with pytest.raises(ValueError, match="unknown settings"):
        train_configs({"epoch": 2})
    with pytest.raises(ConfigError, match="unknown preset"):
        train_configs({"preset": "fast"})


def test_train_help_gives_the_defaults_the_resolver_uses(monkeypatch, capsys):
    from shoevae import cli
    monkeypatch.setitem(RECIPES, "sharp", {**RECIPES["sharp"], "epochs": 7, "lr": 2e-3})
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"total epochs (default 10; quick 3; sharp 7; parts 15; colour {RECIPES['colour']['epochs']};" in text
    assert "learning rate (default 0.001; quick 0.003; sharp 0.002)" in text
    assert "(default 0,2,4; sharp 0,2,4,10; parts and colour 0,4,10,12)" in text
    assert "(default equal shares; parts and colour 1,1,2,2)" in text and "(default 0; colour 1)" in text


# ----------------------------------------------------------------------------- colour term, bilinear decoder, init
def test_the_colour_term_scores_colours_not_detail():
    """A drawing with the photo's colours but its fine texture lost scores as well as the photo itself would (up
    to the floor of the variance); one with the texture kept but a colour cast scores far worse. The pixel
    likelihood ranks them the other way round or alike: that is what the term adds."""
    from shoevae.perceptual import colour_term
    torch.manual_seed(0)
    base = torch.rand(4, 3, 1, 1) * 0.6 + 0.2
    texture = (torch.rand(4, 1, 64, 64) - 0.5) * 0.3  # fine grain, averages out over 4x4 blocks
    photo = (base + texture).clamp(0, 1)
    smooth = base.expand_as(photo) + F.avg_pool2d(texture, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    cast = (photo + torch.tensor([0.08, 0.0, -0.08]).view(1, 3, 1, 1)).clamp(0, 1)
    assert colour_term(smooth, photo) < colour_term(cast, photo) - 0.5 * photo[0].numel()
    assert F.mse_loss(smooth, photo) > F.mse_loss(cast, photo) / 2  # pixels alone barely tell them apart
    assert colour_term(photo, photo) == colour_term(photo * 1.0, photo)  # the floor: exact colours


def test_a_colour_weight_adds_the_term_to_the_loss(shapes_catalogue):
    from shoevae.training import batch_loss
    model = VAE(preset("sharp", image_size=64, latent_dim=8))
    x = prepare(shapes_catalogue.images[:8], 64)
    torch.manual_seed(0)
    plain = batch_loss(model, x, TrainConfig())
    torch.manual_seed(0)
    with_colour = batch_loss(model, x, TrainConfig(colour=2.0))
    assert "colour" not in plain and torch.isfinite(with_colour["colour"])
    assert with_colour["loss"].item() == pytest.approx((plain["loss"] + 2.0 * with_colour["colour"]).item(), rel=1e-5)
    with pytest.raises(ConfigError, match="colour"):
        TrainConfig(colour=float("nan"))


def test_the_bilinear_decoder_has_the_same_weights_as_the_nearest_one_and_draws_smoother():
    nearest, bilinear = VAE(preset("sharp", decoder="upsample")), VAE(preset("sharp", decoder="bilinear"))
    assert {k: v.shape for k, v in nearest.state_dict().items()} == {k: v.shape for k, v in bilinear.state_dict().items()}
    assert {m.mode for m in bilinear.decoder if isinstance(m, nn.Upsample)} == {"bilinear"}
    bilinear.load_state_dict(nearest.state_dict())
    z = torch.randn(4, 100)
    with torch.no_grad():
        a, b = nearest.eval().decode(z), bilinear.eval().decode(z)
    step = lambda img: (img[..., 1:] - img[..., :-1]).abs().mean()  # noqa: E731: jumps between neighbours
    assert a.shape == b.shape == (4, 3, 136, 136) and step(b) < step(a)


def test_init_starts_from_a_checkpoints_weights_and_says_so(shapes_catalogue, shapes_checkpoint, tmp_path):
    """Fine-tuning: the run starts from the file's weights (its first epoch's loss is already low), stores where it
    started, and a file of another network is refused in one line before any training."""
    from shoevae.checkpoint import CheckpointError
    cfg = preset("paper", image_size=64, latent_dim=16)
    fresh = train(cfg, TrainConfig(epochs=1, batch_size=32), shapes_catalogue)
    tuned = train(cfg, TrainConfig(epochs=1, batch_size=32, init=str(shapes_checkpoint), colour=1.0), shapes_catalogue,
                  out=tmp_path / "tuned.pt")
    assert tuned["history"][0]["bce"] < fresh["history"][0]["bce"]
    assert "colour" in tuned["history"][0] and "colour" not in fresh["history"][0]
    assert load_checkpoint(tmp_path / "tuned.pt")[1]["train_config"]["init"] == str(shapes_checkpoint)
    with pytest.raises(CheckpointError, match=r"cannot start from .*shapes\.pt: its network differs"):
        train(preset("paper", image_size=64, latent_dim=8), TrainConfig(epochs=1, init=str(shapes_checkpoint)),
              shapes_catalogue)


def test_the_cli_takes_colour_and_init_and_refuses_a_foreign_init_before_reading_photos(shapes_checkpoint, tmp_path,
                                                                                         capsys):
    from shoevae.cli import main
    assert main(["train", "--data", str(tmp_path / "no-photos-here"), "--preset", "style", "--init",
                 str(shapes_checkpoint), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot start from" in err and "no-photos-here" not in err  # init first
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(SystemExit):
        main(["train", "--colour", "-1"])
    assert "--colour" in capsys.readouterr().err


def test_the_photos_feature_maps_are_computed_once_per_run_and_give_the_same_term(shapes_catalogue):
    """PhotoFeatures: a photo's feature maps are computed the first time it is in a batch (only the new ones of
    a mixed batch), kept in float16, and the feature term with them equals the term computed afresh."""
    from shoevae.perceptual import FeatureLoss, PhotoFeatures
    fl = FeatureLoss(taps=(0, 4))
    rows = np.arange(0, 40, 2)  # the training rows
    store = PhotoFeatures(fl, rows)
    afresh, calls = fl.features, []
    fl.features = lambda x: (calls.append(len(x)), afresh(x))[1]
    pick = rows[[1, 3, 5]]
    x = prepare(shapes_catalogue.images[pick], 136)
    store(pick, x)
    kept = store(pick, x)
    assert calls == [3]  # once, not twice
    for a, b in zip(kept, afresh(x)):
        assert a.dtype == torch.float32 and torch.allclose(a, b, atol=2e-2, rtol=1e-2)
    reconstruction = torch.rand_like(x)
    assert fl(reconstruction, x, kept).item() == pytest.approx(fl(reconstruction, x).item(), rel=1e-3)
    mixed = rows[[3, 6]]
    calls.clear()
    store(mixed, prepare(shapes_catalogue.images[mixed], 136))
    assert calls == [1]  # only the photo not seen before
    assert PhotoFeatures(fl, rows, budget=1000).maps is None  # too many for the budget: computed every batch


def test_decoder_only_keeps_every_style_vector_and_retrains_the_drawings(shapes_catalogue, shapes_checkpoint):
    """--decoder-only: the encoder's weights and batch-norm statistics (so the style vectors and every
    recommendation) stay exactly as the init file has them, while the decoder learns; it needs an init."""
    from shoevae.embedding import embed
    before, _ = load_checkpoint(shapes_checkpoint)
    cfg = preset("paper", image_size=64, latent_dim=16)
    ck = train(cfg, TrainConfig(epochs=1, batch_size=32, init=str(shapes_checkpoint), decoder_only=True, colour=1.0),
               shapes_catalogue)
    after = VAE(cfg)
    after.load_state_dict(ck["model_state"])
    old, new = before.state_dict(), after.state_dict()
    kept = [k for k in old if not k.startswith(DECODER_PARTS)]
    assert kept and all(torch.equal(old[k], new[k]) for k in kept)
    assert not all(torch.equal(old[k], new[k]) for k in old if k.startswith("decoder."))
    images = shapes_catalogue.images[:16]
    assert np.array_equal(embed(before, images), embed(after.eval(), images))
    with pytest.raises(ConfigError, match="decoder_only"):
        TrainConfig(decoder_only=True)


def test_decoder_blocks_grow_a_trained_decoder_that_first_draws_what_it_drew_then_learns(shapes_catalogue,
                                                                                          shapes_checkpoint, tmp_path):
    """--decoder-blocks N: residual blocks after every decoder stage but the full-size one. Each starts as the
    identity, so a network grown by them starts from a checkpoint without them drawing exactly what it drew; a
    decoder-only run then trains the blocks (their zero convolutions move). A file with blocks is refused by a
    network without them, in one line."""
    from shoevae.checkpoint import load_weights
    from shoevae.errors import CheckpointError
    from shoevae.model import ResidualBlock
    base = preset("paper", image_size=64, latent_dim=16)
    trained, _ = load_checkpoint(shapes_checkpoint)
    grown = VAE(replace(base, decoder_blocks=2))
    blocks = [m for m in grown.decoder.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 2 * (len(base.channels) - 1)  # every stage but the full-size one
    load_weights(grown, shapes_checkpoint)
    z = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.equal(grown.eval().decode(z), trained.decode(z))
    ck = train(replace(base, decoder_blocks=2), TrainConfig(epochs=1, batch_size=32, init=str(shapes_checkpoint),
                                                            decoder_only=True), shapes_catalogue, out=tmp_path / "g.pt")
    after = load_checkpoint(tmp_path / "g.pt")[0]
    assert ck["model_config"]["decoder_blocks"] == 2
    assert all(m.body[-1].weight.abs().sum() > 0 for m in after.decoder.modules() if isinstance(m, ResidualBlock))
    with pytest.raises(CheckpointError, match="its network differs"):
        load_weights(VAE(base), tmp_path / "g.pt")
    with pytest.raises(ConfigError, match="decoder_blocks must be a whole number from 0 to 4"):
        preset("parts", decoder_blocks=5)
    boxes = [line for line in graph_dot(after).splitlines() if line.startswith("d") and "label" in line]
    assert sum("+ 2 residual blocks" in b for b in boxes) == 4, "How it works counts them in their stage's box"


def test_full_size_blocks_grow_the_drawing_scale_then_learn(shapes_catalogue, tmp_path):
    """--full-size-blocks N: residual blocks at full size, between the last Upsample and the convolution to RGB. They
    start as the identity (a grown decoder first draws what the file drew), a decoder-only run trains them, How it
    works draws them in the full-size stage's box, and a transposed decoder (no Upsample) is refused in one line."""
    from shoevae.checkpoint import load_weights
    from shoevae.errors import CheckpointError
    from shoevae.model import ResidualBlock
    base = preset("paper", image_size=64, latent_dim=16, decoder="bilinear")
    train(base, TrainConfig(epochs=1, batch_size=32), shapes_catalogue, out=tmp_path / "flat.pt")
    flat = load_checkpoint(tmp_path / "flat.pt")[0]
    grown = VAE(replace(base, full_size_blocks=1))
    top = grown.decoder[-2]  # the full-size stage's Upsample slot, then the convolution to RGB
    assert isinstance(top[1], ResidualBlock) and top[1].body[0].in_channels == base.channels[0]
    load_weights(grown, tmp_path / "flat.pt")
    z = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.equal(grown.eval().decode(z), flat.decode(z))
    train(replace(base, full_size_blocks=1), TrainConfig(epochs=1, batch_size=32, init=str(tmp_path / "flat.pt"),
                                                          decoder_only=True), shapes_catalogue, out=tmp_path / "g.pt")
    after = load_checkpoint(tmp_path / "g.pt")[0]
    assert after.cfg.full_size_blocks == 1 and after.decoder[-2][1].body[-1].weight.abs().sum() > 0
    with pytest.raises(CheckpointError, match="its network differs"):
        load_weights(VAE(base), tmp_path / "g.pt")
    with pytest.raises(ConfigError, match="full_size_blocks needs an upsampling decoder"):
        preset("paper", full_size_blocks=1)
    with pytest.raises(ConfigError, match="full_size_blocks must be a whole number from 0 to 2"):
        preset("parts", full_size_blocks=3)
    boxes = [line for line in graph_dot(after).splitlines() if line.startswith("d") and "label" in line]
    assert "Upsample + 1 residual block + conv 3×3 6→3" in boxes[-1] and "residual" not in "".join(boxes[:-1])


def test_a_fresh_decoder_starts_from_random_weights_beside_the_kept_encoder(shapes_checkpoint):
    """--fresh-decoder: the encoder comes from the init file, the decoder is the seeded network's own (so it learns
    to draw anew, without the init decoder's habits); it needs --decoder-only."""
    from shoevae.checkpoint import load_weights
    cfg = preset("paper", image_size=64, latent_dim=16)
    torch.manual_seed(0)
    random_net = VAE(cfg)
    model = copy.deepcopy(random_net)
    load_weights(model, shapes_checkpoint, skip=DECODER_PARTS)
    trained, _ = load_checkpoint(shapes_checkpoint)
    own, init, fresh = model.state_dict(), trained.state_dict(), random_net.state_dict()
    decoder = [k for k in own if k.startswith(DECODER_PARTS)]
    assert decoder and all(torch.equal(own[k], fresh[k]) and not torch.equal(own[k], init[k]) for k in decoder
                           if own[k].is_floating_point())
    assert all(torch.equal(own[k], init[k]) for k in own if not k.startswith(DECODER_PARTS))
    with pytest.raises(ConfigError, match="fresh_decoder"):
        TrainConfig(init=str(shapes_checkpoint), fresh_decoder=True)
