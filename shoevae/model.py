"""The convolutional VAE: encoder -> (mu, logvar) -> reparameterised z -> decoder -> image.

Vocabulary as in PyTorch's examples/vae: encode, reparameterize, decode, forward.
The decoder outputs logits; `decode` applies the sigmoid. The reconstruction term is the report's
BCE (numerically stable `binary_cross_entropy_with_logits`, the same quantity as BCE on sigmoid
outputs) or, for `likelihood="gaussian"`, a Gaussian on the sigmoid outputs whose one shared
variance is the batch's mean squared error (its maximum-likelihood value: sigma-VAE, Rybkin et al. 2021).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import VAEConfig

DECODER_PARTS = ("fc_dec.", "decoder.")  # the state-dict prefixes of the decoder's weights (fresh_decoder, decoder_only)
MIN_VARIANCE = 1e-6  # the Gaussian likelihood's shared variance never goes below this (sigma >= 0.001)
LOGVAR_BOUND = 10.0  # |log variance| stays below this: sigma in (0.007, 148)


def _norm_act(cfg: VAEConfig, channels: int) -> list[nn.Module]:
    """What follows every convolution but the output one: batch norm (if the config has it), then the activation."""
    norm = [nn.BatchNorm2d(channels)] if cfg.batch_norm else []
    return [*norm, nn.LeakyReLU(0.2) if cfg.activation == "leaky_relu" else nn.ReLU()]


class ResidualBlock(nn.Module):
    """x + conv(act(norm(conv(x)))), 3x3 convolutions of the same width; the second starts at zero, so a new block
    is the identity (a decoder grown by blocks draws what it drew before; Goyal et al. 2017's zero-init residual)."""

    def __init__(self, cfg: VAEConfig, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=not cfg.batch_norm),
                                  *_norm_act(cfg, channels), nn.Conv2d(channels, channels, 3, 1, 1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class VAE(nn.Module):
    """Convolutional VAE built only from a VAEConfig."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        sizes = cfg.encoder_sizes()
        chans = (3, *cfg.channels)
        n = len(cfg.channels)

        enc: list[nn.Module] = []
        for i in range(n):
            enc.append(nn.Conv2d(chans[i], chans[i + 1], cfg.kernels[i], cfg.strides[i], cfg.paddings[i],
                                 bias=not cfg.batch_norm))
            enc.extend(_norm_act(cfg, chans[i + 1]))
        self.encoder = nn.Sequential(*enc, nn.Flatten())

        self.feature_shape = (chans[-1], sizes[-1], sizes[-1])  # (C, h, w) after the encoder
        h_dim = chans[-1] * sizes[-1] * sizes[-1]  # 40 * 6 * 6 = 1440 for the paper preset
        self.fc_mu = nn.Linear(h_dim, cfg.latent_dim)
        self.fc_logvar = nn.Linear(h_dim, cfg.latent_dim)
        self.fc_dec = nn.Linear(cfg.latent_dim, h_dim)

        dec: list[nn.Module] = []
        for i in reversed(range(n)):
            if cfg.decoder in ("upsample", "bilinear"):  # to the encoder twin's input size, then 3x3 convs
                mode = "nearest" if cfg.decoder == "upsample" else "bilinear"
                up: nn.Module = nn.Upsample(size=(sizes[i], sizes[i]), mode=mode)
                if i == 0 and cfg.full_size_blocks:  # full-size blocks ride in the Upsample's slot (it has no weights)
                    up = nn.Sequential(up, *(ResidualBlock(cfg, chans[1]) for _ in range(cfg.full_size_blocks)))
                dec.append(up)
                # decoder_depth convolutions; the top stage keeps its input's width until its last one (to RGB)
                widths = [chans[i]] * cfg.decoder_depth if i > 0 else [chans[1]] * (cfg.decoder_depth - 1) + [chans[0]]
                steps = list(zip((chans[i + 1], *widths), widths))
            else:
                steps = [(chans[i + 1], chans[i])]
            for j, (c_in, c_out) in enumerate(steps):
                last = i == 0 and j == len(steps) - 1  # the output (logits): no norm or activation after it
                bias = not cfg.batch_norm or last  # batch norm's shift stands in for the bias
                if cfg.decoder == "transposed":  # output_padding restores the encoder twin's input size exactly
                    k, s, p = cfg.kernels[i], cfg.strides[i], cfg.paddings[i]
                    out_pad = sizes[i] - ((sizes[i + 1] - 1) * s - 2 * p + k)
                    dec.append(nn.ConvTranspose2d(c_in, c_out, k, s, p, output_padding=out_pad, bias=bias))
                else:
                    dec.append(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias))
                if not last:
                    *norm, act = _norm_act(cfg, c_out)
                    if cfg.decoder_blocks and j == len(steps) - 1:  # the stage's residual blocks ride in its last
                        # activation's slot, so every other layer keeps its name (a checkpoint without them loads)
                        act = nn.Sequential(act, *(ResidualBlock(cfg, c_out) for _ in range(cfg.decoder_blocks)))
                    dec.extend([*norm, act])
        self.decoder = nn.Sequential(*dec)  # ends in logits; sigmoid in decode()
        self.to(memory_format=torch.channels_last)  # convolution weights NHWC, as prepare() makes the inputs

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B,3,H,W) in [0,1] -> mu, logvar (B,D); logvar is softly kept inside (-10, 10)."""
        h = self.encoder(x)  # (B, C*h*w)
        # One bad Adam step can throw logvar to where exp() explodes (KL of 1e6 per image seen in a run);
        # tanh bounds it smoothly, is nearly the identity where logvars live (|x| < 3), keeps gradients.
        return self.fc_mu(h), LOGVAR_BOUND * torch.tanh(self.fc_logvar(h) / LOGVAR_BOUND)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I)."""
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B,D) -> pixel logits (B,3,H,W)."""
        return self.decoder(self.fc_dec(z).view(-1, *self.feature_shape))  # (B, C, h, w)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B,D) -> images (B,3,H,W) in [0,1]."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images -> (reconstruction logits, mu, logvar)."""
        mu, logvar = self.encode(x)
        return self.decode_logits(self.reparameterize(mu, logvar)), mu, logvar


def reconstruction_bce(model: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B,3,H,W) in [0,1] -> (logits decoded from the mean vector, no sampling; BCE per image (B,)).

    The one reconstruction error that evaluation (hold-out BCE) and the app's Reconstruct page report."""
    logits = model.decode_logits(model.encode(x)[0])
    return logits, F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))


