"""The Clustering Module (CM) of Boubekki et al.: k-means relaxed into a one-layer autoencoder.

The encoder is a softmax over ``K`` clusters, ``gamma = softmax(W x + b)``; the decoder is the
centroid matrix, ``x~ = gamma @ mu``.  The loss per sample (all weights 1) is

- ``E1 = ||x - gamma mu||^2``                      reconstruction by the centroid mixture
- ``E2 = sum_k gamma_k (1 - gamma_k) ||mu_k||^2``  sparsity + regularisation
- ``E3 = -sum_{k != l} gamma_k gamma_l mu_k.mu_l``  sparsity + merging
- ``E4 = -sum_k (alpha_k - 1) log mean_batch(gamma_k)``  Dirichlet prior on cluster sizes

and ``E1 + E2 + E3 = sum_k gamma_k ||x - mu_k||^2``, the soft k-means objective.

With labels (the slides' supervised CM) the centroids are fixed, one per class, and each example is
represented by its class centroid: :func:`supervised_cm_loss`, trained by :func:`train_supervised`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .train import error_rate

__all__ = ["cm_loss_terms", "ClusteringModule", "kmeanspp_init", "isotropic_gmm_init", "train_cm",
           "supervised_cm_loss", "train_supervised", "classification_error"]

LOG_EPS = 1e-10


def cm_loss_terms(x, gamma, mu, alpha) -> dict:
    """The four CM loss terms, each averaged over the batch (E4 is defined on the batch mean)."""
    recon = gamma @ mu
    sq_norms = (mu**2).sum(1)
    e1 = ((x - recon) ** 2).sum(1)
    e2 = (gamma * (1 - gamma) * sq_norms).sum(1)
    gram = mu @ mu.T
    e3 = -((gamma @ gram) * gamma).sum(1) + (gamma**2 * sq_norms).sum(1)  # the k = l terms removed
    alpha = torch.as_tensor(alpha, dtype=x.dtype, device=x.device).expand(mu.shape[0])
    log_mean = torch.log(gamma.mean(0) + LOG_EPS)
    e4 = -((alpha - 1) * log_mean).sum()
    return {"E1": e1.mean(), "E2": e2.mean(), "E3": e3.mean(), "E4": e4}


class ClusteringModule(nn.Module):
    """``gamma = softmax(W x + b)``, reconstruction ``gamma @ mu``; ``loss`` is E1+E2+E3+E4 over ``N * D``.

    Dividing by the batch size and the input dimension follows the authors' PyTorch example.
    """

    def __init__(self, n_input: int, n_clusters: int, alpha: float = 1.0):
        super().__init__()
        self.encoder = nn.Linear(n_input, n_clusters)
        nn.init.xavier_uniform_(self.encoder.weight)
        nn.init.zeros_(self.encoder.bias)
        self.mu = nn.Parameter(torch.empty(n_clusters, n_input))
        nn.init.xavier_uniform_(self.mu)
        self.alpha = alpha

    def forward(self, x):
        return torch.softmax(self.encoder(x), dim=1)

    def loss(self, x):
        terms = cm_loss_terms(x, self(x), self.mu, self.alpha)
        return (terms["E1"] + terms["E2"] + terms["E3"]) / x.shape[1] + terms["E4"] / (len(x) * x.shape[1])

    @torch.no_grad()
    def predict(self, x, batch_size: int = 10000) -> torch.Tensor:
        """Hard assignments ``argmax_k gamma_k``."""
        return torch.cat([self(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def kmeanspp_init(model: ClusteringModule, x, seed: int = 0) -> None:
    """Initialise from one k-means++ seeding: centroids from k-means++, encoder from their pseudo-inverse.

    With ``W = pinv(mu)^T`` a centroid ``mu_k`` gets logits ``W mu_k = e_k``, so it is assigned to itself.
    """
    from sklearn.cluster import kmeans_plusplus

    centres, _ = kmeans_plusplus(x.detach().cpu().numpy().astype(np.float64), model.mu.shape[0], random_state=seed)
    mu = torch.as_tensor(centres, dtype=model.mu.dtype, device=model.mu.device)
    model.mu.copy_(mu)
    model.encoder.weight.copy_(torch.linalg.pinv(mu).T)
    model.encoder.bias.zero_()


@torch.no_grad()
def isotropic_gmm_init(model: ClusteringModule, centroids, variance: float) -> None:
    """Set the CM to the isotropic GMM with these centroids, shared variance and equal weights.

    The responsibilities of that GMM are ``softmax(W x + b)`` with ``W = mu / variance`` and
    ``b = -||mu||^2 / (2 variance)``, so the CM starts from the GMM's (k-means-like) assignments.
    """
    mu = torch.as_tensor(centroids, dtype=model.mu.dtype, device=model.mu.device)
    model.mu.copy_(mu)
    model.encoder.weight.copy_(mu / variance)
    model.encoder.bias.copy_(-(mu**2).sum(1) / (2 * variance))


def train_cm(model: ClusteringModule, x, *, epochs: int, batch_size: int, seed: int = 0, lr: float = 1e-3,
             average_last_epoch: bool = True, progress: bool = False) -> list[float]:
    """Adam (lr 1e-3, eps 1e-3) for ``epochs``, then, as the authors, one more epoch whose weights are averaged.

    Returns the loss history (one value per epoch, the averaging epoch included).
    """
    from .train import fit

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-3)
    history = fit(model, lambda m, xb: m.loss(xb), (x,), epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                  seed=seed, progress=progress, desc="CM")
    if average_last_epoch:
        snapshots = []
        history += fit(model, lambda m, xb: m.loss(xb), (x,), epochs=1, batch_size=batch_size, optimizer=optimizer,
                       seed=seed + 1, progress=False,
                       on_step_end=lambda: snapshots.append([p.detach().clone() for p in model.parameters()]))
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(torch.stack([s[i] for s in snapshots]).mean(0))
    return history


def supervised_cm_loss(logits: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor | None = None) -> torch.Tensor:
    """Supervised CM loss: E1 + E2 + E3 with ``x = mu_y`` and ``gamma = softmax(logits)``, batch mean.

    ``centroids`` (``K x D``, fixed) default to the one-hot vectors, which are orthonormal; then the
    loss equals ``2 (1 - gamma_y)`` per example, a bounded alternative to the cross-entropy.
    """
    if centroids is None:
        centroids = torch.eye(logits.shape[1], dtype=logits.dtype, device=logits.device)
    terms = cm_loss_terms(centroids[labels], torch.softmax(logits, 1), centroids, alpha=1.0)
    return terms["E1"] + terms["E2"] + terms["E3"]


def train_supervised(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, desc: str = "supervised CM", progress: bool = True) -> list[float]:
    """Train a classifier ``net`` (logits out) with :func:`supervised_cm_loss` and Adam; returns the loss per epoch."""
    from .train import fit

    return fit(net, lambda model, xb, yb: supervised_cm_loss(model(xb), yb), (x, y), epochs=epochs,
               batch_size=batch_size, optimizer=torch.optim.Adam(net.parameters(), lr=lr), seed=seed, desc=desc,
               progress=progress)


#: The test error of a supervised CM classifier: :func:`clustutils.train.error_rate` (one implementation).
classification_error = error_rate
