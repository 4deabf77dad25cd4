"""One stage autoencoders: the Autoclave RBM (ACRBM) and the Local Observer Convolution (LOC).

Our reading of the ICLR 2022 submission "One Stage Autoencoders for Multi-Domain Learning"
(chapter 01 states every interpretation and why):

* ACRBM (Eqs. 8-14): ``h = softmax(v W + b_h)``, reconstruction ``sigmoid(h W^T)`` without bias,
  ``u = h^T h`` over a batch, ``eta_i = u_ii / sum_j u_ij`` and the loss ``-mean_i log eta_i``.
* AE + ACRBM (Appendix B, Fig. 11): a dense autoencoder whose linear code ``h_AE`` feeds a softmax
  ACRBM layer; ``[h_AE, h_ACRBM]`` is decoded.  By default the model is trained end to end
  (``coupling="joint"``, the abstract's "end-to-end training"): the reconstruction reaches the ACRBM
  layer through ``h_ACRBM`` and the ACRBM objective reaches the encoder.  The weight of the ACRBM
  term is not in the paper; ``Settings.acrbm_weight`` states ours.  ``coupling="separate"`` (each
  part trained by its own term only) is kept as a variant.  The layer sizes reproduce the paper's
  parameter counts (+197K, +850K, +200K), which dense layers match and convolutions do not.
* AE + k-means (Appendix B): k-means restarts on the codes, kept by lowest inertia or, as the paper
  does, by the highest accuracy (which uses the labels): :func:`kmeans_selections`.
* LOC (Eqs. 18-22, Appendix C): a small convolutional net maps each image (pixels in [0, 1]) to
  a non-negative "observer kernel" G, the raw sigmoid map of Fig. 12 (not normalised); the image
  convolved with its own G is its reconstruction; the batch MSE is switched off once it falls
  below the lower bound ``rho``.  Training starts with a kernel of large mass (sum of G) and
  stops, through the gate, at a mass that grows with ``rho``; rounding the reconstruction then
  gives consecutive cluster labels whose number grows with that mass (``loc_stopping_mass``).
  Binary masks (Section 3.2): the lower half of each image's pixels, ranked by label, is background
  (:func:`rank_binary`); :func:`distinct_median_binary` is an earlier reading kept as a variant.

:class:`Settings` holds the budget of the chapter's first part (ACRBM, Table 1; defaults: the paper's
values) and :data:`BUDGET` the other profiles as stated changes; :class:`LocSettings` and
:data:`LOC_BUDGET` do the same for its second part (LOC, Table 2).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import metrics
from ..kmeans import kmeans
from ..settings import Budget
from ..train import batched, fit

__all__ = [
    "train",
    "acrbm_eta",
    "acrbm_loss",
    "ACRBM",
    "AEACRBM",
    "AEKMeans",
    "code_spread",
    "kmeans_selections",
    "count_parameters",
    "offdiagonal_fraction",
    "two_way_partition",
    "LOCNet",
    "observer_reconstruction",
    "loc_mse",
    "loc_loss",
    "loc_stopping_mass",
    "loc_labels",
    "rank_binary",
    "distinct_median_binary",
    "uniform_kernels",
    "standardise_images",
    "Settings",
    "BUDGET",
    "LocSettings",
    "LOC_BUDGET",
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
    ``h_ACRBM = softmax(h_AE W + b)`` with ``n_clusters`` units (Eq. 8); decoder input
    ``[h_AE, h_ACRBM]``, two dense ReLU layers of ``decoder`` units, sigmoid output.

    Loss: ``MSE + weight * L_ACRBM`` with the MSE averaged over pixels and samples and ``L_ACRBM``
    the objective of Eq. 14 on the batch.  The paper gives no weight.  The default, ``weight = 1/D``
    (``D = n_visible`` pixels), trains under Adam like the per-sample *summed* squared error plus the
    ACRBM term with weight 1: Adam is invariant to a constant factor on the loss (up to its epsilon).

    ``coupling`` says which parameters each term trains:

    * ``"joint"`` (default, the paper's "end-to-end training"): both terms back-propagate
      everywhere; the reconstruction reaches the ACRBM layer through ``h_ACRBM`` and the ACRBM
      objective reaches the encoder.  With a weight of order 1 against the per-pixel MSE the
      encoder satisfies the ACRBM term by scaling its linear code up until the softmax saturates
      (watch :func:`code_spread`).
    * ``"separate"`` (a variant): "ACRBMs have been trained without considering a reconstruction
      criterion" read as a routing of gradients: the ACRBM layer is trained by its objective alone,
      on the code as the autoencoder makes it (the code is detached at the ACRBM's input and the
      states at the decoder's input), and the autoencoder by the reconstruction alone.
    """

    def __init__(self, n_visible: int = 784, n_clusters: int = 10, encoder: int = 100, latent: int = 90,
                 decoder: int = 100, weight: float | None = None, coupling: str = "joint"):
        super().__init__()
        if coupling not in ("separate", "joint"):
            raise ValueError(f"coupling must be 'separate' or 'joint', got {coupling!r}")
        weight = 1 / n_visible if weight is None else weight
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.encoder = nn.Sequential(_mlp([n_visible, encoder, encoder]), nn.Linear(encoder, latent))
        self.acrbm = ACRBM(latent, n_clusters)
        self.decoder = nn.Sequential(_mlp([latent + n_clusters, decoder, decoder]), nn.Linear(decoder, n_visible),
                                     nn.Sigmoid())
        self.weight = weight
        self.coupling = coupling

    def forward(self, v: torch.Tensor):
        """``(code h_AE, cluster states h_ACRBM, reconstruction)``."""
        code = self.encoder(v)
        separate = self.coupling == "separate"
        h = self.acrbm(code.detach() if separate else code)
        return code, h, self.decoder(torch.cat([code, h.detach() if separate else h], dim=1))

    def loss(self, v: torch.Tensor) -> torch.Tensor:
        """``MSE(v, v_hat) + weight * L_ACRBM(h_ACRBM)`` on a batch."""
        _, h, rec = self(v)
        return F.mse_loss(rec, v) + self.weight * acrbm_loss(h)


