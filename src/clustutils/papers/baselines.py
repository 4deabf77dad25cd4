"""Chapter 4's baselines on an autoencoder's codes: compact DEC, IDEC, DCN and DKM.

All models share :class:`Autoencoder`, the fully connected ``D-500-500-2000-d`` network with a mirrored
decoder, LeakyReLU(0.2) and Glorot initialisation used by AE-CM (DEC and IDEC use the same sizes with
ReLU).  Every clustering model has ``loss(x, index)`` (``index`` is the rows' position in the data set,
needed by DEC/IDEC's target distribution), ``predict(x)`` and ``hooks(x, epochs)``, the once-per-epoch or
per-step work the training engine :func:`clustutils.train.fit` runs for it (:func:`train_clustering`).

The baselines are written from their papers' descriptions, kept short:

- DEC (Xie et al. 2016): Student-t soft assignments ``q`` to centroids in code space, trained by
  ``KL(P || Q)`` against the sharpened target ``p = q^2 / f`` (``f`` the soft cluster sizes), the
  decoder discarded.  The target is refreshed by :func:`refresh_target` before every epoch.
- IDEC (Guo et al. 2017): DEC's loss times ``gamma`` (0.1) plus the reconstruction error, decoder kept.
- DCN (Yang et al. 2017): summed squared reconstruction error + ``lam ||z_i - mu_{s_i}||^2`` with hard
  assignments ``s``.  As the paper's Algorithm 1, a step (i) updates the network with the stored
  assignments of the batch, then, with the updated network, (ii) re-assigns the batch to the nearest
  centroid and (iii) moves each centroid by ``(z - mu_k) / count_k`` (running means; counts start at
  100 as in the authors' code).  The paper writes the weight as ``lambda / 2``; the authors' MNIST script
  weights both terms 1, which is ``lam = 1`` here.
- DKM (Fard et al. 2020): summed squared reconstruction error + ``lam * sum_k softmax(-a d)_k d_k``,
  ``d_k = ||z - mu_k||^2``, with the centroids as parameters trained by the same optimiser.  From a
  pretrained autoencoder the authors keep the inverse temperature ``a`` constant at 1000 (their "DKMp");
  ``anneal`` multiplies it over training (1 = constant), a factor ``anneal ** (1 / epochs)`` after every epoch.
"""

from __future__ import annotations

import torch
from torch import nn

from ..autoencoders import Autoencoder, ClusteringModel, encode
from ..train import Hook, batched

__all__ = ["DEC", "IDEC", "refresh_target", "DCN", "DKM", "RefreshTarget", "UpdateCentroids", "Anneal"]


def _student_t(z, mu, dof: float = 1.0):
    """DEC's soft assignment ``q_ik`` proportional to ``(1 + ||z_i - mu_k||^2 / dof)^(-(dof + 1) / 2)``."""
    q = (1 + ((z[:, None, :] - mu) ** 2).sum(-1) / dof) ** (-(dof + 1) / 2)  # squared distances, no square root
    return q / q.sum(1, keepdim=True)


class RefreshTarget(Hook):
    """DEC/IDEC: recompute the target distribution on all of ``x`` before every epoch."""

    def __init__(self, x):
        self.x = x

    def epoch_start(self, model, epoch):
        refresh_target(model, self.x)


class DEC(ClusteringModel):
    """DEC: the encoder of a pretrained autoencoder plus centroids, trained by ``KL(P || Q)``."""

    def __init__(self, ae: Autoencoder, centroids):
        super().__init__()
        self.ae = ae
        self.mu = nn.Parameter(torch.as_tensor(centroids, dtype=torch.float32).clone())
        self.target = None  # P for the whole data set, set by refresh_target

    def soft_assign(self, x):
        return _student_t(self.ae.encoder(x), self.mu)

    def loss(self, x, index):
        q = self.soft_assign(x)
        p = self.target[index]
        return (p * (torch.log(p + 1e-12) - torch.log(q + 1e-12))).sum(1).mean()

    def hooks(self, x, epochs):
        return [RefreshTarget(x)]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 10000) -> torch.Tensor:
        return batched(lambda xb: self.soft_assign(xb).argmax(1), x, batch_size)


class IDEC(DEC):
    """IDEC: DEC's clustering loss times ``gamma`` plus the autoencoder's reconstruction error."""

    def __init__(self, ae: Autoencoder, centroids, gamma: float = 0.1):
        super().__init__(ae, centroids)
        self.gamma = gamma

    def loss(self, x, index):
        z, x_hat = self.ae(x)
        q = _student_t(z, self.mu)
        p = self.target[index]
        kl = (p * (torch.log(p + 1e-12) - torch.log(q + 1e-12))).sum(1).mean()
        return ((x_hat - x) ** 2).mean() + self.gamma * kl


