"""ACOL + GAR (Kilinc & Uysal, ICLR 2018): clustering by pseudo-supervision with graph regularisation.

The pieces of the paper, each usable on its own:

* :func:`acol_pool` and :func:`pooling_matrix`: the Auto-clustering Output Layer (Eqs. 1-3), ``n_p``
  parents with ``k_s`` softmax duplicates each, summed onto the parents by the fixed matrix
  ``W^(L) = [I_np ... I_np]^T`` (softmax node ``j`` belongs to parent ``j mod n_p``).
* :func:`affinity`, :func:`balance` (Eqs. 5-6) on ``B = max(0, Z)`` and their per-parent versions
  :func:`parent_affinity`, :func:`parent_balance` (Eqs. 10-12).
* :data:`ROTATION_FLIPS`, :func:`transform_family`, :func:`transform_batch`, :func:`pseudo_batch`: the
  eight rotation/flip transformations of Eq. 15, the scaling, shearing, translation and pixel
  permutation families of Figure 8, and the transformed pseudo-labelled batches of Algorithm 1,
  built with a fixed number of tensor operations per batch (no per-example Python).
* :class:`GarCNN`: the 6-layer CNN of Table 2 (widths configurable for reduced CPU runs), for square
  images of any side from 4 pixels (8x8 digits, 16x16 USPS, 28x28 MNIST).
* :func:`train_gar` and :func:`fit`: Algorithm 1 (an epoch is ``m/b`` steps, each example once under
  a random transformation) with the dataset kept as one tensor on the device;
  :func:`embed` and :func:`evaluate` for k-means on layer F; :func:`pretext_accuracy` for how well the
  pseudo task is learned.
* :func:`upsample_small`: images smaller than :data:`MIN_SIDE` (the smallest side the paper used)
  bilinearly upsampled to it before GAR, since Table 2's network does not learn useful features on 8x8.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..settings import Budget
from ..train import batch_slices, batched
from ..train import fit as engine_fit

__all__ = [
    "pooling_matrix", "acol_pool", "affinity", "balance", "parent_blocks", "parent_affinity", "parent_balance",
    "gar_penalty", "ROTATION_FLIPS", "TRANSFORM_NAMES", "RotationFlip", "Affine", "PixelPermutation", "scaling",
    "shearing", "translation", "FAMILY_VALUES", "translation_shifts", "transform_family", "apply_transform", "transform_batch",
    "pseudo_batch", "GarCNN", "GarConfig", "gar_loss", "train_gar", "fit", "embed", "fit_features", "evaluate", "pretext_accuracy", "MIN_SIDE", "upsample_small", "Settings", "BUDGET", "MNIST_TRAIN",
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
# Transformations (Eq. 15, Figure 8) and pseudo-labelled batches (Algorithm 1)
#
# A transformation is any callable that maps a batch of images ``(N, C, H, W)`` to a batch of the
# same shape.  The rotations/flips of Eq. 15 are exact pixel rearrangements; the four families of
# Figure 8's first row (scaling, shearing, translation, pixel permutation) are built by
# :func:`transform_family`.


def apply_transform(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    """One transformation of Eq. 15 on images ``(..., H, W)``: horizontal flip, then rotation."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, quarter_turns, dims=(-2, -1)) if quarter_turns % 4 else x


@dataclass(frozen=True)
class RotationFlip:
    """A symmetry of the square: flip horizontally (optional), then ``quarter_turns`` counter-clockwise turns."""

    quarter_turns: int
    flip: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return apply_transform(x, self.quarter_turns, self.flip)


#: Eq. 15 in the paper's order: T1 = identity, T2-T4 = rotations by 90, 180, 270 degrees, T5-T8 the same after a flip.
ROTATION_FLIPS: tuple[RotationFlip, ...] = tuple(RotationFlip(q, f) for f in (False, True) for q in range(4))
TRANSFORM_NAMES = ("identity", "rot90", "rot180", "rot270", "flip", "flip+rot90", "flip+rot180", "flip+rot270")


