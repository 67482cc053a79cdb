"""The adversarial patch term: a small critic that tells photos' patches from drawn ones, and the weight that
keeps its pull on the decoder in proportion to the likelihood's.

    critic = PatchCritic()
    critic_loss(critic, photos, drawings.detach())  # the critic's own loss (hinge)
    fool = fooling_term(critic, drawings)           # the decoder's term: make drawn patches score as photos
    w = adaptive_weight(likelihood_grad, fool_grad, tc.adversarial)  # how hard that term pulls

The pixel and feature terms average over every shoe that fits a style vector, so drawings come out smooth;
a critic that scores each 46 px patch as real or drawn rewards detail a photo would have, and punishes
periodic artefacts no photo has (VAE-GAN, Larsen et al. 2016; PatchGAN, Isola et al. 2017). As in the
KL auto-encoder of latent diffusion (Esser et al. 2021; Rombach et al. 2022): hinge loss, a weight adapted
each step so the term's gradient at the decoder's last layer is `tc.adversarial` times the likelihood's,
and a start after the decoder has learnt to draw (`tc.adversarial_start`). Spectral norm (Miyato et al.
2018) keeps the critic smooth without batch statistics. Training only: nothing here is shipped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

MAX_RATIO = 1e7  # the gradient ratio behind the weight never exceeds this (a critic whose gradient vanishes). Not
# latent diffusion's 1e4: its likelihood is an L1 term, while the Gaussian one here sums 55K values over a small
# shared variance, and its gradient at the last layer is 3e4-1.2e5 times the critic term's (docs/model.md)


class PatchCritic(nn.Module):
    """Images (B,3,H,W) in [0, 1] -> one score per overlapping patch (B,1,h,w): high for photo-like patches.

    Three stride-2 4x4 convolutions then a stride-1 one: each score sees a 46 px patch (a third of a
    136 px shoe: a heel, a lace panel, a buckle); `width` filters in the first layer, doubling after."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        chans = (3, width, 2 * width, 4 * width)
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [spectral_norm(nn.Conv2d(chans[i], chans[i + 1], 4, 2, 1)), nn.LeakyReLU(0.2)]
        layers.append(spectral_norm(nn.Conv2d(chans[-1], 1, 4, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float() * 2 - 1)


def critic_loss(critic: PatchCritic, photos: torch.Tensor, drawings: torch.Tensor) -> torch.Tensor:
    """The critic's hinge loss: photos' patches pushed above 1, drawn ones below -1 (pass drawings detached)."""
    return F.relu(1 - critic(photos)).mean() + F.relu(1 + critic(drawings)).mean()


def fooling_term(critic: PatchCritic, drawings: torch.Tensor) -> torch.Tensor:
    """The decoder's adversarial term: minus the drawn patches' mean score (lower when they pass for photos)."""
    return -critic(drawings).mean()


def adaptive_weight(likelihood_grad: torch.Tensor, fool_grad: torch.Tensor, scale: float) -> float:
    """`scale` * |likelihood gradient| / |fooling term's gradient|, both at the decoder's last layer: the term
    then pulls that layer `scale` times as hard as the likelihood does, whatever the two losses' sizes."""
    ratio = likelihood_grad.norm() / (fool_grad.norm() + 1e-8)
    return float(scale * ratio.clamp(max=MAX_RATIO))


class Adversary:
    """The critic, its optimizer and the decoder's last layer: the adversarial part of each training step.

    `backward` replaces the step's `loss.backward()`, adding the fooling term at the adapted weight when
    `active`; `step` then trains the critic on the batch's photos and drawings. The likelihood's gradient
    norm at the last layer is the previous step's (read off that layer's gradient, less the fooling term's
    share), so the weight costs one small backward through the critic, not a second one through the loss."""

    def __init__(self, last_layer: nn.Module, scale: float, lr: float, device: torch.device | str = "cpu") -> None:
        self.critic = PatchCritic().to(device)
        self.optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.9))
        self.last, self.scale = last_layer.weight, scale
        self.likelihood_norm: torch.Tensor | None = None

    def backward(self, loss: torch.Tensor, drawings: torch.Tensor, active: bool) -> dict[str, float]:
        """loss.backward(), plus the adapted fooling term when `active`: {"fool": its value, "adv_weight": its weight}."""
        if not active or self.likelihood_norm is None:
            loss.backward()
            self.likelihood_norm = self.last.grad.detach().norm()
            return {"fool": 0.0, "adv_weight": 0.0}
        fool = fooling_term(self.critic, drawings)
        (fool_grad,) = torch.autograd.grad(fool, self.last, retain_graph=True)
        weight = adaptive_weight(self.likelihood_norm, fool_grad, self.scale)
        (loss + weight * fool).backward()
        self.likelihood_norm = (self.last.grad.detach() - weight * fool_grad).norm()
        return {"fool": fool.item(), "adv_weight": weight}

    def step(self, photos: torch.Tensor, drawings: torch.Tensor) -> float:
        """One critic update on these photos and (detached) drawings; its hinge loss."""
        loss = critic_loss(self.critic, photos, drawings.detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
