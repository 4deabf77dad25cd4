"""ACOL + GAR (Kilinc & Uysal, ICLR 2018): clustering by pseudo-supervision with graph regularisation.

The pieces of the paper, each usable on its own:

* :func:`acol_pool` and :func:`pooling_matrix`: the Auto-clustering Output Layer (Eqs. 1-3), ``n_p``
  parents with ``k_s`` softmax duplicates each, summed onto the parents by the fixed matrix
  ``W^(L) = [I_np ... I_np]^T`` (softmax node ``j`` belongs to parent ``j mod n_p``).
* :func:`affinity`, :func:`balance` (Eqs. 5-6) on ``B = max(0, Z)`` and their per-parent versions
  :func:`parent_affinity`, :func:`parent_balance` (Eqs. 10-12).
* :data:`ROTATION_FLIPS`, :func:`transform_batch`, :func:`pseudo_batch`: the eight rotation/flip
  transformations of Eq. 15 and the transformed pseudo-labelled batches of Algorithm 1, built with
  one tensor operation per transformation (no per-example Python).
* :class:`GarCNN`: the 6-layer CNN of Table 2 (widths configurable for reduced CPU runs).
* :func:`train_gar`: Algorithm 1 with the dataset kept as one tensor on the device;
  :func:`embed` and :func:`evaluate` for k-means on layer F.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

__all__ = [
    "pooling_matrix", "acol_pool", "affinity", "balance", "parent_blocks", "parent_affinity", "parent_balance",
    "gar_penalty", "ROTATION_FLIPS", "TRANSFORM_NAMES", "apply_transform", "transform_batch", "pseudo_batch",
    "GarCNN", "GarConfig", "train_gar", "embed", "evaluate",
]


# --------------------------------------------------------------------------
# ACOL (Eqs. 1-3)


def pooling_matrix(n_parents: int, k_s: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The fixed ACOL pooling weights ``W^(L) = [I_np ... I_np]^T`` of shape ``(n_p * k_s, n_p)``."""
    return torch.eye(n_parents, dtype=dtype, device=device).repeat(k_s, 1)


def acol_pool(z: torch.Tensor, n_parents: int) -> torch.Tensor:
    """Parent probabilities ``Y = softmax(Z) W^(L)`` (Eq. 3), computed as a reshape-and-sum.

    ``z`` has ``n = n_p * k_s`` columns; node ``j`` belongs to parent ``j mod n_p``.
    """
    probs = torch.softmax(z, dim=1)
    return probs.reshape(len(z), -1, n_parents).sum(1)


# --------------------------------------------------------------------------
# GAR (Eqs. 4-7, 10-13)


def _off_diagonal_ratio(matrix: torch.Tensor) -> torch.Tensor:
    """``sum_{i != j} A_ij / ((n - 1) sum_i A_ii)`` over the last two dimensions."""
    n = matrix.shape[-1]
    trace = torch.diagonal(matrix, dim1=-2, dim2=-1).sum(-1)
    return (matrix.sum((-2, -1)) - trace) / ((n - 1) * trace)


def affinity(b: torch.Tensor) -> torch.Tensor:
    """Affinity (Eq. 5) of ``B`` (m x n, non-negative): off-diagonal mass of ``N = B^T B``; 0 iff rows one-hot."""
    return _off_diagonal_ratio(b.T @ b)


def balance(b: torch.Tensor) -> torch.Tensor:
    """Balance (Eq. 6): the affinity formula on ``V = v^T v``, ``v = diag(B^T B)``; 1 iff columns equally used."""
    v = (b * b).sum(0)
    return _off_diagonal_ratio(torch.outer(v, v))


def parent_blocks(b: torch.Tensor, n_parents: int) -> torch.Tensor:
    """The ``(n_p, m, k_s)`` slices of ``B``: for parent ``k`` the columns of its ``k_s`` duplicates."""
    m = len(b)
    return b.reshape(m, -1, n_parents).permute(2, 0, 1)


