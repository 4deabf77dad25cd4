"""Potential energies of tied autoencoders (Kamyshanska & Memisevic) and class-specific autoencoders.

A tied autoencoder reconstructs ``r(x) = W^T h(W x + b_h) + b_r``.  For an
elementwise activation ``h`` with antiderivative ``H`` its potential energy is

    E(x) = sum_k H(u_k) - 1/2 ||x - b_r||^2,   u = W x + b_h,

so that ``dE/dx = r(x) - x``.  Weights are stored as ``W`` of shape
``(hidden, input)``; ``x`` is a batch ``(N, input)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .train import error_rate

__all__ = ["Activation", "ACTIVATIONS", "reconstruct", "energy", "contraction", "laplacian", "TiedAutoencoder", "CSAE",
           "rbm_negative_free_energy", "pretrain_class_autoencoders", "error_rate", "finetune",
           "FactoredCSAE"]


@dataclass(frozen=True)
class Activation:
    """A hidden-unit activation ``h``, its antiderivative ``H`` and its derivative ``dh``."""

    name: str
    h: Callable[[torch.Tensor], torch.Tensor]
    H: Callable[[torch.Tensor], torch.Tensor]
    dh: Callable[[torch.Tensor], torch.Tensor]
    smooth: bool = True  # differentiable everywhere (contraction penalty) or not (denoising)


def _logcosh(u):
    # log cosh u = u + softplus(-2u) - log 2 (the appendix's stable form, Eq. 51, keeps the -log 2 in the constant)
    return u + F.softplus(-2 * u) - math.log(2.0)


ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", torch.sigmoid, F.softplus, lambda u: torch.sigmoid(u) * (1 - torch.sigmoid(u))),
    "tanh": Activation("tanh", torch.tanh, _logcosh, lambda u: 1 - torch.tanh(u) ** 2),
    "linear": Activation("linear", lambda u: u, lambda u: u**2 / 2, torch.ones_like),
    "square": Activation("square", lambda u: u**2, lambda u: u**3 / 3, lambda u: 2 * u),
    "relu": Activation("relu", F.relu, lambda u: F.relu(u) ** 2 / 2, lambda u: (u > 0).to(u.dtype), smooth=False),
    "modulus": Activation("modulus", torch.abs, lambda u: torch.sign(u) * u**2 / 2, torch.sign, smooth=False),
}
"""The activations of the paper's Section 2.3 with their antiderivatives (Eqs. 12-20)."""


