"""Deep clustering on an autoencoder's codes: AE-CM (Boubekki et al.) and compact DEC, IDEC, DCN and DKM.

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

from .cm import ClusteringModule, cm_loss_terms
from .train import Hook, batched, fit

__all__ = ["Autoencoder", "pretrain_autoencoder", "pretrained_autoencoder", "aecm_start", "encode", "rescale_codes", "AECM", "orthonormality_penalty", "DEC", "IDEC",
           "refresh_target", "DCN", "DKM", "ClusteringModel", "train_clustering"]


class Autoencoder(nn.Module):
    """Fully connected autoencoder ``n_input - hidden - n_latent`` with a mirrored decoder (linear ends)."""

    def __init__(self, n_input: int, n_latent: int = 10, hidden=(500, 500, 2000), negative_slope: float = 0.2):
        super().__init__()

        def mlp(sizes):
            layers = []
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers.append(nn.Linear(a, b))
                if i < len(sizes) - 2:
                    layers.append(nn.LeakyReLU(negative_slope) if negative_slope else nn.ReLU())
            return nn.Sequential(*layers)

        self.encoder = mlp([n_input, *hidden, n_latent])
        self.decoder = mlp([n_latent, *hidden[::-1], n_input])
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        z = self.encoder(x)
        return z, self.decoder(z)

    def loss(self, x, index=None):
        """Mean squared reconstruction error (over samples and pixels)."""
        return ((self(x)[1] - x) ** 2).mean()


def pretrain_autoencoder(ae: Autoencoder, x, *, epochs: int, batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
                         progress: bool = True) -> list[float]:
    """Adam on the mean squared reconstruction error; returns the loss per epoch."""
    optimizer = torch.optim.Adam(ae.parameters(), lr=lr)
    return fit(ae, lambda m, xb: m.loss(xb), (x,), epochs=epochs, batch_size=batch_size, optimizer=optimizer,
               seed=seed, progress=progress, desc="autoencoder")


def pretrained_autoencoder(x, n_latent: int, *, epochs: int, seed: int = 0, dataset: str = "data", batch_size: int = 256,
                           lr: float = 1e-3, progress: bool = True) -> tuple[Autoencoder, list[float], bool]:
    """The shared pretrained autoencoder of chapter 4: ``D-500-500-2000-n_latent``, Adam, cached by its settings.

    Returns ``(autoencoder, loss per epoch, loaded_from_cache)``; the weights are cached with
    :func:`clustutils.train.fit_cached` under everything that determines them.
    """
    from .train import fit_cached

    torch.manual_seed(seed)
    ae = Autoencoder(x.shape[1], n_latent).to(x.device)
    config = {"name": "ae_cm_pretrain", "dataset": dataset, "n": len(x), "n_latent": n_latent, "epochs": epochs,
              "batch": batch_size, "lr": lr, "seed": seed}
    history, cached = fit_cached(ae, config, lambda m: pretrain_autoencoder(m, x, epochs=epochs, batch_size=batch_size,
                                                                          lr=lr, seed=seed, progress=progress))
    return ae.to(x.device), history, cached


def aecm_start(ae: Autoencoder, codes, n_clusters: int, *, alpha: float, beta: float = 100.0, lam: float = 0.1,
               cm_epochs: int, batch_size: int, kmeans_restarts: int = 20, seed: int = 0) -> "AECM":
    """AE-CM+pre as chapter 4 starts it: a copy of ``ae`` whose codes are rescaled, the CM fitted on them.

    1. k-means (``kmeans_restarts``) on ``codes`` (the autoencoder's codes of the data);
    2. :func:`rescale_codes` so that the mean squared centroid norm is 1 (the scale the orthonormality
       term prefers; reconstruction and partition unchanged);
    3. the CM set to the isotropic GMM of that k-means solution (:func:`clustutils.cm.isotropic_gmm_init`,
       variance = the within-cluster variance per dimension), then trained ``cm_epochs`` on the frozen
       codes (no weight averaging).  The joint training is :func:`train_clustering`'s.
    """
    from sklearn.cluster import KMeans

    from .cm import isotropic_gmm_init, train_cm

    model = AECM(ae.encoder[0].in_features, n_clusters, n_latent=codes.shape[1], alpha=alpha, beta=beta, lam=lam,
                 hidden=tuple(layer.out_features for layer in ae.encoder if isinstance(layer, nn.Linear))[:-1])
    model = model.to(codes.device)
    model.ae.load_state_dict(ae.state_dict())
    km = KMeans(n_clusters, n_init=kmeans_restarts, random_state=seed).fit(codes.cpu().numpy())
    centroids = torch.from_numpy(km.cluster_centers_).float().to(codes.device)
    factor = float(1 / (centroids**2).sum(1).mean().sqrt())
    rescale_codes(model.ae, factor)
    codes, centroids = codes * factor, centroids * factor
    variance = float(((codes - centroids[torch.from_numpy(km.labels_).to(codes.device)]) ** 2).mean())
    isotropic_gmm_init(model.cm, centroids, variance)
    train_cm(model.cm, codes, epochs=cm_epochs, batch_size=batch_size, seed=seed, average_last_epoch=False)
    return model


@torch.no_grad()
def encode(encoder: nn.Module, x, batch_size: int = 10000) -> torch.Tensor:
    """``encoder(x)`` in chunks, without gradients (a torch tensor on the encoder's device)."""
    return batched(encoder, x, batch_size)


@torch.no_grad()
def rescale_codes(ae: Autoencoder, factor: float) -> None:
    """Multiply the codes by ``factor`` without changing the reconstruction.

    Scales the encoder's last layer by ``factor`` and the decoder's first weights by ``1 / factor``
    (the decoder's first layer is linear in ``z``, so ``g(factor z)`` with those weights equals ``g(z)``).
    """
    ae.encoder[-1].weight.mul_(factor)
    ae.encoder[-1].bias.mul_(factor)
    ae.decoder[0].weight.div_(factor)


def orthonormality_penalty(mu) -> torch.Tensor:
    """``||mu mu^T - I||_F^2``: zero when the centroids (rows of ``mu``) are orthonormal."""
    eye = torch.eye(mu.shape[0], dtype=mu.dtype, device=mu.device)
    return ((mu @ mu.T - eye) ** 2).sum()


class ClusteringModel(nn.Module):
    """What :func:`train_clustering` needs of a model besides ``loss`` and ``predict``.

    ``adam_eps``: the Adam epsilon its authors use; ``hooks(x, epochs)``: its :class:`~clustutils.train.Hook`
    objects for training on ``x`` for ``epochs`` epochs (none by default).
    """

    adam_eps = 1e-8

    def hooks(self, x, epochs: int) -> list[Hook]:
        return []


class AECM(ClusteringModel):
    """AE-CM: the Clustering Module on the codes of an autoencoder, trained jointly.

    ``loss = CM loss on z (over N * d, as the CM) + beta * MSE(x, x^) + lam * ||mu mu^T - I||_F^2``,
    the normalisation of the authors' PyTorch example.  ``lam = 0`` drops the orthonormality term.
    Adam's epsilon is the authors' 1e-3.
    """

    adam_eps = 1e-3

    def __init__(self, n_input: int, n_clusters: int, n_latent: int = 10, alpha: float = 1.1, beta: float = 100.0,
                 lam: float = 0.1, hidden=(500, 500, 2000)):
        super().__init__()
        self.ae = Autoencoder(n_input, n_latent, hidden)
        self.cm = ClusteringModule(n_latent, n_clusters, alpha)
        self.beta, self.lam = beta, lam

    def loss_terms(self, x) -> dict:
        z, x_hat = self.ae(x)
        terms = cm_loss_terms(z, self.cm(z), self.cm.mu, self.cm.alpha)
        n, d = z.shape
        return {"cm": (terms["E1"] + terms["E2"] + terms["E3"]) / d + terms["E4"] / (n * d),
                "reconstruction": ((x_hat - x) ** 2).mean(), "orthonormality": orthonormality_penalty(self.cm.mu)}

    def loss(self, x, index=None):
        t = self.loss_terms(x)
        return t["cm"] + self.beta * t["reconstruction"] + self.lam * t["orthonormality"]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 10000) -> torch.Tensor:
        return batched(lambda xb: self.cm(self.ae.encoder(xb)).argmax(1), x, batch_size)


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


def train_clustering(model: ClusteringModel, x, *, epochs: int, batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
                     optimizer: torch.optim.Optimizer | None = None, max_steps: int | None = None, progress: bool = True,
                     on_epoch_end=None) -> list[float]:
    """Train a model of this module on ``x`` with the engine :func:`clustutils.train.fit`; the loss per epoch.

    The optimiser is Adam with ``lr`` and the model's ``adam_eps`` unless ``optimizer`` is given; the
    model's own hooks run inside training (DEC/IDEC: target refresh before every epoch; DCN: assignments
    and centroids after every step; DKM: annealing after every epoch).
    """
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, eps=model.adam_eps)
    index = torch.arange(len(x), device=x.device)
    return fit(model, lambda m, xb, ib: m.loss(xb, ib), (x, index), epochs=epochs, max_steps=max_steps,
               batch_size=batch_size, optimizer=optimizer, seed=seed, hooks=model.hooks(x, epochs),
               on_epoch_end=on_epoch_end, progress=progress, desc=type(model).__name__)