def parent_affinity(b: torch.Tensor, n_parents: int) -> torch.Tensor:
    """Modified affinity (Eq. 11): Eq. 5 on each ``k_s x k_s`` slice of ``N`` (Eq. 10), averaged over parents."""
    blocks = parent_blocks(b, n_parents)
    return _off_diagonal_ratio(blocks.transpose(1, 2) @ blocks).mean()


def parent_balance(b: torch.Tensor, n_parents: int) -> torch.Tensor:
    """Modified balance (Eq. 12): Eq. 6 on each parent's ``V`` slice, averaged over parents."""
    v = (parent_blocks(b, n_parents) ** 2).sum(1)  # (n_p, k_s)
    return _off_diagonal_ratio(v[:, :, None] * v[:, None, :]).mean()


def gar_penalty(z: torch.Tensor, n_parents: int, c_alpha: float = 0.1, c_beta: float = 1.0, c_f: float = 1e-6,
                per_parent: bool = True) -> torch.Tensor:
    """``c_alpha * affinity + c_beta * (1 - balance) + c_F * sum Z^2`` on ``B = ReLU(Z)`` (Eqs. 7, 13).

    ``per_parent`` selects the modified terms of Eqs. 11-12 (the paper's choice) or Eqs. 5-6.
    The Frobenius term is on ``Z`` and squared, as in the authors' code (the paper writes ``||B||_F``).
    A small epsilon guards the ratios when a whole batch leaves some parent's nodes silent.
    """
    b = F.relu(z) + 1e-12
    if per_parent:
        alpha, beta = parent_affinity(b, n_parents), parent_balance(b, n_parents)
    else:
        alpha, beta = affinity(b), balance(b)
    return c_alpha * alpha + c_beta * (1 - beta) + c_f * (z * z).sum()


# --------------------------------------------------------------------------
# Transformations (Eq. 15) and pseudo-labelled batches (Algorithm 1)

#: Eq. 15 as (number of counter-clockwise quarter turns, flip horizontally first); T1 is the identity.
ROTATION_FLIPS: tuple[tuple[int, bool], ...] = (
    (0, False), (1, False), (2, False), (3, False), (0, True), (1, True), (2, True), (3, True))
TRANSFORM_NAMES = ("identity", "rot90", "rot180", "rot270", "flip", "flip+rot90", "flip+rot180", "flip+rot270")


