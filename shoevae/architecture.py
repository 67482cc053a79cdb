"""The loaded network described from the model itself: each layer, its output shape, its parameters.

layers() runs one blank image through the model with forward hooks, so every shape and count comes
from the modules that exist (nothing is hard-coded); graph_dot() draws the same layers as a
Graphviz diagram, one box per convolution block, for the How it works page; trace() follows one
photo through it (mean and spread of each latent dimension, a sampled z, the decoded shoes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .model import VAE, prepare, to_uint8, vae_loss


@dataclass(frozen=True)
class Layer:
    part: str  # "encoder", "latent" or "decoder"
    name: str  # the module's name in the model ("encoder.0"), or a step that is not a module
    kind: str  # "Conv2d 3→16, kernel 4, stride 2, padding 1", "LeakyReLU", ...
    shape: tuple[int, ...]  # output shape of one image (no batch dimension)
    params: int


def _describe(m: nn.Module) -> str:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        return (f"{type(m).__name__} {m.in_channels}→{m.out_channels}, kernel {m.kernel_size[0]}, "
                f"stride {m.stride[0]}, padding {m.padding[0]}")
    if isinstance(m, nn.Linear):
        return f"Linear {m.in_features}→{m.out_features}"
    if isinstance(m, nn.LeakyReLU):
        return f"LeakyReLU({m.negative_slope:g})"
    return type(m).__name__


def _part(name: str) -> str:
    return "encoder" if name.startswith("encoder") else "decoder" if name.startswith("decoder") else "latent"


@torch.no_grad()
def layers(model: VAE) -> list[Layer]:
    """Every layer in the order an image goes through it (mu and logvar side by side), with shapes."""
    rows: list[Layer] = []
    hooks = []
    for name, m in model.named_modules():
        if name and not list(m.children()):
            def hook(mod: nn.Module, _inp, out, name: str = name) -> None:
                rows.append(Layer(_part(name), name, _describe(mod), tuple(out.shape[1:]),
                                  sum(p.numel() for p in mod.parameters())))
            hooks.append(m.register_forward_hook(hook))
    size = model.cfg.image_size
    device = next(model.parameters()).device
    try:
        mu, _ = model.encode(torch.zeros(1, 3, size, size, device=device))
        n_enc = len(rows)
        rows.append(Layer("latent", "reparameterize", "z = μ + σ·ε, ε ~ N(0, I)", tuple(mu.shape[1:]), 0))
        model.decode_logits(mu)
    finally:
        for h in hooks:
            h.remove()
    view = Layer("latent", "view", "reshape to feature maps", tuple(model.feature_shape), 0)
    rows.insert(n_enc + 2, view)  # after reparameterize and fc_dec
    rows.append(Layer("decoder", "sigmoid", "Sigmoid (logits → pixels in [0, 1])", rows[-1].shape, 0))
    return rows


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _shape(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} × {shape[1]} × {shape[2]}" if len(shape) == 3 else " × ".join(map(str, shape))


def _residual(n: int) -> str:
    """'1 residual block', '2 residual blocks': how a box counts the residual blocks drawn in it."""
    return f"{n} residual block{'s' * (n > 1)}"


def _chain(lines: list[str], blocks: list[tuple[str, str, int]], prefix: str, prev: str, style: str,
           upwards: bool = False) -> str:
    """Append one node per (title, shape, params) block, each linked from the one before; the last node's name.
    `upwards`: edges written from the new node back to the previous one (dir=back), for the decoder's side."""
    for i, (t, s, p) in enumerate(blocks):
        lines.append(f'{prefix}{i} [label="{t}\\n{s} · {p:,} params"{style}];')
        lines.append(f"{prefix}{i} -> {prev} [dir=back];" if upwards else f"{prev} -> {prefix}{i};")
        prev = f"{prefix}{i}"
    return prev