def code_spread(model: nn.Module, x: torch.Tensor, batch_size: int = 10000) -> float:
    """Standard deviation of the code ``h_AE`` over all entries of ``model.encoder(x)``: a saturation check.

    A softmax on a linear code saturates (one-hot states, zero gradient for the reconstruction)
    when the code's scale grows; a code spread far above its value at the start of training is
    the sign that the ACRBM term is being satisfied by scaling rather than by grouping.
    """
    model.eval()
    return float(batched(model.encoder, x, batch_size).std())


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


def kmeans_selections(x, y, k: int, n_init: int, seed: int = 0) -> dict:
    """Appendix B's k-means protocol and k-means' own: ``n_init`` k-means++ restarts, two selections.

    Restart ``j`` is :func:`clustutils.kmeans.kmeans` with one initialisation and seed ``seed + j``.
    Returns ``{"inertia": ..., "accuracy": ...}``, each ``{"labels", "inertia", "restart"}``:

    * ``"inertia"``: the restart of lowest inertia, what k-means itself keeps (no labels used);
    * ``"accuracy"``: the restart of highest majority-vote accuracy against ``y``, the paper's
      "the one that achieved the maximum accuracy has been selected": **it uses the labels**.

    and ``"per_restart"``: ``{"inertia": (n_init,), "majority_acc": (n_init,)}``, every restart's scores in
    order, so that a caller can see what a selection among the first ``n`` restarts would have kept.
    """
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    runs = [kmeans(x, k, n_init=1, seed=seed + j, progress=False) for j in range(n_init)]
    by_inertia = min(range(n_init), key=lambda j: runs[j].inertia)
    accuracies = [metrics.majority_acc(y, r.labels) for r in runs]
    by_accuracy = int(np.argmax(accuracies))
    chosen = {name: {"labels": runs[j].labels, "inertia": runs[j].inertia, "restart": j}
              for name, j in (("inertia", by_inertia), ("accuracy", by_accuracy))}
    return {**chosen, "per_restart": {"inertia": np.array([r.inertia for r in runs]),
                                      "majority_acc": np.array(accuracies)}}


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
    padding ``k // 2`` keeps the size; for an even kernel side the output is cropped to the input
    size at the top left.  Computed as a cross-correlation (``F.conv2d``): Eq. 18's convolution is the
    same with the kernel flipped, which a learned kernel absorbs and a uniform one does not notice.
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