def apply_transform(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    """One transformation of Eq. 15 on images ``(..., H, W)``: horizontal flip, then rotation."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, quarter_turns, dims=(-2, -1)) if quarter_turns % 4 else x


def transform_batch(x: torch.Tensor, t: torch.Tensor, transforms: Sequence[tuple[int, bool]] = ROTATION_FLIPS) -> torch.Tensor:
    """``X~ = T (.) X`` (Eq. 8): example ``i`` goes through ``transforms[t_i]``.

    One masked tensor operation per transformation, so the cost does not grow with Python loops
    over examples.  Images must be square when rotations by 90 degrees are used.
    """
    out = x.clone()
    for j, (turns, flip) in enumerate(transforms):
        if j == 0 and turns == 0 and not flip:
            continue
        mask = t == j
        if mask.any():
            out[mask] = apply_transform(x[mask], turns, flip)
    return out


def pseudo_batch(x: torch.Tensor, n_parents: int, generator: torch.Generator | None = None,
                 transforms: Sequence[tuple[int, bool]] = ROTATION_FLIPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw uniform pseudo parent labels ``t`` and return ``(T (.) X, t)`` (first lines of Algorithm 1)."""
    t = torch.randint(0, n_parents, (len(x),), generator=generator, device="cpu").to(x.device)
    return transform_batch(x, t, transforms[:n_parents]), t


# --------------------------------------------------------------------------
# The model of Table 2


class GarCNN(nn.Module):
    """Table 2: 2x(conv3x3 c1) - MP2 - Drop .2 - 2x(conv3x3 c2) - MP2 - Drop .3 - FC d_f - Drop .5 - FC n_p*k_s.

    ``features(x)`` returns layer F (after ReLU, before dropout), ``forward`` returns ``(F, Z)``
    where ``Z`` is the pre-softmax input of the augmented softmax layer.  As in the authors' Keras
    code, convolutions are zero-padded to keep the map size ("same") and every weight starts from
    Keras' default Glorot-uniform initialisation with zero biases.  Defaults are the paper's widths
    (32, 64, 2048).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, n_parents: int = 8, k_s: int = 20,
                 widths: tuple[int, int] = (32, 64), d_f: int = 2048):
        super().__init__()
        c1, c2 = widths
        self.n_parents, self.k_s = n_parents, k_s
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c1, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.Conv2d(c2, c2, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.3), nn.Flatten())
        flat = c2 * (image_size // 4) ** 2
        self.fc = nn.Sequential(nn.Linear(flat, d_f), nn.ReLU())
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(d_f, n_parents * k_s)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.out(self.drop(f))


# --------------------------------------------------------------------------
# Training (Algorithm 1) and evaluation


@dataclass
class GarConfig:
    """Hyperparameters of Algorithm 1 (defaults: the paper's)."""

    n_parents: int = 8
    k_s: int = 20
    c_alpha: float = 0.1
    c_beta: float = 1.0
    c_f: float = 1e-6
    batch_size: int = 400
    epochs: int = 400
    lr: float = 1e-3
    per_parent: bool = True
    transforms: tuple = ROTATION_FLIPS
    widths: tuple = (32, 64)
    d_f: int = 2048
    extra: dict = field(default_factory=dict)


def gar_loss(model: GarCNN, x: torch.Tensor, t: torch.Tensor, config: GarConfig) -> torch.Tensor:
    """Eq. 13 on one batch: log loss of the pooled parent probabilities plus the GAR penalty."""
    _, z = model(x)
    y = acol_pool(z, config.n_parents)
    nll = F.nll_loss(torch.log(y.clamp_min(1e-12)), t)
    return nll + gar_penalty(z, config.n_parents, config.c_alpha, config.c_beta, config.c_f, config.per_parent)


def train_gar(model: GarCNN, x: torch.Tensor, config: GarConfig, seed: int = 0,
              on_epoch_end: Callable[[int, float], None] | None = None, progress: bool = True,
              desc: str = "GAR training") -> list[float]:
    """Algorithm 1: each epoch draws new pseudo labels, transforms the whole set and takes Adam steps.

    ``x`` (standardised images ``(m, C, H, W)``) stays on the model's device; the transformed copy
    is built once per epoch with :func:`transform_batch`, and batches are index slices.
    Returns the mean loss per epoch.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = []
    for epoch in tqdm(range(config.epochs), desc=desc, leave=False, disable=not progress, mininterval=2.0):
        model.train()
        x_tilde, t = pseudo_batch(x, config.n_parents, generator, config.transforms)
        order = torch.randperm(len(x), generator=generator).to(x.device)
        total = torch.zeros((), device=x.device)
        for start in range(0, len(x), config.batch_size):
            index = order[start:start + config.batch_size]
            loss = gar_loss(model, x_tilde[index], t[index], config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(index)
        history.append(float(total) / len(x))
        if on_epoch_end is not None:
            on_epoch_end(epoch, history[-1])
    model.eval()
    return history


@torch.no_grad()
def embed(model: GarCNN, x: torch.Tensor, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """``(F, Z)`` of untransformed images (model in eval mode), as NumPy arrays."""
    model.eval()
    fs, zs = [], []
    for start in range(0, len(x), batch_size):
        f, z = model(x[start:start + batch_size])
        fs.append(f.cpu())
        zs.append(z.cpu())
    return torch.cat(fs).numpy(), torch.cat(zs).numpy()


def evaluate(features: np.ndarray, labels: np.ndarray, k: int = 10, n_init: int = 10, seed: int = 0) -> dict:
    """k-means (k-means++, ``n_init`` restarts) on ``features``; Hungarian ACC, majority ACC and NMI."""
    from . import metrics
    from .kmeans import kmeans

    result = kmeans(features, k, n_init=n_init, seed=seed, progress=False)
    return {"acc": metrics.cluster_acc(labels, result.labels), "majority_acc": metrics.majority_acc(labels, result.labels),
            "nmi": metrics.nmi(labels, result.labels), "clusters": result.labels}