def graph_dot(model: VAE) -> str:
    """A Graphviz diagram: input, one box per conv block, mu/logvar, z, the decoder back up to the output."""
    blocks: list[tuple[str, str, str, int]] = []  # (part, title, shape, params): a conv with its BN and activation
    upsample = False  # an Upsample waiting for the convolution that follows it (the "upsample" decoder)
    stage = 0  # convolutions in the current upsampling stage (decoder_depth > 1 gives it more than one: one box)
    early = (0, 0)  # (count, params) of residual blocks between an Upsample and its convolution (full_size_blocks)
    for layer in layers(model):
        if layer.name in ("fc_mu", "fc_logvar", "fc_dec", "reparameterize", "view", "sigmoid") or "Flatten" in layer.kind:
            continue
        if ".body." in layer.name and upsample:  # a full-size block (full_size_blocks): goes in the next conv's box
            early = (early[0] + layer.name.endswith(".body.0"), early[1] + layer.params)
        elif ".body." in layer.name:  # a residual block (decoder_blocks): counted in its stage's box, not drawn alone
            part, title, shape, p = blocks[-1]
            if layer.name.endswith(".body.0"):
                n = int(m[1]) + 1 if (m := re.search(r"\+ (\d+) residual blocks?$", title)) else 1
                title = re.sub(r" \+ \d+ residual blocks?$", "", title) + f" + {_residual(n)}"
            blocks[-1] = (part, title, shape, p + layer.params)
        elif layer.kind == "Upsample":
            upsample, stage = True, 0
        elif "Conv" in layer.kind and stage and not upsample:  # another 3x3 conv of the same stage
            stage += 1
            part, title, _, p = blocks[-1]  # "Upsample + conv 3×3 32→16" becomes "Upsample + 2 conv 3×3 32→16→16"
            title = re.sub(r"\+ (\d+ )?conv", f"+ {stage} conv", title)
            out = layer.kind.split(",")[0].split("→")[-1]
            blocks[-1] = (part, f"{title}→{out}", _shape(layer.shape), p + layer.params)
        elif "Conv" in layer.kind:
            title = layer.kind.split(",")[0].replace("ConvTranspose2d", "Transposed conv").replace("Conv2d", "Conv")
            title = f"Upsample + {title.replace('Conv', 'conv 3×3')}" if upsample else title
            if early[0]:
                title = title.replace("Upsample +", f"Upsample + {_residual(early[0])} +")
            blocks.append((layer.part, title, _shape(layer.shape), layer.params + early[1]))
            stage, upsample, early = (1 if upsample else 0), False, (0, 0)
        elif blocks:
            part, t, s, p = blocks[-1]
            blocks[-1] = (part, t, _shape(layer.shape), p + layer.params)
    enc = [b[1:] for b in blocks if b[0] == "encoder"]
    dec = [b[1:] for b in blocks if b[0] == "decoder"]
    d, size = model.cfg.latent_dim, model.cfg.image_size
    n_mu = count_parameters(model.fc_mu)
    # A U: the encoder runs down the left, z sits at the bottom, the decoder runs back up the right
    # (decoder edges are written upwards with dir=back, so the arrows still point the way data flows).
    lines = ["digraph vae {", "rankdir=TB; bgcolor=transparent; nodesep=0.6; ranksep=0.25;",
             'node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, fillcolor="#e8f0fe"];',
             f'x [label="photo  3 × {size} × {size}", fillcolor="#ffffff"];']
    prev = _chain(lines, enc, "e", "x", "")
    lines += [f'mu [label="μ (mean)  {d}\\n{n_mu:,} params", fillcolor="#fde7d9"];',
              f'lv [label="log σ² (spread)  {d}\\n{count_parameters(model.fc_logvar):,} params", fillcolor="#fde7d9"];',
              f'z [label="z = μ + σ·ε   ({d})", shape=ellipse, fillcolor="#fff3c4"];',
              f'fc [label="Linear {d}→{count_parameters(model.fc_dec) // (d + 1):,}\\n'
              f'{_shape(model.feature_shape)} · {count_parameters(model.fc_dec):,} params"];',
              f"{prev} -> mu; {prev} -> lv; mu -> z; lv -> z; fc -> z [dir=back];"]
    prev = _chain(lines, dec, "d", "fc", ", fillcolor=\"#e6f4ea\"", upwards=True)
    lines += [f'y [label="reconstruction  3 × {size} × {size}", fillcolor="#ffffff"];', f"y -> {prev} [dir=back];",
              "{rank=same; x; y;}", "}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class Trace:
    """One photo's way through the VAE."""

    mu: np.ndarray  # (D,) mean of each latent dimension
    sigma: np.ndarray  # (D,) spread of each latent dimension
    z: np.ndarray  # (D,) one sample mu + sigma * eps
    from_z: np.ndarray  # uint8 (S,S,3) decoded from z
    from_mu: np.ndarray  # uint8 (S,S,3) decoded from mu
    bce: float  # reconstruction error of from_z (summed over pixels)
    kl: float  # KL(N(mu, sigma^2) || N(0, I))


@torch.inference_mode()
def trace(model: VAE, image: np.ndarray, seed: int = 0) -> Trace:
    """Encode a uint8 photo (H,W,3), draw z with a seeded eps, decode z and mu; the loss terms of that draw."""
    x = prepare(image[None], model.cfg.image_size)
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))
    z = mu + eps * torch.exp(0.5 * logvar)
    logits = model.decode_logits(torch.cat([z, mu]))
    losses = vae_loss(logits[:1], x, mu, logvar)
    images = to_uint8(torch.sigmoid(logits))
    return Trace(mu[0].numpy(), torch.exp(0.5 * logvar)[0].numpy(), z[0].numpy(), images[0], images[1],
                 float(losses["bce"]), float(losses["kl"]))