@dataclass(frozen=True)
class Affine:
    """An affine warp with bilinear resampling and zero fill, for images with a zero background.

    ``matrix`` is the 2x3 map from output to input coordinates in ``[-1, 1]`` units (the convention
    of :func:`torch.nn.functional.affine_grid`, ``align_corners=False``).
    """

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        theta = torch.tensor(self.matrix, dtype=x.dtype, device=x.device).expand(len(x), 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def scaling(factor: float) -> Affine:
    """Zoom about the centre by ``factor`` (> 1 enlarges the digit)."""
    if factor <= 0:
        raise ValueError(f"scaling factor must be positive, got {factor}")
    return Affine(((1 / factor, 0.0, 0.0), (0.0, 1 / factor, 0.0)))


def shearing(amount: float) -> Affine:
    """Horizontal shear about the centre: a pixel at height ``y`` moves right by ``amount * y``."""
    return Affine(((1.0, -amount, 0.0), (0.0, 1.0, 0.0)))


def translation(dx: float, dy: float, size: int) -> Affine:
    """Shift by ``dx`` pixels right and ``dy`` pixels down on a ``size`` x ``size`` image."""
    return Affine(((1.0, 0.0, -2 * dx / size), (0.0, 1.0, -2 * dy / size)))


class PixelPermutation:
    """A fixed permutation of the ``H * W`` pixel positions (the same for every image and channel)."""

    def __init__(self, permutation: torch.Tensor):
        self.permutation = torch.as_tensor(permutation, dtype=torch.long)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(-2)
        return flat[..., self.permutation.to(x.device)].reshape(x.shape)


#: The parameter values of the four Figure 8 families (the paper does not state its values).  Scaling and
#: shearing are relative to the image; the translations are pixels on MNIST's 28x28 (other sizes:
#: :func:`translation_shifts`).
FAMILY_VALUES = {
    "scaling": tuple(round(0.65 + 0.1 * i, 2) for i in range(8)),  # 0.65 ... 1.35
    "shearing": tuple(round(-0.35 + 0.1 * i, 2) for i in range(8)),  # -0.35 ... 0.35
    "translation": ((3, 0), (3, 3), (0, 3), (-3, 3), (-3, 0), (-3, -3), (0, -3), (3, -3)),  # 3 px, 8 directions
}


def translation_shifts(image_size: int = 28) -> tuple[tuple[int, int], ...]:
    """The eight ``(dx, dy)`` pixel shifts of the translation family on an ``image_size`` square image.

    :data:`FAMILY_VALUES`' 3 pixels on 28x28 (about a ninth of the side), scaled to the image and rounded
    to whole pixels, at least 1: 3 px on 28x28, 2 on 16x16 (USPS), 1 on 8x8 (digits).  Whole pixels keep
    the shift exact (no resampling blur), as on MNIST.
    """
    step = max(1, round(3 * image_size / 28))
    return tuple((int(np.sign(dx)) * step, int(np.sign(dy)) * step) for dx, dy in FAMILY_VALUES["translation"])


def transform_family(name: str, image_size: int = 28, seed: int = 0) -> tuple:
    """Eight transformations of one kind, for the first row of Figure 8, on ``image_size`` square images.

    ``"rotation"``: Eq. 15; ``"scaling"``, ``"shearing"``: the values of :data:`FAMILY_VALUES` (relative to
    the image, so the same for every size); ``"translation"``: :func:`translation_shifts` for this size;
    ``"permutation"``: eight random permutations of the ``image_size ** 2`` pixels drawn with ``seed``.
    """
    if name == "rotation":
        return ROTATION_FLIPS
    if name == "scaling":
        return tuple(scaling(v) for v in FAMILY_VALUES["scaling"])
    if name == "shearing":
        return tuple(shearing(v) for v in FAMILY_VALUES["shearing"])
    if name == "translation":
        return tuple(translation(dx, dy, image_size) for dx, dy in translation_shifts(image_size))
    if name == "permutation":
        generator = torch.Generator().manual_seed(seed)
        return tuple(PixelPermutation(torch.randperm(image_size * image_size, generator=generator)) for _ in range(8))
    raise ValueError(f"unknown transformation family {name!r}; choose rotation, scaling, shearing, translation or permutation")


def transform_batch(x: torch.Tensor, t: torch.Tensor, transforms: Sequence[Callable] = ROTATION_FLIPS) -> torch.Tensor:
    """``X~ = T (.) X`` (Eq. 8): example ``i`` goes through ``transforms[t_i]``.

    Every transformation is applied to the whole batch and the results are gathered by ``t``: a
    fixed number of tensor operations per batch, no Python loop over examples and no host-device
    synchronisation.
    """
    if len(transforms) == 1:
        return transforms[0](x)
    stacked = torch.stack([transform(x) for transform in transforms])  # (n_T, N, ...)
    return stacked[t.to(x.device), torch.arange(len(x), device=x.device)]


def pseudo_batch(x: torch.Tensor, n_parents: int, generator: torch.Generator | None = None,
                 transforms: Sequence[Callable] = ROTATION_FLIPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw uniform pseudo parent labels ``t`` and return ``(T (.) X, t)`` (first lines of Algorithm 1)."""
    t = torch.randint(0, n_parents, (len(x),), generator=generator, device="cpu").to(x.device)
    return transform_batch(x, t, transforms[:n_parents]), t


# --------------------------------------------------------------------------
# The model of Table 2


def _glorot(*modules: nn.Module) -> None:
    """Keras' default initialisation: Glorot-uniform weights, zero biases, for every conv/linear layer."""
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)


class GarCNN(nn.Module):
    """Table 2: 2x(conv3x3 c1) - MP2 - Drop .2 - 2x(conv3x3 c2) - MP2 - Drop .3 - FC d_f - Drop .5 - FC n_p*k_s.

    ``features(x)`` returns layer F (after ReLU, before dropout), ``forward`` returns ``(F, Z)``
    where ``Z`` is the pre-softmax input of the augmented softmax layer.  As in the authors' Keras
    code, convolutions are zero-padded to keep the map size ("same") and every weight starts from
    Keras' default Glorot-uniform initialisation with zero biases.  The layers up to F are initialised
    before the output layer is built, so with the same seed F starts identical whatever the number of
    parents (the transformation study compares tasks from one starting point).  Defaults are the
    paper's widths (32, 64, 2048).

    **Image size.** ``image_size`` is the side of square inputs.  "Same" convolutions keep the map, and
    each 2x2 max-pooling halves it (rounding down), so the map before F is ``image_size // 4`` square:
    7x7 for MNIST's 28, 4x4 for USPS's 16, 2x2 for the 8x8 digits.  Any side from 4 works; below 4 the
    second pooling has nothing left, and a ``ValueError`` says so.  Nothing else depends on the size, so
    MNIST's network (and its weights for a given seed) is the paper's.  A side that builds is not a side
    that trains well: on 8x8 digits the features get worse with training, so chapter 3 first upsamples
    images smaller than :data:`MIN_SIDE` (:func:`upsample_small`).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, n_parents: int = 8, k_s: int = 20,
                 widths: tuple[int, int] = (32, 64), d_f: int = 2048):
        if int(image_size) != image_size or image_size < 4:
            raise ValueError(f"GarCNN takes square images with a side of at least 4 pixels (its two 2x2 max-poolings "
                             f"need a 4x4 input; e.g. 8x8, 16x16, 28x28), got image_size={image_size}")
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
        _glorot(self.conv, self.fc)  # before the head exists: F starts the same for any n_p and k_s
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(d_f, n_parents * k_s)
        _glorot(self.out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.out(self.drop(f))


# --------------------------------------------------------------------------
# Training (Algorithm 1) and evaluation


@dataclass
class GarConfig:
    """Hyperparameters of Algorithm 1 (defaults: the paper's).

    An *epoch* is Algorithm 1's, which is also the authors' code (LALNets ``pseudo_batch_generator``
    since commit 81e221d, "randomly chosen transformations"; the all-pairs generator above it is
    commented out): every training example once, in random order, each under a transformation drawn
    uniformly at random, so an MNIST epoch is ``m/b`` = 150 steps of 400.  ``max_steps``, when set,
    stops training after that many steps instead.
    """

    n_parents: int = 8
    k_s: int = 20
    c_alpha: float = 0.1
    c_beta: float = 1.0
    c_f: float = 1e-6
    batch_size: int = 400
    epochs: int = 400
    max_steps: int | None = None
    lr: float = 1e-3
    per_parent: bool = True
    transforms: tuple = ROTATION_FLIPS
    widths: tuple = (32, 64)
    d_f: int = 2048
    extra: dict = field(default_factory=dict)

    def steps_per_epoch(self, n_examples: int) -> int:
        """Adam steps in one epoch over ``n_examples`` examples: ``ceil(m / b)`` (see :func:`~clustutils.train.batch_slices`)."""
        return len(batch_slices(n_examples, self.batch_size))

    def total_steps(self, n_examples: int) -> int:
        """Steps :func:`train_gar` takes: ``max_steps`` if set, else ``epochs`` full epochs."""
        return self.max_steps if self.max_steps is not None else self.epochs * self.steps_per_epoch(n_examples)


def gar_loss(model: GarCNN, x: torch.Tensor, t: torch.Tensor, config: GarConfig) -> torch.Tensor:
    """Eq. 13 on one batch: log loss of the pooled parent probabilities plus the GAR penalty."""
    _, z = model(x)
    y = acol_pool(z, config.n_parents)
    nll = F.nll_loss(torch.log(y.clamp_min(1e-12)), t)
    return nll + gar_penalty(z, config.n_parents, config.c_alpha, config.c_beta, config.c_f, config.per_parent)


def train_gar(model: GarCNN, x: torch.Tensor, config: GarConfig, seed: int = 0,
              on_step: Callable[[GarCNN, int], None] | None = None, progress: bool = True,
              desc: str = "GAR training") -> list[float]:
    """Algorithm 1 on the training engine :func:`clustutils.train.fit`.

    The engine shuffles the ``m`` examples each epoch; every example of a batch gets a pseudo parent
    ``t`` drawn uniformly (a generator seeded with ``seed + 1``), is transformed by
    :func:`transform_batch` (``x`` stays on the model's device) and ``t`` is its label.
    ``on_step(model, step)`` is the engine's callback: step 0 before training, then after every Adam
    step.  Returns the mean loss of each (possibly partial) epoch.
    """
    if len(config.transforms) < config.n_parents:
        raise ValueError(f"{config.n_parents} pseudo parents need as many transformations, got {len(config.transforms)}")
    transforms = config.transforms[: config.n_parents]
    m = len(x)
    per_epoch = config.steps_per_epoch(m)
    total_steps = config.total_steps(m)

    parents = torch.Generator().manual_seed(seed + 1)

    def loss_fn(net, rows):
        t = torch.randint(0, config.n_parents, (len(rows),), generator=parents).to(x.device)
        return gar_loss(net, transform_batch(x[rows], t, transforms), t, config)

    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    return engine_fit(model, loss_fn, (torch.arange(m, device=x.device),), epochs=-(-total_steps // per_epoch),
               max_steps=total_steps, batch_size=config.batch_size, optimizer=optimizer, seed=seed, callback=on_step,
               desc=desc, progress=progress)


def fit(x: torch.Tensor, config: GarConfig, seed: int = 0, on_step: Callable[[GarCNN, int], None] | None = None,
        progress: bool = True, desc: str | None = None) -> GarCNN:
    """A :class:`GarCNN` for images ``x`` ``(m, C, H, W)`` (seeded with ``seed``), trained by :func:`train_gar`.

    The images must be square (``H == W``, at least 4): the rotations of Eq. 15 map an ``H x W`` image to
    ``W x H``, and :class:`GarCNN` is built for one side; a ``ValueError`` names the sizes it accepts.
    """
    if x.ndim != 4 or x.shape[-2] != x.shape[-1]:
        raise ValueError(f"GAR needs square images (N, C, S, S) with S >= 4 (e.g. 8x8, 16x16, 28x28): the rotations "
                         f"of Eq. 15 turn an H x W image into W x H; got shape {tuple(x.shape)}; crop or resize first")
    torch.manual_seed(seed)
    model = GarCNN(in_channels=x.shape[1], image_size=x.shape[-1], n_parents=config.n_parents, k_s=config.k_s,
                   widths=config.widths, d_f=config.d_f).to(x.device)
    train_gar(model, x, config, seed=seed, on_step=on_step, progress=progress, desc=desc or f"GAR seed {seed}")
    return model


@torch.no_grad()
def embed(model: GarCNN, x: torch.Tensor, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """``(F, Z)`` of untransformed images (model in eval mode), as NumPy arrays for scikit-learn."""
    model.eval()
    f, z = batched(model, x, batch_size)
    return f.cpu().numpy(), z.cpu().numpy()


def fit_features(x: torch.Tensor, config: GarConfig, seed: int, x_eval: torch.Tensor) -> np.ndarray:
    """F of the untransformed ``x_eval`` after :func:`fit` on ``x`` (no progress bar): one job of
    :func:`clustutils.train.run_jobs`, which trains several such models on the CPU's cores at once."""
    return embed(fit(x, config, seed=seed, progress=False), x_eval)[0]


@torch.no_grad()
def pretext_accuracy(model: GarCNN, x: torch.Tensor, config: GarConfig, seed: int = 0) -> float:
    """How often the network names the pseudo parent of a transformed image: each image of ``x`` under one
    transformation drawn uniformly (seeded), the parent with the highest pooled probability (Eq. 3) taken."""
    model.eval()
    t = torch.randint(0, config.n_parents, (len(x),), generator=torch.Generator().manual_seed(seed)).to(x.device)
    hits = 0
    for batch in batch_slices(len(x), 1000):
        _, z = model(transform_batch(x[batch], t[batch], config.transforms[: config.n_parents]))
        hits += int((acol_pool(z, config.n_parents).argmax(1) == t[batch]).sum())
    return hits / len(x)


#: The smallest image side the paper trained GAR on (USPS, 16x16).
MIN_SIDE = 16


def upsample_small(x: torch.Tensor, side: int = MIN_SIDE) -> torch.Tensor:
    """Square images ``x`` ``(N, C, S, S)`` bilinearly upsampled to ``side x side`` when ``S < side``; else ``x``.

    :class:`GarCNN` (Table 2) was built for MNIST's 28x28: its two 2x2 poolings leave a map of ``S // 4``
    before F, 7x7 on MNIST, 4x4 on USPS, 2x2 on scikit-learn's 8x8 digits.  On those digits the network
    learns the pseudo task, yet k-means on F ends below its start (the untrained network), while the same
    images at 16x16 train as USPS does; the own-data chapter measures both ("GAR and the image size").
    Upsampling adds no information, only room for the convolutions.
    """
    if x.ndim != 4 or x.shape[-2] != x.shape[-1]:
        raise ValueError(f"upsample_small takes square images (N, C, S, S), got shape {tuple(x.shape)}")
    if x.shape[-1] >= side:
        return x
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


def evaluate(features: np.ndarray, labels: np.ndarray, k: int = 10, n_init: int = 10, seed: int = 0) -> dict:
    """k-means (k-means++, ``n_init`` restarts) on ``features``; Hungarian ACC, majority ACC and NMI."""
    from .. import metrics
    from ..kmeans import kmeans

    result = kmeans(features, k, n_init=n_init, seed=seed, progress=False)
    return {"acc": metrics.cluster_acc(labels, result.labels), "majority_acc": metrics.majority_acc(labels, result.labels),
            "nmi": metrics.nmi(labels, result.labels), "clusters": result.labels}


# --------------------------------------------------------------------------
# Chapter 3's settings: the paper's values, each profile as stated changes


#: MNIST's training digits: the ``m`` of the paper's epochs (``n_train = None``).
MNIST_TRAIN = 60_000


@dataclass(frozen=True)
class Settings:
    """Chapter 3's budget; the defaults are the paper's (Table 2, Section 4, Figure 3): the ``full`` profile.

    Epochs are Algorithm 1's (``m/b`` steps).  ``curve_epochs``: where the first seed's learning curve
    is measured; ``study_epochs``: the training of each transformation set of Figure 8 (None: ``epochs``).
    ``epochs``, ``curve_epochs`` and ``study_epochs`` are MNIST's; ``usps_*`` are the USPS experiment's
    (the paper's footnote protocol, all 9,298 digits).  :meth:`for_dataset` gives the main experiments'
    values on another data set.
    """

    n_train: int | None = None  # None: all 60,000 training digits
    n_test: int | None = None  # None: all 10,000 test digits
    epochs: int = 400
    widths: tuple = (32, 64)
    d_f: int = 2048
    seeds: int = 10
    restarts: int = 10
    curve_epochs: tuple = (0, 1, 10, 50, 100, 200, 400)
    study_epochs: int | None = None
    n_tsne: int = 2000
    n_graph: int = 500
    usps_images: int | None = None  # None: all 9,298 USPS digits (train + test, the paper's footnote)
    usps_epochs: int = 400
    usps_seeds: int = 10
    ae_images: int | None = None  # None: all 70,000 MNIST digits (DEC's protocol)
    ae_epochs: int = 200

    def for_dataset(self, name: str, n_train: int, batch_size: int = 400) -> "Settings":
        """These settings with ``epochs``, ``curve_epochs`` and ``study_epochs`` for the main experiments on ``name``.

        ``n_train`` is the number of training images this run uses (after ``n_train``'s cap).

        * ``mnist``: unchanged, the paper's values (or the profile's).
        * ``usps``: ``usps_epochs``, the paper's USPS budget (400 epochs, as for MNIST; ``cpu``: 40).
        * any other data set (**fallback**): MNIST's settings with the **number of Adam steps kept**:
          ``epochs = ceil(MNIST steps / steps per epoch here)``, where MNIST's steps are ``epochs`` epochs
          of ``ceil(min(n_train, 60,000) / b)`` steps.  The paper kept epochs between its data sets (400 on
          MNIST and on USPS), but the data sets it used have thousands of images.  An epoch of a small set
          is a handful of steps (the 1,540 training digits of ``digits`` are 4 steps of 400), so MNIST's
          epochs would train almost nothing there, while a step on images no larger than MNIST's costs no
          more than on MNIST, so kept steps also keep a profile's time budget.  Pass the paper's values
          (``full``) and the fallback trains 60,000 steps.

        ``curve_epochs`` and ``study_epochs`` are scaled by the same factor as ``epochs`` (whole epochs,
        at least 1 after the start, the last curve point at the new ``epochs``).
        """
        if name == "mnist":
            return self
        steps_here = -(-n_train // batch_size)
        if name == "usps":
            epochs = self.usps_epochs
        else:
            mnist_m = MNIST_TRAIN if self.n_train is None else min(self.n_train, MNIST_TRAIN)
            epochs = -(-(self.epochs * -(-mnist_m // batch_size)) // steps_here)
        scale = epochs / self.epochs
        curve = sorted({0 if e == 0 else max(1, round(e * scale)) for e in self.curve_epochs} | {epochs})
        curve = [e for e in curve if e <= epochs]
        study = None if self.study_epochs is None else max(1, round(self.study_epochs * scale))
        return dataclasses.replace(self, epochs=epochs, curve_epochs=tuple(curve), study_epochs=study)


_CPU = {
    "epochs": (8, "time: at half width an epoch takes about 40 s on one core (benchmarks/results/"
                  "ch03_rotations_long_schedule.json: 20 epochs in 13 min), so 400 epochs are about 4 hours a "
                  "seed; a full-width step takes about a second on 2 cores"),
    "widths": ((16, 32), "time: half the convolution widths"),
    "d_f": (1024, "time: half the width of F"),
    "seeds": (3, "time"),
    "curve_epochs": ((0, 1, 2, 4, 8), "the cpu run's 8 epochs"),
    "study_epochs": (4, "time: 7 more models; half the headline budget"),
    "n_tsne": (1000, "time"),
    "n_graph": (300, "time"),
    "usps_epochs": (40, "time: 960 steps per seed; the paper's 400 epochs are 9,600"),
    "usps_seeds": (3, "time"),
    "ae_epochs": (5, "time: an autoencoder epoch over 70,000 digits costs tens of seconds on a core"),
}
_SMOKE = {
    **_CPU,
    "n_train": (2_000, "CI: under 2 minutes a notebook"), "n_test": (1_000, "CI"), "epochs": (2, "CI"),
    "widths": ((8, 16), "CI"), "d_f": (128, "CI"), "seeds": (1, "CI"), "restarts": (2, "CI"),
    "curve_epochs": ((0, 1, 2), "CI"), "study_epochs": (1, "CI"), "n_tsne": (300, "CI"), "n_graph": (150, "CI"),
    "usps_images": (1_000, "CI"), "usps_epochs": (1, "CI"), "usps_seeds": (1, "CI"), "ae_images": (3_000, "CI"),
    "ae_epochs": (1, "CI"),
}
#: ``gpu``: the paper's network at full width, with steps estimated from the H200 times measured in issue 14
#: (eager PyTorch, full width: 7,200 steps in 42 s, 84-86 % ACC after 4,800-7,200 steps); the first GPU run checks it.
_GPU = {
    "epochs": (50, "one GPU window: 7,500 steps, about 45 s a seed on one H200 (measured: 7,200 steps in 42 s); "
                   "the paper's 400 epochs are about 6 minutes a seed"),
    "seeds": (3, "time: three seeds of the headline row (full: 10)"),
    "curve_epochs": ((0, 1, 10, 50), "the paper's curve points up to this profile's 50 epochs"),
    "study_epochs": (5, "time: 7 more models of 750 steps each"),
    "usps_epochs": (100, "time: 2,400 steps a seed on 16 x 16 digits; the paper's 400 epochs are 9,600"),
    "usps_seeds": (3, "time (full: 10)"),
    "ae_epochs": (50, "time: 50 epochs of 274 steps over 70,000 digits (full: 200)"),
    "n_tsne": (1000, "time: t-SNE runs on the host's CPU, not the GPU, for about 15 plots (cpu's size)"),
}
#: Chapter 3's profiles.
BUDGET = Budget(Settings(), {
    "smoke": _SMOKE,
    "cpu": _CPU,
    "gpu": _GPU,
})