def vae_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1.0, likelihood: str = "bernoulli") -> dict[str, torch.Tensor]:
    """Per-image loss, averaged over the batch: reconstruction term ("rec") summed over pixels + beta * KL.

    bernoulli: rec = BCE. gaussian: rec = -log N(x | sigmoid(logits), s^2 I) with s^2 the batch's mean
    squared error, i.e. D/2 * (1 + log(2 pi s^2)) for D pixel values (sigma-VAE's optimal sigma).
    "bce" is reported for both, so runs compare. KL(N(mu, sigma^2) || N(0, I)) = -0.5 * sum(1 + log sigma^2
    - mu^2 - sigma^2) (Kingma & Welling 2013, Appendix B). Computed in float32 even under autocast.
    """
    b = x.shape[0]
    logits, x = logits.float(), x.float()
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / b
    if likelihood == "gaussian":
        var = F.mse_loss(torch.sigmoid(logits), x).clamp_min(MIN_VARIANCE)
        rec = 0.5 * x[0].numel() * (1 + torch.log(2 * math.pi * var))
    else:
        rec = bce
    mu, logvar = mu.float(), logvar.float()
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / b
    return {"loss": rec + beta * kl, "rec": rec, "bce": bce, "kl": kl}


def prepare(images: np.ndarray | torch.Tensor, size: int | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 images (B,H,W,3), numpy or torch -> float (B,3,size,size) in [0,1], channels-last (fastest on CPU)."""
    if isinstance(images, torch.Tensor):
        x = images.to(device)
    else:
        x = torch.from_numpy(np.require(images, np.uint8, ["W"])).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255)  # NHWC -> NCHW view (already channels-last in memory)
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)
    return x.contiguous(memory_format=torch.channels_last)


def to_uint8(x: torch.Tensor):
    """float images (B,3,H,W) in [0,1] -> uint8 numpy (B,H,W,3) for display."""
    return (x.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