def _act(activation) -> Activation:
    if isinstance(activation, Activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[activation]


def reconstruct(x, W, b_h, b_r, activation="sigmoid"):
    """Tied reconstruction ``r(x) = W^T h(W x + b_h) + b_r`` for a batch ``x`` of shape ``(N, D)``."""
    return _act(activation).h(x @ W.T + b_h) @ W + b_r


def energy(x, W, b_h, b_r, activation="sigmoid"):
    """Potential energy ``sum_k H(u_k) - 1/2 ||x - b_r||^2`` per row of ``x`` (up to a constant)."""
    return _act(activation).H(x @ W.T + b_h).sum(-1) - 0.5 * ((x - b_r) ** 2).sum(-1)


def contraction(x, W, b_h, activation="sigmoid"):
    """Contraction penalty ``||dh/dx||_F^2 = sum_k h'(u_k)^2 ||w_k||^2`` per row (Eq. 40)."""
    return (_act(activation).dh(x @ W.T + b_h) ** 2 * (W**2).sum(1)).sum(-1)


def laplacian(x, W, b_h, activation="sigmoid"):
    """Laplacian of the energy, ``sum_k h'(u_k) ||w_k||^2 - D`` per row (Eq. 38); negative: a sink."""
    return (_act(activation).dh(x @ W.T + b_h) * (W**2).sum(1)).sum(-1) - x.shape[-1]


class TiedAutoencoder(nn.Module):
    """One tied autoencoder with an energy; trained with a contraction penalty or denoising.

    ``loss(x)`` is the mean over the batch of the summed squared reconstruction error plus
    ``contraction_weight`` times the contraction penalty (smooth activations) or, with
    ``corruption > 0``, the error of reconstructing ``x`` from a copy with that fraction of
    pixels set to zero (masking noise).
    """

    def __init__(self, n_input: int, n_hidden: int, activation="sigmoid", contraction_weight: float = 0.5,
                 corruption: float = 0.0, init_scale: float | None = None):
        super().__init__()
        self.activation = _act(activation)
        scale = init_scale if init_scale is not None else math.sqrt(6.0 / (n_input + n_hidden))
        self.W = nn.Parameter(torch.empty(n_hidden, n_input).uniform_(-scale, scale))
        self.b_h = nn.Parameter(torch.zeros(n_hidden))
        self.b_r = nn.Parameter(torch.zeros(n_input))
        self.contraction_weight, self.corruption = contraction_weight, corruption

    def forward(self, x):
        return reconstruct(x, self.W, self.b_h, self.b_r, self.activation)

    def energy(self, x):
        return energy(x, self.W, self.b_h, self.b_r, self.activation)

    def loss(self, x):
        source = x
        if self.corruption > 0 and self.training:
            source = x * (torch.rand_like(x) >= self.corruption)
        error = ((self(source) - x) ** 2).sum(-1).mean()
        if self.contraction_weight and self.activation.smooth and self.corruption == 0:
            error = error + self.contraction_weight * contraction(x, self.W, self.b_h, self.activation).mean()
        return error


class CSAE(nn.Module):
    """Class-specific autoencoders combined by ``P(y|x) = softmax_y(E_y(x) + C_y)`` (Eq. 45).

    Holds ``K`` tied autoencoders as stacked tensors; ``forward`` returns the logits
    ``E_y(x) + C_y`` of shape ``(N, K)``.  ``from_autoencoders`` copies pretrained ones.
    """

    def __init__(self, n_classes: int, n_input: int, n_hidden: int, activation="sigmoid"):
        super().__init__()
        self.activation = _act(activation)
        scale = math.sqrt(6.0 / (n_input + n_hidden))
        self.W = nn.Parameter(torch.empty(n_classes, n_hidden, n_input).uniform_(-scale, scale))
        self.b_h = nn.Parameter(torch.zeros(n_classes, n_hidden))
        self.b_r = nn.Parameter(torch.zeros(n_classes, n_input))
        self.C = nn.Parameter(torch.zeros(n_classes))

    @classmethod
    def from_autoencoders(cls, autoencoders) -> "CSAE":
        """A CSAE whose class ``y`` autoencoder is a copy of ``autoencoders[y]``; ``C`` starts at 0."""
        first = autoencoders[0]
        model = cls(len(autoencoders), first.W.shape[1], first.W.shape[0], first.activation).to(first.W.device)
        with torch.no_grad():
            for y, ae in enumerate(autoencoders):
                model.W[y], model.b_h[y], model.b_r[y] = ae.W, ae.b_h, ae.b_r
        return model

    def energies(self, x):
        """``E_y(x)`` for every class, shape ``(N, K)``."""
        u = torch.einsum("nd,khd->nkh", x, self.W) + self.b_h
        return self.activation.H(u).sum(-1) - 0.5 * ((x[:, None, :] - self.b_r) ** 2).sum(-1)

    def forward(self, x):
        return self.energies(x) + self.C


class FactoredCSAE(nn.Module):
    """Factored class-specific autoencoders with sigmoid hidden units (Eqs. 46-50).

    Class ``j`` has the tied weight matrix ``W_j = W_x diag(w_f[j]) W_h`` (input x hidden),
    built from the shared ``W_x`` (input x factors) and ``W_h`` (factors x hidden) and the
    class-specific factor weights ``w_f`` (classes x factors), plus class-specific biases.
    """

    def __init__(self, n_classes: int, n_input: int, n_factors: int, n_hidden: int, activation="sigmoid"):
        super().__init__()
        self.activation = _act(activation)
        self.W_x = nn.Parameter(torch.randn(n_input, n_factors) * n_input**-0.5)
        self.W_h = nn.Parameter(torch.randn(n_factors, n_hidden) * n_factors**-0.5)
        self.w_f = nn.Parameter(torch.ones(n_classes, n_factors))
        self.b_h = nn.Parameter(torch.zeros(n_classes, n_hidden))
        self.b_r = nn.Parameter(torch.zeros(n_classes, n_input))
        self.C = nn.Parameter(torch.zeros(n_classes))

    def class_weights(self):
        """``W_j`` for every class, shape ``(K, hidden, input)`` (the layout of :class:`CSAE`)."""
        return torch.einsum("df,kf,fh->khd", self.W_x, self.w_f, self.W_h)

    def net_input(self, x):
        """``u_j = W_j^T x + b_h^j`` for every class, shape ``(N, K, hidden)``, without forming ``W_j``."""
        return torch.einsum("nf,kf,fh->nkh", x @ self.W_x, self.w_f, self.W_h) + self.b_h

    def energies(self, x):
        return self.activation.H(self.net_input(x)).sum(-1) - 0.5 * ((x[:, None, :] - self.b_r) ** 2).sum(-1)

    def forward(self, x):
        return self.energies(x) + self.C

    def reconstruct(self, x, y):
        """Reconstruction of each row of ``x`` by the autoencoder of its class ``y`` (Eq. 49)."""
        u = self.net_input(x)[torch.arange(len(x)), y]
        hidden = self.activation.h(u)
        return torch.einsum("nh,fh,nf,df->nd", hidden, self.W_h, self.w_f[y], self.W_x) + self.b_r[y]

    def denoising_loss(self, x, y, corruption: float = 0.2):
        """Squared error of reconstructing ``x`` from a masked copy, by the autoencoder of class ``y``."""
        noisy = x * (torch.rand_like(x) >= corruption)
        return ((self.reconstruct(noisy, y) - x) ** 2).sum(-1).mean()


def rbm_negative_free_energy(x, W, b_h, b_r, visible: str = "gaussian"):
    """``log sum_h exp(-E(x, h))`` of an RBM by enumerating all binary hidden states (small ``hidden`` only).

    ``visible="gaussian"``: ``E(x, h) = 1/2 ||x - b_r||^2 - b_h^T h - x^T W^T h``;
    ``visible="binary"``: ``E(x, h) = -b_r^T x - b_h^T h - x^T W^T h``.
    This is minus the free energy; it is the brute-force check of Eqs. 12 and 30.
    """
    if visible not in ("gaussian", "binary"):
        raise ValueError("visible must be 'gaussian' or 'binary'")
    n_hidden = W.shape[0]
    if n_hidden > 16:
        raise ValueError(f"enumerating 2^{n_hidden} hidden states is too many; use at most 16 hidden units")
    states = torch.tensor([[(i >> k) & 1 for k in range(n_hidden)] for i in range(2**n_hidden)], dtype=x.dtype)
    coupling = (x @ W.T) @ states.T + states @ b_h  # (N, 2^H): x^T W^T h + b_h^T h
    visible_term = -0.5 * ((x - b_r) ** 2).sum(-1) if visible == "gaussian" else x @ b_r
    return torch.logsumexp(coupling, dim=1) + visible_term


def pretrain_class_autoencoders(x, y, n_classes: int, n_hidden: int, activation="sigmoid", *, epochs: int, lr: float,
                                seed: int = 0, contraction_weight: float = 0.5, corruption: float = 0.2,
                                batch_size: int = 100) -> list[TiedAutoencoder]:
    """Train one tied autoencoder per class on that class's rows of ``x`` (SGD, momentum 0.9).

    Smooth activations use the contraction penalty, the others denoising with masking
    noise of level ``corruption`` (the paper's choice, Section 4.2).  ``b_r`` starts at the
    class mean.
    """
    from tqdm import tqdm

    from .train import fit

    act = _act(activation)
    models = []
    for k in tqdm(range(n_classes), desc=f"pretraining {act.name} autoencoders", leave=False, mininterval=2.0):
        torch.manual_seed(seed * 1000 + k)
        ae = TiedAutoencoder(x.shape[1], n_hidden, act, contraction_weight=contraction_weight if act.smooth else 0.0,
                             corruption=0.0 if act.smooth else corruption).to(x.device)
        rows = x[y == k]
        with torch.no_grad():
            ae.b_r.copy_(rows.mean(0))
        fit(ae, lambda m, xb: m.loss(xb), (rows,), epochs=epochs, batch_size=batch_size, seed=seed * 1000 + k,
            optimizer=torch.optim.SGD(ae.parameters(), lr=lr, momentum=0.9), progress=False)
        models.append(ae)
    return models


def finetune(model: nn.Module, x, y, x_val, y_val, *, epochs: int, lr: float, seed: int = 0, batch_size: int = 100,
             parameters=None, desc: str = "fine-tuning") -> list[float]:
    """Discriminative training of ``-log P(y|x)`` (Eq. 45) with SGD and momentum 0.9.

    ``parameters`` restricts what is trained (e.g. ``[model.C]`` for "learn normalisation
    only").  The model ends with the weights of the epoch of lowest validation error.
    """
    from .train import fit

    optimizer = torch.optim.SGD(parameters if parameters is not None else model.parameters(), lr=lr, momentum=0.9)
    return fit(model, lambda m, xb, yb: F.cross_entropy(m(xb), yb), (x, y), epochs=epochs, batch_size=batch_size,
               optimizer=optimizer, seed=seed, select_best=lambda m: error_rate(m, x_val, y_val), desc=desc)