def rank_binary(labels: np.ndarray) -> np.ndarray:
    """Section 3.2's binary mask, read literally: rank the image's pixels by cluster label, the lower 50 % is background.

    "[B]inary segmentation according to the median cluster label for each example separately. The
    first 50 % of sorted clusters labels have been mapped to zero (background), while others
    assigned to one (foreground)."  The sorted list is that of the image's *pixel* labels.

    Tie rule (the cluster that straddles the median pixel): clusters are kept whole, so the cut is
    placed between two consecutive labels, at the cut whose background share of the pixels is
    closest to 50 % (an exact tie goes to the lower cut: less background).  With two or more labels
    both sides are non-empty; an image with a single label is all background.
    Returns a ``uint8`` mask of the shape of ``labels`` (1 = foreground).
    """
    labels = np.asarray(labels)
    present, counts = np.unique(labels, return_counts=True)
    if len(present) == 1:
        return np.zeros(labels.shape, dtype=np.uint8)
    background = np.cumsum(counts)[:-1]  # background pixels when labels <= present[t] are background
    distance = np.abs(2 * background - labels.size)  # 2 N |share - 1/2|, in integers: exact ties stay ties
    cut = present[int(np.argmin(distance))]  # argmin: the first (lower) cut on an exact tie
    return (labels > cut).astype(np.uint8)


