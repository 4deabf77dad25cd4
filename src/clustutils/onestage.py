"""One stage autoencoders: the Autoclave RBM (ACRBM) and the Local Observer Convolution (LOC).

Our reading of the ICLR 2022 submission "One Stage Autoencoders for Multi-Domain Learning"
(chapter 01 states every interpretation and why):

* ACRBM (Eqs. 8-14): ``h = softmax(v W + b_h)``, reconstruction ``sigmoid(h W^T)`` without bias,
  ``u = h^T h`` over a batch, ``eta_i = u_ii / sum_j u_ij`` and the loss ``-mean_i log eta_i``.
* AE + ACRBM (Appendix B): a dense autoencoder whose linear code feeds a softmax ACRBM layer;
  code and ACRBM states are concatenated and decoded.  By default the ACRBM layer is trained by
  its own objective only and the autoencoder by the reconstruction only (``coupling``).  The
  layer sizes reproduce the paper's parameter counts (+197K, +850K, +200K), which dense layers
  match and convolutions do not.
* LOC (Eqs. 18-22, Appendix C): a small convolutional net maps each image (pixels in [0, 1]) to
  a non-negative "observer kernel" G, the raw sigmoid map of Fig. 12 (not normalised); the image
  convolved with its own G is its reconstruction; the batch MSE is switched off once it falls
  below the lower bound ``rho``.  Training starts with a kernel of large mass (sum of G) and
  stops, through the gate, at a mass that grows with ``rho``; rounding the reconstruction then
  gives consecutive cluster labels whose number grows with that mass (``loc_stopping_mass``),
  and the median label splits them into background/foreground.
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
    "loc_mse",
    "loc_loss",
    "loc_stopping_mass",
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

    ``coupling`` says which parameters each term trains:

    * ``"separate"`` (default): "ACRBMs have been trained without considering a reconstruction
      criterion, either as AE-based or shallow": the ACRBM layer is trained by its objective alone,
      on the code as the autoencoder makes it (the code is detached at the ACRBM's input and the
      states at the decoder's input), and the autoencoder by the reconstruction alone.  One stage:
      both are trained at the same time, from the same batches.
    * ``"joint"``: both terms back-propagate everywhere (a plain multi-output model).  The ACRBM
      objective then also trains the encoder, which can satisfy it by scaling its linear code up
      until the softmax saturates.
    """

    def __init__(self, n_visible: int = 784, n_clusters: int = 10, encoder: int = 100, latent: int = 90,
                 decoder: int = 100, weight: float = 1.0, coupling: str = "separate"):
        super().__init__()
        if coupling not in ("separate", "joint"):
            raise ValueError(f"coupling must be 'separate' or 'joint', got {coupling!r}")
        self.encoder = nn.Sequential(_mlp([n_visible, encoder, encoder]), nn.Linear(encoder, latent))
        self.acrbm = ACRBM(latent, n_clusters)
        self.decoder = nn.Sequential(_mlp([latent + n_clusters, decoder, decoder]), nn.Linear(decoder, n_visible),
                                     nn.Sigmoid())
        self.weight = weight
        self.coupling = coupling

    def forward(self, v: torch.Tensor):
        """``(code, cluster states, reconstruction)``."""
        code = self.encoder(v)
        separate = self.coupling == "separate"
        h = self.acrbm(code.detach() if separate else code)
        return code, h, self.decoder(torch.cat([code, h.detach() if separate else h], dim=1))

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
    The kernel is the sigmoid map itself, entries in (0, 1), so its mass ``sum G`` is free (up to
    (S/32)^2): that mass is what training with the gate of Eq. 21 sets, and what sets the number
    of clusters.  ``normalise=True`` divides each kernel by its sum (an earlier reading of ours,
    under which v * G is a weighted mean and the MSE on [0, 1] pixels can never exceed rho = 0.5).
    """

    def __init__(self, in_channels: int = 3, filters: int = 8, normalise: bool = False):
        super().__init__()

        def block(c_in, k, s):
            return [nn.Conv2d(c_in, filters, k, stride=s, padding=k // 2), nn.BatchNorm2d(filters), nn.ReLU()]

        self.body = nn.Sequential(*block(in_channels, 3, 1), *block(filters, 7, 2), nn.MaxPool2d(2),
                                  *block(filters, 3, 2), *block(filters, 7, 2),
                                  nn.Conv2d(filters, 1, 1), nn.Sigmoid(), nn.MaxPool2d(2))
        self.normalise = normalise

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Observer kernels ``G``, shape ``(B, k, k)``, entries in (0, 1) (summing to one if ``normalise``)."""
        g = self.body(v)[:, 0]
        return g / g.sum(dim=(1, 2), keepdim=True) if self.normalise else g


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