@torch.no_grad()
def refresh_target(model: DEC, x, batch_size: int = 10000) -> torch.Tensor:
    """Set DEC's target ``p_ik = (q_ik^2 / f_k) / sum_l (q_il^2 / f_l)``, ``f_k = sum_i q_ik``; return the labels."""
    q = batched(model.soft_assign, x, batch_size)
    weight = q**2 / q.sum(0)
    model.target = weight / weight.sum(1, keepdim=True)
    return q.argmax(1)


class UpdateCentroids(Hook):
    """DCN: after every step, re-assign the batch and move the centroids (:meth:`DCN.update_centroids`)."""

    def step_end(self, model, step):
        model.update_centroids()


class DCN(ClusteringModel):
    """DCN: summed squared reconstruction error + ``lam * ||z_i - mu_{s_i}||^2``, hard assignments, running-mean centroids.

    ``assignments`` (one per data point, e.g. the k-means labels the centroids come from) are the
    ``s_i`` the loss uses; :meth:`update_centroids`, called after every optimiser step, refreshes the
    batch's assignments with the updated network and moves the centroids (Algorithm 1 of the paper).
    """

    def __init__(self, ae: Autoencoder, centroids, assignments, lam: float = 1.0, initial_count: float = 100.0):
        super().__init__()
        self.ae = ae
        self.register_buffer("mu", torch.as_tensor(centroids, dtype=torch.float32).clone())
        self.register_buffer("assignments", torch.as_tensor(assignments, dtype=torch.long).clone())
        self.register_buffer("counts", torch.full((len(self.mu),), float(initial_count)))
        self.lam = lam

    def loss_terms(self, x, index) -> dict:
        """Per-batch means of the summed squared reconstruction error and of ``||z_i - mu_{s_i}||^2``."""
        z, x_hat = self.ae(x)
        self._last = (x, index)
        return {"reconstruction": ((x_hat - x) ** 2).sum(1).mean(),
                "kmeans": ((z - self.mu[self.assignments[index]]) ** 2).sum(1).mean()}

    def loss(self, x, index):
        terms = self.loss_terms(x, index)
        return terms["reconstruction"] + self.lam * terms["kmeans"]

    @torch.no_grad()
    def update_centroids(self) -> None:
        """After a step: re-assign the last batch with the updated encoder, then DCN's incremental means.

        Each code moves its centroid by ``(z - mu_k) / count_k`` after ``count_k += 1``; applied code by
        code this is the running mean ``(count_k mu_k + sum z) / (count_k + m_k)`` over the ``m_k``
        codes of the batch assigned to ``k``, computed here in one step.
        """
        x, index = self._last
        z = self.ae.encoder(x)
        s = torch.cdist(z, self.mu).argmin(1)
        self.assignments[index] = s
        added = torch.zeros_like(self.mu).index_add_(0, s, z)
        m = torch.zeros_like(self.counts).index_add_(0, s, torch.ones_like(s, dtype=self.counts.dtype))  # no host sync
        self.mu.copy_((self.counts[:, None] * self.mu + added) / (self.counts + m)[:, None])
        self.counts += m

    def hooks(self, x, epochs):
        return [UpdateCentroids()]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 10000) -> torch.Tensor:
        return torch.cdist(encode(self.ae.encoder, x, batch_size), self.mu).argmin(1)


class Anneal(Hook):
    """DKM: multiply the inverse temperature by ``factor`` after every epoch."""

    def __init__(self, factor: float):
        self.factor = factor

    def epoch_end(self, model, epoch):
        model.inverse_temperature *= self.factor


class DKM(ClusteringModel):
    """DKM: summed squared reconstruction error + ``lam * sum_k softmax(-a d)_k d_k``, ``d_k = ||z - mu_k||^2``.

    ``a`` is ``inverse_temperature`` (constant 1000 by default, the authors' setting after pretraining);
    its hook multiplies it by ``anneal ** (1 / epochs)`` after every epoch (:class:`Anneal`).
    """

    def __init__(self, ae: Autoencoder, centroids, lam: float = 1.0, inverse_temperature: float = 1000.0,
                 anneal: float = 1.0):
        super().__init__()
        self.ae = ae
        self.mu = nn.Parameter(torch.as_tensor(centroids, dtype=torch.float32).clone())
        self.lam, self.inverse_temperature, self.anneal = lam, inverse_temperature, anneal

    def loss_terms(self, x) -> dict:
        """Per-batch means of the summed squared reconstruction error and of the softmax-weighted distances."""
        z, x_hat = self.ae(x)
        d = ((z[:, None, :] - self.mu) ** 2).sum(-1)
        weights = torch.softmax(-self.inverse_temperature * d, 1)
        return {"reconstruction": ((x_hat - x) ** 2).sum(1).mean(), "kmeans": (weights * d).sum(1).mean()}

    def loss(self, x, index=None):
        terms = self.loss_terms(x)
        return terms["reconstruction"] + self.lam * terms["kmeans"]

    def hooks(self, x, epochs):
        return [Anneal(self.anneal ** (1 / max(epochs, 1)))]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 10000) -> torch.Tensor:
        return torch.cdist(encode(self.ae.encoder, x, batch_size), self.mu).argmin(1)