def distinct_median_binary(labels: np.ndarray) -> np.ndarray:
    """A variant of the binary map: labels above the median of the image's *distinct* labels -> 1.

    The distinct labels present are sorted and split at their median (the lower half of the
    *labels*, not of the pixels, is background; one label only: all background).  Our first
    reading of Section 3.2; it ignores how many pixels each label holds, so with three labels only
    the top one is foreground, however small.
    """
    labels = np.asarray(labels)
    present = np.unique(labels)
    cut = present[(len(present) - 1) // 2]
    return (labels > cut).astype(np.uint8)


def uniform_kernels(G: torch.Tensor) -> torch.Tensor:
    """Uniform kernels of the same side and mass as ``G`` (``(B, k, k)``): the untrained control of Table 2.

    Each kernel is ``sum(G_i) / k^2`` everywhere: the image blurred by a box of the kernel's
    side and scaled by the trained mass, without the trained shape.
    """
    k2 = G.shape[-1] * G.shape[-2]
    return (G.sum(dim=(1, 2), keepdim=True) / k2).expand_as(G).clone()


# --------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Settings:
    """Chapter 1's first part (ACRBM, Table 1).  The defaults are the paper's values (Table 3): the ``full`` profile.

    Where the paper gives no value the default is ours, the same in every profile, and says so in
    its comment: the linear study of Section 2 is not in the paper, the weight of the ACRBM term
    and the number of runs behind the paper's "±" are not stated.
    """

    # Section 2: tied and untied linear autoencoders (ours, not in the paper)
    n_linear: int = 20000
    linear_epochs: int = 30
    # Table 1 (MNIST, Table 3's settings)
    n_train: int = 60000
    n_test: int = 10000
    seeds: tuple = (0, 1, 2, 3, 4)  # ours: the paper's "±" does not say over how many runs
    batch_size: int = 256
    pixel_restarts: int = 100  # ours: the paper does not say how k-means on pixels was run
    shallow_epochs: int = 20
    shallow_lr: float = 1e-2
    shallow_beta1: float = 0.01
    ae_epochs: dict = field(default_factory=lambda: {10: 500, 30: 500})
    ae_lr: float = 1e-3
    ae_beta1: dict = field(default_factory=lambda: {10: 0.05, 30: 0.1})
    coupling: str = "joint"  # "end-to-end training" (abstract, Fig. 11)
    acrbm_weight: float = 1 / 784  # ours: not in the paper; = per-sample summed SSE + ACRBM term, weight 1
    variant_seeds: tuple = (0, 1, 2, 3, 4)  # the coupling variants (separate; joint with weight 1)
    ae_kmeans_epochs: int = 500
    restarts: int = 500  # k-means restarts on the AE codes (Appendix B)
    sweep_sizes: tuple = (10, 30, 100, 300, 1000, 2000)  # Fig. 9
    sweep_epochs: int = 20
    tsne_points: int = 3000  # ours


@dataclass(frozen=True)
class LocSettings:
    """Chapter 1's second part (LOC, Table 2): the paper's values (Table 4) as defaults, the ``full`` profile.

    Where the paper gives no value the default is ours and says so: the image size and how k-means was run.
    """

    image_size: int = 256  # ours: the paper states no size
    n_flowers: int | None = None  # None: every image
    loc_epochs: int = 50
    loc_batch: int = 64
    loc_lr: float = 1e-3
    rho: float = 0.5
    flower_kmeans_restarts: int = 5  # ours: the paper does not say how k-means was run


_CPU = {
    "pixel_restarts": (10, "time: 10 restarts take 5 s, 100 take 53 s on one core, and reach an inertia 0.005% lower "
                           "(measured; full: 100, our choice)"),
    "ae_epochs": ({10: 15, 30: 6}, "time: an epoch takes about 4 s (10 clusters) and 16 s (30) on one core; 500 take hours"),
    "variant_seeds": ((0,), "time: one seed for each coupling variant"),
    "ae_kmeans_epochs": (15, "time: as many epochs as AE + ACRBM with 10 clusters"),
    "sweep_sizes": ((10, 30, 100, 300, 1000), "time: 2,000 units cost twice 1,000"),
    "sweep_epochs": (3, "time"),
    "tsne_points": (1500, "time: t-SNE grows faster than linearly with the points (full: 3,000, our choice)"),
}
_SMOKE = {
    **_CPU,
    "n_linear": (3000, "CI: under 2 minutes a notebook"), "linear_epochs": (3, "CI"),
    "n_train": (3000, "CI"), "n_test": (2000, "CI"), "seeds": ((0,), "CI"), "pixel_restarts": (3, "CI"),
    "shallow_epochs": (3, "CI"), "ae_epochs": ({10: 1, 30: 1}, "CI"), "ae_kmeans_epochs": (1, "CI"),
    "restarts": (3, "CI"), "sweep_sizes": ((10, 30), "CI"), "sweep_epochs": (1, "CI"), "tsne_points": (400, "CI"),
}
#: ``gpu``, sized from the H200 step times measured in issue 14 (eager PyTorch).  The AE + ACRBM step is launch-bound:
#: 3.65 ms on the H200, about what one CPU core takes (Performance page), so cpu's epochs cost about as long there
#: (about 1.5 minutes for the chapter); more epochs wait for compiled steps (0.41 ms measured with graph capture).
#: What the GPU makes cheap runs at the paper's values: k-means (the torch backend batches restarts on the device)
#: and the sweep's sizes.
_GPU = {
    "seeds": ((0, 1, 2), "time: 3 seeds for every ACRBM row in a GPU window (cpu and full: 5, our choice)"),
    "ae_epochs": ({10: 15, 30: 6}, "the step is launch-bound on a GPU (3.65 ms on one H200, about one CPU core's time): "
                                   "cpu's epochs; 500 need compiled steps"),
    "variant_seeds": ((0,), "time: one seed for each coupling variant"),
    "ae_kmeans_epochs": (15, "as many epochs as AE + ACRBM with 10 clusters"),
    "sweep_epochs": (5, "time: each of the six sizes trains 5 epochs (about 1 ms a step)"),
}
#: Chapter 1's first part (ACRBM, Table 1): its profiles.
BUDGET = Budget(Settings(), {
    "smoke": _SMOKE,
    "cpu": _CPU,
    "gpu": _GPU,
})

_LOC_CPU = {
    "image_size": (128, "time: LOC at 256 px costs 4x per epoch (full: 256, our choice; the paper states no size)"),
    "loc_epochs": (30, "time: the gate has closed for every batch by then (about epoch 25)"),
}
_LOC_SMOKE = {
    **_LOC_CPU,
    "image_size": (96, "CI: the smallest size whose 3x3 kernel starts with the gate open"),
    "n_flowers": (120, "CI"), "loc_epochs": (2, "CI"),
}
#: Chapter 1's second part (LOC, Table 2): its profiles.  ``gpu`` runs the paper's schedule at cpu's image size: at
#: 128 px the 635 training flowers (of 846 with masks) make 10 steps of 64 an epoch: 500 steps for the paper's 50
#: epochs, well under a minute on one GPU (estimated, not measured).
LOC_BUDGET = Budget(LocSettings(), {
    "smoke": _LOC_SMOKE,
    "cpu": _LOC_CPU,
    "gpu": {"image_size": (128, "the size of the cpu run, so the two compare; the paper states no size (full: 256, ours)")},
})


# --------------------------------------------------------------------------
# The chapter's training recipe


def train(model: nn.Module, x: torch.Tensor, settings: Settings | None = None, *, row: int = 10, seed: int = 0,
          epochs: int | None = None, on_epoch_end=None, desc: str | None = None, progress: bool = True) -> list[float]:
    """Train an :class:`ACRBM`, :class:`AEACRBM` or :class:`AEKMeans` on ``x`` as Table 3 does; the loss per epoch.

    Adam on ``model.loss`` in batches of ``settings.batch_size`` through the engine :func:`clustutils.train.fit`:
    the shallow ACRBM with ``shallow_lr`` and ``beta_1 = shallow_beta1`` for ``shallow_epochs``; AE + ACRBM with
    ``ae_lr`` and the ``beta_1`` and epochs of Table 1's ``row`` (10 or 30 clusters); the autoencoder for
    k-means with ``ae_lr``, row 10's ``beta_1`` and ``ae_kmeans_epochs``.  ``settings`` defaults to the paper's
    (``Settings()``); ``epochs`` overrides the number of epochs (e.g. the sweep of Fig. 9).
    """
    s = settings or Settings()
    if isinstance(model, ACRBM):
        lr, beta1, default_epochs = s.shallow_lr, s.shallow_beta1, s.shallow_epochs
    elif isinstance(model, AEACRBM):
        lr, beta1, default_epochs = s.ae_lr, s.ae_beta1[row], s.ae_epochs[row]
    elif isinstance(model, AEKMeans):
        lr, beta1, default_epochs = s.ae_lr, s.ae_beta1[10], s.ae_kmeans_epochs
    else:
        raise TypeError(f"train takes an ACRBM, AEACRBM or AEKMeans, not {type(model).__name__}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(beta1, 0.999))
    return fit(model, lambda m, xb: m.loss(xb), (x,), epochs=default_epochs if epochs is None else epochs,
               batch_size=s.batch_size, optimizer=optimizer, seed=seed, on_epoch_end=on_epoch_end,
               desc=desc or type(model).__name__, progress=progress)