def loc_mse(v: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Per-image MSE of ``v_i`` against ``v_i * G_i`` (the summand of Eq. 20), shape ``(B,)``."""
    return ((v - observer_reconstruction(v, G)) ** 2).mean(dim=(1, 2, 3))


def loc_loss(v: torch.Tensor, G: torch.Tensor, rho: float, per_image: bool = False) -> torch.Tensor:
    """Eqs. 20-22: the batch MSE ``e = (1/k) sum_i MSE_i`` if ``e > rho``, else 0 (no gradient).

    Eq. 20 averages over the ``k`` images of the batch before the gate of Eq. 21, so the gate is
    on the batch.  ``per_image=True`` returns the per-image MSEs, each gated on its own (a variant
    used to reason about single images).
    """
    e = loc_mse(v, G)
    if per_image:
        return torch.where(e > rho, e, torch.zeros_like(e))
    e = e.mean()
    return torch.where(e > rho, e, torch.zeros_like(e))


def loc_stopping_mass(v: torch.Tensor, shape: torch.Tensor, rho: float) -> torch.Tensor:
    """Where the gate of Eq. 21 stops a kernel ``G = c * shape`` whose mass ``c`` descends from above.

    For one image and a fixed kernel shape (``sum shape = 1``) the MSE is a quadratic in ``c``:
    ``e(c) = A - 2 c B + c^2 C`` with ``b = v * shape``, ``A = mean v^2``, ``B = mean v b``,
    ``C = mean b^2``; it is smallest at ``c* = B / C`` with ``e_min = A - B^2 / C``.  Descending
    from a larger mass, the gate closes at the first ``c`` with ``e(c) = rho``:
    ``c_rho = c* + sqrt((rho - e_min) / C)``, which grows with ``rho`` (and ``c*`` if
    ``rho <= e_min``: the gate never closes).  ``v``: ``(B, C, H, W)``; ``shape``: ``(B, k, k)``.
    Returns ``(B,)``.
    """
    b = observer_reconstruction(v, shape)
    A, B, C = (v**2).mean(dim=(1, 2, 3)), (v * b).mean(dim=(1, 2, 3)), (b**2).mean(dim=(1, 2, 3))
    c_star, e_min = B / C, A - B**2 / C
    return c_star + torch.sqrt(torch.clamp(rho - e_min, min=0.0) / C)


def standardise_images(v: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per image and channel (the pixels our k-means baseline clusters)."""
    mean = v.mean(dim=(2, 3), keepdim=True)
    std = v.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    return (v - mean) / std


def loc_labels(reconstruction: torch.Tensor) -> torch.Tensor:
    """Cluster labels from the floating-point output: round the channel mean, shift to start at 0.

    The labels of each image are consecutive integers 0..K-1 (no gaps, as the paper notes):
    rounding a continuous field that takes every value between its minimum and maximum.  For
    pixels in [0, 1] and a kernel of mass c, K is about ``round(c * max) - round(c * min) + 1``
    of the blurred image: the number of clusters follows the kernel's mass.
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
