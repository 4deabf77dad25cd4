"""One stage autoencoders: the Autoclave RBM (ACRBM) and the Local Observer Convolution (LOC).

Our reading of the ICLR 2022 submission "One Stage Autoencoders for Multi-Domain Learning"
(chapter 01 states every interpretation and why):

* ACRBM (Eqs. 8-14): ``h = softmax(v W + b_h)``, reconstruction ``sigmoid(h W^T)`` without bias,
  ``u = h^T h`` over a batch, ``eta_i = u_ii / sum_j u_ij`` and the loss ``-mean_i log eta_i``.
* AE + ACRBM (Appendix B): a dense autoencoder whose linear code feeds a softmax ACRBM layer;
  code and ACRBM states are concatenated and decoded.  The layer sizes reproduce the paper's
  parameter counts (+197K, +850K, +200K), which dense layers match and convolutions do not.
* LOC (Eqs. 18-22, Appendix C): a small convolutional net maps each image to a non-negative
  "observer kernel" G; the image convolved with its own G is its reconstruction; the MSE is
  switched off below the lower bound ``rho``; rounding the standardised reconstruction gives
  consecutive cluster labels, and the median label splits them into background/foreground.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "acrbm_eta",
    "acrbm_loss",
    "ACRBM",
    "AEACRBM",
    "AEKMeans",
    "count_parameters",
    "offdiagonal_fraction",
    "two_way_partition",
    "LOCNet",
    "observer_reconstruction",
    "loc_loss",
    "loc_labels",
    "median_binary",
    "standardise_images",
]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# --------------------------------------------------------------------------
# ACRBM


def acrbm_eta(h: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Row-normalised diagonal of the batch Gram matrix ``u = h^T h`` (Eq. 13), shape ``(n,)``.

    ``eta_i = u_ii / sum_j u_ij``.  When the rows of ``h`` sum to one (softmax states),
    ``sum_j u_ij = sum_b h_bi`` and ``eta_i`` is the ``h``-weighted mean of unit ``i``'s
    activations: 1 exactly when every sample that uses unit ``i`` uses it fully.
    """
    u = h.T @ h
    return torch.diagonal(u) / (u.sum(dim=1) + eps)


