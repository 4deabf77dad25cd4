"""Autoencoders feeding k-means for histopathology patches (Liu & Zhang), and how to score them.

Models (all take ``(N, 3, 50, 50)`` patches in [0, 1] and reconstruct that size):

- :class:`FCAutoencoder`: the paper's fully connected AE, 7500-2000-1000-500-64 with batch norm.
- :class:`ConvAutoencoder`: the base CNN AE with max-pooling (latent 256 x 1 x 1), from the paper's appendix.
- :class:`ConvAutoencoderNoPool`: the same without max-pooling; the appendix's strides give a 192-d latent.
- :class:`AlexNetAutoencoder`, :class:`ResNetAutoencoder`: encoders built from torchvision's
  ``alexnet`` and ``resnet18`` definitions (random initialisation, no weights are downloaded),
  each followed by a mirrored transposed-convolution decoder.
- :func:`densenet_classifier`: the supervised baseline, torchvision's ``DenseNet`` with five dense blocks.

``width`` (and ``fc_width``) scale the hidden layers so that a CPU run stays small; the
latent sizes stay the paper's.  Scoring follows the authors' code: k-means (k = 2) is fit on
the training latents, clusters are mapped to labels on the training fold
(:func:`clustutils.metrics.proportion_mapping`: the cluster with the larger fraction of positives is positive),
and the test fold is scored with accuracy and F1.  :func:`cv_folds` makes patch-level
(``KFold``) or group-level (``GroupKFold``, e.g. patient) folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import MiniBatchKMeans
from sklearn.model_selection import GroupKFold, KFold
from torch import nn

from .. import metrics
from ..kmeans import kmeans, nearest_centre
from ..settings import Budget
from ..train import batched, fit

__all__ = [
    "PATCH", "FCAutoencoder", "ConvAutoencoder", "ConvAutoencoderNoPool", "AlexNetAutoencoder", "ResNetAutoencoder",
    "densenet_classifier", "summed_squared_error", "conv_adjoint_gap", "minibatch_kmeans",
    "cv_folds", "sample_groups", "Fold", "train_autoencoder", "encode",
    "cluster_and_score", "train_classifier", "predict", "Settings", "BUDGET",
]

PATCH = 50  # side of an IDC patch in pixels


def _c(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


def _bn_relu_conv(conv, channels):
    return [conv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


class _Autoencoder(nn.Module):
    """``encoder`` then ``decoder``; ``encode`` returns flat latent rows; ``forward`` the reconstruction."""

    input_size = PATCH

    def _resize(self, x, size):
        return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)

    def encode(self, x):
        return self.encoder(self._resize(x, self.input_size)).flatten(1)

    def forward(self, x):
        return self._resize(self.decoder(self.encoder(self._resize(x, self.input_size))), x.shape[-1])


class FCAutoencoder(_Autoencoder):
    """The paper's fully connected AE (appendix 8.1): 7500-2000-1000-500-64, batch norm and ReLU, sigmoid output.

    ``widths`` are the hidden layer sizes (the paper's by default).
    """

    def __init__(self, latent: int = 64, widths=(2000, 1000, 500), input_dim: int = 3 * PATCH * PATCH):
        super().__init__()
        dims = (input_dim, *widths, latent)
        enc = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:]):
            enc += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        dec = []
        back = dims[::-1]
        for a, b in zip(back[:-2], back[1:-1]):
            dec += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        dec += [nn.Linear(back[-2], input_dim), nn.Sigmoid(), nn.Unflatten(1, (3, PATCH, PATCH))]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)


def _paper_decoder(latent: int, width: float) -> nn.Sequential:
    """The transposed-convolution decoder of the paper's CNN AEs: 1x1 -> 2 -> 3 -> 6 -> 12 -> 25 -> 50."""
    layers = [nn.ReLU(inplace=True)]
    chans = [latent, _c(256, width), _c(512, width), _c(256, width), _c(256, width), _c(128, width)]
    specs = [(4, 1, 1), (3, 2, 1), (4, 2, 1), (4, 2, 1), (5, 2, 1)]
    for (k, s, p), a, b in zip(specs, chans[:-1], chans[1:]):
        layers += _bn_relu_conv(nn.ConvTranspose2d(a, b, k, s, p), b)
    layers += [nn.ConvTranspose2d(chans[-1], 3, 4, 2, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


class ConvAutoencoder(_Autoencoder):
    """The paper's base CNN AE (appendix 8.1): four conv + max-pool stages and a 2x2 conv to 256 x 1 x 1."""

    def __init__(self, latent: int = 256, width: float = 1.0):
        super().__init__()
        c = [3, _c(128, width), _c(256, width), _c(512, width), _c(256, width)]
        specs = [(3, 1, 0), (5, 1, 1), (4, 1, 1), (3, 2, 2)]  # 50 -> 48/24 -> 22/11 -> 10/5 -> 4/2
        enc = []
        for (k, s, p), a, b in zip(specs, c[:-1], c[1:]):
            enc += _bn_relu_conv(nn.Conv2d(a, b, k, s, p), b) + [nn.MaxPool2d(2, 2)]
        enc += [nn.Conv2d(c[-1], latent, 2), nn.BatchNorm2d(latent)]  # 2 -> 1
        self.encoder, self.decoder = nn.Sequential(*enc), _paper_decoder(latent, width)


class ConvAutoencoderNoPool(_Autoencoder):
    """The paper's CNN AE without max-pooling (appendix 8.1): strided convolutions 50 -> 49 -> 24 -> 11 -> 4 -> 1.

    The appendix's last encoder layer has 192 channels, so the latent is 192-d (not 256).
    """

    def __init__(self, latent: int = 192, width: float = 1.0):
        super().__init__()
        c = [3, _c(128, width), _c(256, width), _c(512, width), _c(256, width)]
        specs = [(4, 1, 1), (5, 2, 1), (4, 2, 0), (5, 2, 0)]
        enc = []
        for (k, s, p), a, b in zip(specs, c[:-1], c[1:]):
            enc += _bn_relu_conv(nn.Conv2d(a, b, k, s, p), b)
        enc += [nn.Conv2d(c[-1], latent, 4, 2), nn.BatchNorm2d(latent)]
        self.encoder, self.decoder = nn.Sequential(*enc), _paper_decoder(latent, width)


def _mirror_decoder(latent: int, channels: int, start: int, doublings: int, width: float) -> nn.Sequential:
    """Linear latent -> ``channels`` x start x start, then ``doublings`` transposed convolutions (x2 each), sigmoid."""
    layers = [nn.Linear(latent, channels * start * start), nn.ReLU(inplace=True), nn.Unflatten(1, (channels, start, start))]
    a = channels
    for i in range(doublings - 1):
        b = max(_c(64, width), a // 2)
        layers += _bn_relu_conv(nn.ConvTranspose2d(a, b, 4, 2, 1), b)
        a = b
    layers += [nn.ConvTranspose2d(a, 3, 4, 2, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


class AlexNetAutoencoder(_Autoencoder):
    """Encoder: torchvision's AlexNet (random init) with a ``latent``-d last layer; decoder: mirrored.

    Patches are resized to ``input_size`` (the paper: 250; AlexNet needs at least 63) before
    encoding; the decoder maps the latent to 48x48, resized to 50x50: the loss is measured at
    the patches' own resolution.  ``fc_width``
    is the width of AlexNet's two hidden fully connected layers (4096 in torchvision).
    """

    def __init__(self, latent: int = 512, input_size: int = 250, fc_width: int = 4096, width: float = 1.0):
        super().__init__()
        from torchvision.models import alexnet

        net = alexnet(weights=None, num_classes=latent)
        if fc_width != 4096:
            net.classifier[1] = nn.Linear(256 * 6 * 6, fc_width)
            net.classifier[4] = nn.Linear(fc_width, fc_width)
            net.classifier[6] = nn.Linear(fc_width, latent)
        self.input_size = input_size
        self.encoder = net
        self.decoder = _mirror_decoder(latent, _c(256, width), 6, 3, width)  # 6 -> 48, resized to 50



class ResNetAutoencoder(_Autoencoder):
    """Encoder: torchvision's ResNet-18 trunk (random init) and a linear map to ``latent``; decoder: mirrored.

    Patches are resized to ``input_size`` first (the paper: 250); the decoder maps the latent
    to 64x64, resized to 50x50.  ``width`` scales the decoder only; the encoder is torchvision's ``resnet18``.
    """

    def __init__(self, latent: int = 256, input_size: int = 250, width: float = 1.0):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=latent)
        self.input_size = input_size
        self.encoder = net
        self.decoder = _mirror_decoder(latent, _c(256, width), 2, 5, width)  # 2 -> 64, resized to 50


class _Resized(nn.Module):
    def __init__(self, net, size):
        super().__init__()
        self.net, self.size = net, size

    def forward(self, x):
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x)


def densenet_classifier(num_classes: int = 2, growth_rate: int = 32, block_config=(6, 12, 24, 16, 16),
                        num_init_features: int = 64, input_size: int = 64) -> nn.Module:
    """Torchvision's ``DenseNet`` with five dense blocks (the paper gives only "five Dense blocks").

    The stem halves the size twice and each of the four transitions halves it again, so
    the patches are resized to ``input_size`` (64: 16 -> 8 -> 4 -> 2 -> 1) before the network.
    """
    from torchvision.models import DenseNet

    net = DenseNet(growth_rate=growth_rate, block_config=tuple(block_config), num_init_features=num_init_features,
                   num_classes=num_classes)
    return _Resized(net, input_size)


# --------------------------------------------------------------------------
# Objective, adjoint, mini-batch k-means


def summed_squared_error(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The AE objective of Eq. 3 as the authors' code computes it: ``sum ||x - psi(phi(x))||^2`` over the batch."""
    return ((model(x) - x) ** 2).sum()


def conv_adjoint_gap(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, stride: int = 1, padding: int = 0,
                     transpose_weight: torch.Tensor | None = None) -> float:
    """Relative gap between ``<conv(x), y>`` and ``<x, conv_transpose(y)>``.

    ``x`` has the input shape of the convolution and ``y`` its output shape; with the same
    weights (``transpose_weight=None``) the gap is 0 to rounding because ``conv_transpose2d``
    is the adjoint of ``conv2d``; other ``transpose_weight`` show what a wrong adjoint gives.
    """
    transpose_weight = weight if transpose_weight is None else transpose_weight
    lhs = (F.conv2d(x, weight, stride=stride, padding=padding) * y).sum()
    extra = x.shape[-1] - ((y.shape[-1] - 1) * stride - 2 * padding + weight.shape[-1])
    back = F.conv_transpose2d(y, transpose_weight, stride=stride, padding=padding, output_padding=extra)
    rhs = (x * back).sum()
    return float((lhs - rhs).abs() / lhs.abs().clamp_min(1e-300))


def minibatch_kmeans(x: np.ndarray, k: int, batch_size: int, n_steps: int, seed: int = 0, update: str = "running",
                     init: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mini-batch k-means (Eqs. 8-10); returns ``(centers, labels of all x)``.

    Step: draw ``batch_size`` rows (Eq. 8), assign each to its nearest centre (Eq. 9),
    update the centres.  ``update="batch"`` is Eq. 10 as printed: each centre becomes the
    mean of its points *in this batch* (centres without points stay).  ``update="running"``
    is Sculley's (2010) update that scikit-learn's MiniBatchKMeans uses: each centre is the
    running mean of every point ever assigned to it (per-centre step size 1 / count).
    ``init``: starting centres (default: ``k`` rows of ``x`` drawn at random, step 1 of the paper).
    """
    if update not in ("running", "batch"):
        raise ValueError(f"update must be 'running' or 'batch', not {update!r}")
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    centers = (x[rng.choice(len(x), k, replace=False)] if init is None else np.array(init, dtype=np.float64)).copy()
    counts = np.zeros(k)
    for _ in range(n_steps):
        batch = x[rng.choice(len(x), min(batch_size, len(x)), replace=False)]
        nearest = ((batch[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        for j in range(k):
            members = batch[nearest == j]
            if not len(members):
                continue
            if update == "batch":
                centers[j] = members.mean(0)
            else:
                counts[j] += len(members)
                centers[j] += (members.sum(0) - len(members) * centers[j]) / counts[j]
    labels = ((x[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    return centers, labels


# --------------------------------------------------------------------------
# Cross-validation


@dataclass
class Fold:
    """Indices of one cross-validation fold: train, validation (best checkpoint) and test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def cv_folds(n: int, n_splits: int = 5, groups=None, seed: int = 0) -> list[Fold]:
    """``n_splits`` folds as the authors' code makes them: fold i is the test set, fold i+1 the validation set, the
    rest train.  (Their code, at commit 9a959ce of github.com/Bozhao-Liu/Kaggle-breast-cancer-autoencoder, runs only
    i = 0; the paper averages a five-fold cross-validation, which the chapter runs.)

    Without ``groups`` the folds shuffle patches (scikit-learn ``KFold``); with ``groups``
    (patient or image ids) every group lies in exactly one fold (``GroupKFold``, shuffled).
    """
    if groups is None:
        parts = [test for _, test in KFold(n_splits, shuffle=True, random_state=seed).split(np.arange(n))]
    else:
        splitter = GroupKFold(n_splits, shuffle=True, random_state=seed)
        parts = [test for _, test in splitter.split(np.arange(n), groups=np.asarray(groups))]
    folds = []
    for i in range(n_splits):
        val = parts[(i + 1) % n_splits]
        train = np.sort(np.concatenate([parts[j] for j in range(n_splits) if j not in (i, (i + 1) % n_splits)]))
        folds.append(Fold(train, np.sort(val), np.sort(parts[i])))
    return folds


def sample_groups(groups, n_target: int | None, seed: int = 0, max_per_group: int | None = None) -> np.ndarray:
    """Indices of groups (patients, images) drawn at random until at least ``n_target`` rows.

    Each drawn group contributes all its rows, or ``max_per_group`` of them drawn at random when it
    has more (IDC patients hold about 1,700 patches each, so without a cap a 2,400-patch budget would
    hold two patients, too few for patient-level folds).  ``None`` (or a target above the total)
    returns every index.  Sorted.
    """
    groups = np.asarray(groups)
    if n_target is None or n_target >= len(groups):
        return np.arange(len(groups))
    order = np.random.default_rng(seed).permutation(np.unique(groups))
    within = np.random.default_rng([seed, 1])
    chosen, total = [], 0
    for group in order:
        rows = np.flatnonzero(groups == group)
        if max_per_group is not None and len(rows) > max_per_group:
            rows = within.choice(rows, max_per_group, replace=False)
        chosen.append(rows)
        total += len(rows)
        if total >= n_target:
            break
    return np.sort(np.concatenate(chosen))


# --------------------------------------------------------------------------
# Training and evaluation


def train_autoencoder(model: nn.Module, x_train: torch.Tensor, x_val: torch.Tensor, *, epochs: int, batch_size: int,
                      lr: float = 1e-3, weight_decay: float = 5e-4, step_size: int = 7, seed: int = 0,
                      desc: str = "autoencoder", progress: bool = True) -> list[float]:
    """The authors' schedule: Adam, summed squared error, lr x0.1 every ``step_size`` epochs, best-validation weights."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=0.1)

    def val_loss(m):
        return float(batched(lambda xb: summed_squared_error(m, xb)[None], x_val, 500).sum())

    return fit(model, summed_squared_error, (x_train,), epochs=epochs, batch_size=batch_size, optimizer=optimizer,
               scheduler=scheduler, select_best=val_loss, seed=seed, desc=desc, progress=progress)


@torch.no_grad()
def encode(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Latent rows of ``x`` (eval mode), a float32 tensor on the model's device."""
    model.eval()
    return batched(model.encode, x, batch_size)


def cluster_and_score(z_train, y_train, z_test, y_test, n_init: int = 50, seed: int = 0,
                      batch_size: int | None = None) -> dict:
    """k-means (k = 2) fit on training rows, applied to test rows; the authors' and the book's scores.

    Returns ``acc``/``f1`` (proportion mapping learned on the training fold: the paper's
    numbers), ``acc_hungarian_map``/``f1_hungarian_map`` (Hungarian mapping learned on the
    training fold), ``cluster_acc`` (Hungarian ACC of Eq. 14 on the test fold) and ``nmi``.
    ``batch_size``: use scikit-learn's MiniBatchKMeans with that batch (the paper's text: 1,000)
    instead of KMeans (the authors' code); for raw pixels of the whole IDC set.
    """
    z_train, z_test = (z.cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z) for z in (z_train, z_test))
    if batch_size is None:
        result = kmeans(z_train, 2, n_init=n_init, seed=seed, max_iter=1000, progress=False)
        c_train, c_test = result.labels, nearest_centre(z_test, result.centers)
    else:
        km = MiniBatchKMeans(2, batch_size=batch_size, n_init=n_init, random_state=seed).fit(z_train)
        c_train, c_test = km.labels_, km.predict(z_test)
    paper = metrics.binary_scores(y_test, metrics.apply_mapping(metrics.proportion_mapping(y_train, c_train), c_test))
    hung = metrics.binary_scores(y_test, metrics.apply_mapping(metrics.hungarian_mapping(y_train, c_train), c_test))
    return {**paper, "acc_hungarian_map": hung["acc"], "f1_hungarian_map": hung["f1"],
            "cluster_acc": metrics.cluster_acc(y_test, c_test),
            "nmi": metrics.nmi(y_test, c_test)}


def train_classifier(model: nn.Module, x_train, y_train, x_val, y_val, *, epochs: int, batch_size: int,
                     lr: float = 1e-4, seed: int = 0, desc: str = "classifier", progress: bool = True) -> list[float]:
    """Softmax cross-entropy (Eqs. 12-13) with Adam; keeps the weights of the epoch with the lowest validation error.

    The labels are moved to their images' device (the validation error compares them with predictions there).
    """
    y_train, y_val = torch.as_tensor(y_train).to(x_train.device), torch.as_tensor(y_val).to(x_val.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def val_error(m):
        return float((predict(m, x_val) != y_val).float().mean())

    return fit(model, lambda m, xb, yb: F.cross_entropy(m(xb), yb), (x_train, y_train), epochs=epochs,
               batch_size=batch_size, optimizer=optimizer, select_best=val_error, seed=seed, desc=desc, progress=progress)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Arg-max class of every row of ``x`` (eval mode), on the model's device."""
    model.eval()
    return batched(lambda xb: model(xb).argmax(1), x, batch_size)


# --------------------------------------------------------------------------
# Chapter 5's settings: the paper's values, each profile as stated changes


@dataclass(frozen=True)
class Settings:
    """Chapter 5's budget; the defaults are the paper's (its appendix and the authors' code): the ``full`` profile."""

    max_patches: int | None = None  # None: every patch
    n_folds: int = 5
    folds_run: int = 5
    ae_epochs: int = 70
    densenet_epochs: int = 30
    batch_size: dict = field(default_factory=lambda: {"alexnet": 300, "resnet": 160, "other": 1000})
    kmeans_restarts: int = 50
    fc_widths: tuple = (2000, 1000, 500)
    conv_width: float = 1.0
    alexnet: dict = field(default_factory=lambda: {"input_size": 250, "fc_width": 4096, "width": 1.0})
    resnet: dict = field(default_factory=lambda: {"input_size": 250, "width": 1.0})
    densenet: dict = field(default_factory=lambda: {"growth_rate": 32, "block_config": (6, 12, 24, 16, 16),
                                                    "num_init_features": 64})
    densenet_lr: float = 1e-4
    tsne_points: int = 5000


_CPU = {
    "max_patches": (2400, "time: 150 images (IDC: patients) of 16 patches, so that all 5 folds fit the cpu budget"),
    "ae_epochs": (4, "time"),
    "densenet_epochs": (4, "time"),
    "batch_size": ({"alexnet": 64, "resnet": 64, "other": 64}, "about 1,450 training patches: batches of 1,000 would be 2 steps an epoch"),
    "fc_widths": ((500, 250, 125), "time: hidden layers narrowed, latent size kept"),
    "conv_width": (0.125, "time: 1/8 of the channels, latent size kept"),
    "alexnet": ({"input_size": 64, "fc_width": 512, "width": 0.25}, "time: AlexNet needs at least 63 pixels; narrowed"),
    "resnet": ({"input_size": 32, "width": 0.25}, "time: narrowed, smaller input"),
    "densenet": ({"growth_rate": 12, "block_config": (2, 2, 2, 2, 2), "num_init_features": 24}, "time: a small DenseNet"),
    "densenet_lr": (1e-3, "4 epochs instead of 30; fixed before any run"),
    "tsne_points": (600, "time: t-SNE on 600 points"),
}
_SMOKE = {
    **_CPU,
    "max_patches": (400, "CI: under 2 minutes a notebook"), "folds_run": (1, "CI"), "ae_epochs": (1, "CI"),
    "densenet_epochs": (1, "CI"), "kmeans_restarts": (2, "CI"), "fc_widths": ((64, 32, 16), "CI"),
    "conv_width": (0.05, "CI"), "alexnet": ({"input_size": 64, "fc_width": 64, "width": 0.1}, "CI"),
    "resnet": ({"input_size": 32, "width": 0.1}, "CI"),
    "densenet": ({"growth_rate": 4, "block_config": (1, 1, 1, 1, 1), "num_init_features": 8}, "CI"),
    "tsne_points": (200, "CI"),
}
#: ``gpu``: the paper's model widths and input sizes and its k-means restarts, on cpu's patches and 2 of its 5 folds,
#: with fewer epochs.  Not measured on a GPU yet: estimated from FLOPs, the ResNet autoencoder at 250 px is the
#: costliest loop, a few seconds an epoch for 1,450 training patches, so about 2 minutes for the chapter.
_GPU = {
    "max_patches": (2400, "the cpu run's patches, so the two compare (k-means and t-SNE run on the host)"),
    "folds_run": (2, "time: 2 of the 5 folds in a GPU window (the cpu profile runs all 5)"),
    "ae_epochs": (20, "time: the paper-width autoencoders at 250 px cost seconds an epoch"),
    "densenet_epochs": (10, "time"),
    "batch_size": _CPU["batch_size"],
    "densenet_lr": (1e-3, "10 epochs instead of 30; fixed before any run"),
}
#: Chapter 5's profiles.
BUDGET = Budget(Settings(), {
    "smoke": _SMOKE,
    "cpu": _CPU,
    "gpu": _GPU,
})