def acrbm_loss(h: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """ACRBM objective (Eq. 14): ``-(1/n) sum_i log eta_i``; zero iff the batch states are one-hot."""
    return -torch.log(acrbm_eta(h, eps) + eps).mean()


def offdiagonal_fraction(h: torch.Tensor) -> float:
    """Share of the mass of ``D = h^T h`` that lies off its diagonal (0 for a diagonal D)."""
    d = h.T @ h
    return float((d.sum() - torch.diagonal(d).sum()) / d.sum())


class ACRBM(nn.Module):
    """Shallow ACRBM (Eqs. 8-9): softmax hidden units, tied bias-free sigmoid reconstruction."""

    def __init__(self, n_visible: int, n_hidden: int):
        super().__init__()
        self.linear = nn.Linear(n_visible, n_hidden)

    @property
    def W(self) -> torch.Tensor:
        """Weights as in the paper, ``(n_visible, n_hidden)``."""
        return self.linear.weight.T

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Hidden states ``h = softmax(v W + b_h)`` (Eq. 8)."""
        return torch.softmax(self.linear(v), dim=1)

    def reconstruct(self, h: torch.Tensor) -> torch.Tensor:
        """``sigmoid(h W^T)`` (Eq. 9), no visible bias."""
        return torch.sigmoid(h @ self.linear.weight)

    def loss(self, v: torch.Tensor) -> torch.Tensor:
        """The ACRBM objective on a batch (no reconstruction term)."""
        return acrbm_loss(self(v))


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class AEACRBM(nn.Module):
    """Autoencoder with an ACRBM layer on its code (Appendix B, Fig. 11).

    encoder: two dense ReLU layers of ``encoder`` units; code ``h_AE``: linear, ``latent`` units;
    ``h_ACRBM = softmax(h_AE W + b)`` with ``n_clusters`` units; decoder input ``[h_AE, h_ACRBM]``,
    two dense ReLU layers of ``decoder`` units, sigmoid output.  Loss: MSE + ``weight`` * ACRBM.
    """

    def __init__(self, n_visible: int = 784, n_clusters: int = 10, encoder: int = 100, latent: int = 90,
                 decoder: int = 100, weight: float = 1.0):
        super().__init__()
        self.encoder = nn.Sequential(_mlp([n_visible, encoder, encoder]), nn.Linear(encoder, latent))
        self.acrbm = ACRBM(latent, n_clusters)
        self.decoder = nn.Sequential(_mlp([latent + n_clusters, decoder, decoder]), nn.Linear(decoder, n_visible),
                                     nn.Sigmoid())
        self.weight = weight

    def forward(self, v: torch.Tensor):
        """``(code, cluster states, reconstruction)``."""
        code = self.encoder(v)
        h = self.acrbm(code)
        return code, h, self.decoder(torch.cat([code, h], dim=1))

    def loss(self, v: torch.Tensor) -> torch.Tensor:
        _, h, rec = self(v)
        return F.mse_loss(rec, v) + self.weight * acrbm_loss(h)


class AEKMeans(nn.Module):
    """The AE + k-means baseline of Appendix B: the ACRBM layer replaced by 10 dense ReLU units."""

    def __init__(self, n_visible: int = 784, encoder: int = 100, latent: int = 100, decoder: int = 100, extra: int = 10):
        super().__init__()
        self.encoder = nn.Sequential(_mlp([n_visible, encoder, encoder]), nn.Linear(encoder, latent))
        self.extra = nn.Sequential(nn.Linear(latent, extra), nn.ReLU())
        self.decoder = nn.Sequential(_mlp([latent + extra, decoder, decoder]), nn.Linear(decoder, n_visible), nn.Sigmoid())

    def forward(self, v: torch.Tensor):
        code = self.encoder(v)
        return code, self.decoder(torch.cat([code, self.extra(code)], dim=1))

    def loss(self, v: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self(v)[1], v)


# --------------------------------------------------------------------------
# LOC


def two_way_partition(V: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact solution of Eq. 17, ``min w^T V w`` over ``w in {-1, 1}^n``, by enumeration (small n).

    ``w_0`` is fixed to +1 (``w`` and ``-w`` score the same).  Returns ``(w, value)``.
    """
    V = np.asarray(V, dtype=float)
    n = len(V)
    if n > 20:
        raise ValueError(f"enumeration of 2^{n - 1} partitions is too slow; n must be <= 20")
    best_w, best = None, np.inf
    for signs in itertools.product((-1.0, 1.0), repeat=n - 1):
        w = np.array((1.0,) + signs)
        value = float(w @ V @ w)
        if value < best:
            best_w, best = w, value
    return best_w, best


class LOCNet(nn.Module):
    """The auto-segmentation network of Appendix C (Fig. 12); output: one kernel per image.

    conv3x3/1 -> conv7x7/2 -> maxpool2 -> conv3x3/2 -> conv7x7/2 (8 filters each, BN + ReLU)
    -> conv1x1 (1 filter, sigmoid) -> maxpool2: an input of side S gives a kernel of side S/32.
    The kernel is normalised to sum to one (our choice: the reconstruction is then a weighted mean).
    """

    def __init__(self, in_channels: int = 3, filters: int = 8):
        super().__init__()

        def block(c_in, k, s):
            return [nn.Conv2d(c_in, filters, k, stride=s, padding=k // 2), nn.BatchNorm2d(filters), nn.ReLU()]

        self.body = nn.Sequential(*block(in_channels, 3, 1), *block(filters, 7, 2), nn.MaxPool2d(2),
                                  *block(filters, 3, 2), *block(filters, 7, 2),
                                  nn.Conv2d(filters, 1, 1), nn.Sigmoid(), nn.MaxPool2d(2))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Observer kernels ``G``, shape ``(B, k, k)``, non-negative, each summing to one."""
        g = self.body(v)[:, 0]
        return g / g.sum(dim=(1, 2), keepdim=True)


def observer_reconstruction(v: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``K(v_i, G_i) = v_i * G_i`` (Eqs. 18-19): each image convolved with its own kernel.

    The same kernel is repeated over the colour channels ("repeat the same a_i").  Zero
    padding keeps the size; for an even kernel side the output is cropped to the input size.
    """
    b, c, height, width = v.shape
    k = G.shape[-1]
    weight = G[:, None, None].expand(b, c, 1, k, k).reshape(b * c, 1, k, k)
    out = F.conv2d(v.reshape(1, b * c, height, width), weight, padding=k // 2, groups=b * c)
    return out[..., :height, :width].reshape(b, c, height, width)


def loc_loss(v: torch.Tensor, G: torch.Tensor, rho: float, per_image: bool = False) -> torch.Tensor:
    """Eqs. 20-22: per-image MSE ``e_i`` of ``v_i`` against ``v_i * G_i``, kept only where ``e_i > rho``."""
    e = ((v - observer_reconstruction(v, G)) ** 2).mean(dim=(1, 2, 3))
    gated = torch.where(e > rho, e, torch.zeros_like(e))
    return gated if per_image else gated.mean()


def standardise_images(v: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per image and channel (the scale on which ``rho`` is read)."""
    mean = v.mean(dim=(2, 3), keepdim=True)
    std = v.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    return (v - mean) / std


def loc_labels(reconstruction: torch.Tensor) -> torch.Tensor:
    """Cluster labels from the floating-point output: round the channel mean, shift to start at 0.

    The labels of each image are consecutive integers 0..K-1 (no gaps, as the paper notes):
    rounding a continuous field that takes every value between its minimum and maximum.
    Returns ``(B, H, W)`` int64.
    """
    levels = torch.round(reconstruction.mean(dim=1))
    return (levels - levels.flatten(1).min(dim=1).values[:, None, None]).long()


def median_binary(labels: np.ndarray) -> np.ndarray:
    """The paper's map from cluster labels to a binary mask: labels above the image's median label -> 1.

    "The first 50% of sorted cluster labels have been mapped to zero (background), the others to
    one (foreground)": the distinct labels present are sorted and split at their median.
    """
    labels = np.asarray(labels)
    present = np.unique(labels)
    cut = present[(len(present) - 1) // 2]  # one label only: all background
    return (labels > cut).astype(np.uint8)
