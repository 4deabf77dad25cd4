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

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..kmeans import kmeans
from ..autoencoders import Autoencoder, ClusteringModel
from ..settings import Budget
from ..train import WeightAverage, batched, error_rate, fit

__all__ = ["cm_loss_terms", "ClusteringModule", "kmeanspp_init", "isotropic_gmm_init", "train_cm", "fit_cm",
           "supervised_cm_loss", "train_supervised", "classification_error", "AUTHORS_CM", "AUTHORS_AECM", "AUTHORS_LAMBDA",
           "scaled_alpha",
           "Settings", "BUDGET", "DeepSettings", "DEEP_BUDGET", "dataset_settings", "DatasetSettings",
           "for_dataset", "AECM", "aecm_start", "orthonormality_penalty", "DEEP_METHODS", "BASELINE_OPTIONS",
           "deep_spec", "train_deep"]

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
    """``gamma = softmax(W x + b)``, reconstruction ``gamma @ mu``; ``loss`` is E1+E2+E3 summed over the batch, + E4.

    That is the loss of the authors' TensorFlow code (``Module/module_CM.py``, ``CM.loss``, commit 133741d of
    github.com/Ahcene-B/clustering-Module), the code behind the paper's numbers and the scale its alpha (177 on MNIST)
    and Adam's epsilon (1e-3) were set for: the gradients of a summed loss are far larger than epsilon, so Adam takes
    steps of about ``lr``.  (A loss divided by batch x dimension has the same minimiser, but its gradients fall below
    epsilon, and Adam then moves like momentum SGD with step ``lr / epsilon``.)  Their PyTorch example divides E1-E3
    by the batch size and the dimension but not E4, which is why its alpha (1.1) is not comparable.
    """

    def __init__(self, n_input: int, n_clusters: int, alpha: float = 1.0):
        super().__init__()
        self.encoder = nn.Linear(n_input, n_clusters)
        nn.init.xavier_uniform_(self.encoder.weight)
        nn.init.zeros_(self.encoder.bias)
        self.mu = nn.Parameter(torch.empty(n_clusters, n_input))
        nn.init.xavier_uniform_(self.mu)
        self.register_buffer("_alpha", torch.empty(n_clusters), persistent=False)
        self.alpha = alpha

    @property
    def alpha(self) -> torch.Tensor:
        """The Dirichlet parameters, one per cluster (a buffer on the module's device: no copy per step)."""
        return self._alpha

    @alpha.setter
    def alpha(self, value) -> None:
        self._alpha.copy_(torch.as_tensor(value, dtype=self._alpha.dtype).expand_as(self._alpha))

    def forward(self, x):
        return torch.softmax(self.encoder(x), dim=1)

    def loss(self, x):
        terms = cm_loss_terms(x, self(x), self.mu, self.alpha)
        return len(x) * (terms["E1"] + terms["E2"] + terms["E3"]) + terms["E4"]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 10000) -> torch.Tensor:
        """Hard assignments ``argmax_k gamma_k``."""
        return batched(lambda xb: self(xb).argmax(1), x, batch_size)


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

    One run of the engine :func:`clustutils.train.fit`; the averaging is its
    :class:`~clustutils.train.WeightAverage` hook (a running mean over the last epoch's steps).
    Returns the loss history (one value per epoch, the averaging epoch included).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-3)
    hooks = [WeightAverage(start_epoch=epochs)] if average_last_epoch else []
    return fit(model, lambda m, xb: m.loss(xb), (x,), epochs=epochs + len(hooks), batch_size=batch_size,
               optimizer=optimizer, seed=seed, hooks=hooks, progress=progress, desc="CM")


def fit_cm(x, n_clusters: int, *, alpha: float, epochs: int, batch_size: int, lr: float = 1e-3, seed: int = 0,
           progress: bool = False) -> ClusteringModule:
    """The CM fitted on ``x`` as the authors fit it: one k-means++ seeding (:func:`kmeanspp_init`), then
    :func:`train_cm` (Adam, eps 1e-3, and the final weight-averaging epoch).  Returns the trained module, on
    ``x``'s device."""
    model = ClusteringModule(x.shape[1], n_clusters, alpha=alpha).to(x.device)
    kmeanspp_init(model, x, seed=seed)
    train_cm(model, x, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    return model


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
    return fit(net, lambda model, xb, yb: supervised_cm_loss(model(xb), yb), (x, y), epochs=epochs,
               batch_size=batch_size, optimizer=torch.optim.Adam(net.parameters(), lr=lr), seed=seed, desc=desc,
               progress=progress)


#: The test error of a supervised CM classifier: :func:`clustutils.train.error_rate` (one implementation).
classification_error = error_rate


# --------------------------------------------------------------------------
# Chapter 4's settings: the paper's (authors') values, each profile as stated changes


#: The authors' CM settings on raw pixels (TensorFlow code, ``Tuned_Param.py`` at commit 133741d): alpha at their
#: batch size.
AUTHORS_CM = {"mnist": {"alpha": 177.0, "batch": 111}, "usps": {"alpha": 40.0, "batch": 150},
              "fashion_mnist": {"alpha": 80.0, "batch": 35}}
#: The authors' AE-CM settings (TensorFlow code, ``Tuned_Param.py`` of github.com/Ahcene-B/clustering-Module at
#: commit 133741d, 2021-11-29): code size, beta, alpha and batch per data set; ``AECM.py`` fixes lambda at 1.
AUTHORS_AECM = {"mnist": {"n_latent": 10, "beta": 5.0, "alpha": 230.0, "batch": 500},
                "usps": {"n_latent": 30, "beta": 0.04, "alpha": 3.0, "batch": 45},
                "fashion_mnist": {"n_latent": 10, "beta": 47.0, "alpha": 13.0, "batch": 175}}
#: The TensorFlow code's orthonormality weight (``LBD = 1.`` in ``AECM.py``, every data set).
AUTHORS_LAMBDA = 1.0


def scaled_alpha(alpha: float, reference_batch: int, batch: int) -> float:
    """``alpha`` for ``batch`` that keeps the objective of ``alpha`` at ``reference_batch``.

    E4 is computed once per batch while E1-E3 are sums over its samples, so ``alpha - 1`` scales with the batch:
    ``1 + (alpha - 1) * batch / reference_batch``.
    """
    return 1 + (alpha - 1) * batch / reference_batch


def dataset_settings(name: str, batch: int | None = None, aecm_batch: int | None = None) -> "DatasetSettings":
    """The CM's and AE-CM's per-dataset hyper-parameters for data set ``name``.

    For ``mnist``, ``usps`` and ``fashion_mnist`` these are the authors' values (:data:`AUTHORS_CM`,
    :data:`AUTHORS_AECM`).  ``batch`` is this run's CM batch size (default: the authors'); the CM's alpha
    is rescaled to it with :func:`scaled_alpha`, and likewise the AE-CM's alpha to ``aecm_batch``.  The AE-CM's
    lambda (:data:`AUTHORS_LAMBDA`) weighs a term computed once per batch, as E4 does, so it is scaled with the batch
    too (``lam * aecm_batch / reference batch``); beta weighs a sum over the batch's samples, as the CM loss is,
    and stays.

    **Fallback.** The authors' code holds settings for these three image sets only.  Any other data set gets
    MNIST's values (code size, beta, alpha, batch), with alpha rescaled from MNIST's reference batch to this run's
    batch: MNIST is the paper's main data set, the one both models were tuned on, and rescaling keeps the
    strength of the Dirichlet prior per sample of the batch (E4 is computed once per batch).  ``source``
    says which data set's values were used.
    """
    source = name if name in AUTHORS_CM and name in AUTHORS_AECM else "mnist"
    ref_cm, ref_aecm = AUTHORS_CM[source], AUTHORS_AECM[source]
    batch = ref_cm["batch"] if batch is None else int(batch)
    aecm_batch = ref_aecm["batch"] if aecm_batch is None else int(aecm_batch)
    return DatasetSettings(name=name, source=source, cm_batch=batch,
                           cm_alpha=scaled_alpha(ref_cm["alpha"], ref_cm["batch"], batch),
                           aecm_n_latent=ref_aecm["n_latent"], aecm_batch=aecm_batch,
                           aecm_alpha=scaled_alpha(ref_aecm["alpha"], ref_aecm["batch"], aecm_batch),
                           aecm_beta=ref_aecm["beta"], aecm_lam=AUTHORS_LAMBDA * aecm_batch / ref_aecm["batch"])


@dataclass(frozen=True)
class DatasetSettings:
    """One data set's CM and AE-CM hyper-parameters (:func:`dataset_settings`)."""

    name: str
    source: str  # the data set whose published values these are: ``name``, or ``"mnist"`` (the fallback)
    cm_batch: int
    cm_alpha: float
    aecm_n_latent: int
    aecm_batch: int
    aecm_alpha: float
    aecm_beta: float
    aecm_lam: float


def for_dataset(value, name: str):
    """A setting for data set ``name``: a dict keyed by data set gives ``name``'s entry, else MNIST's
    (the fallback of :func:`dataset_settings`); any other value is the same for every data set."""
    if isinstance(value, dict):
        return value[name] if name in value else value["mnist"]
    return value


@dataclass(frozen=True)
class Settings:
    """Chapter 4's budget for the Clustering Module (notebook 04); the defaults are the authors' schedule (``full``).

    Fields keyed by data set are read with :func:`for_dataset` (MNIST's entry for any other data set).
    """

    max_images: dict = field(default_factory=lambda: {"mnist": None, "usps": None})  # None: all images
    shallow_runs: int = 20
    gmm_iterations: int = 100  # scikit-learn's default cap (the slides give none)
    cm_batch: dict = field(default_factory=lambda: {k: v["batch"] for k, v in AUTHORS_CM.items()})
    cm_lr: float = 1e-3
    cm_epochs: dict = field(default_factory=lambda: {"mnist": 150, "usps": 150})
    supervised_images: int | None = None
    supervised_epochs: int = 10


@dataclass(frozen=True)
class DeepSettings:
    """Chapter 4's budget for AE-CM and its baselines (notebook 04b); the defaults are the authors' schedule.

    Fields keyed by data set are read with :func:`for_dataset` (MNIST's entry for any other data set).
    """

    max_images: dict = field(default_factory=lambda: {"mnist": None, "usps": None})  # None: all images
    deep_runs: int = 20
    pretrain_epochs: dict = field(default_factory=lambda: {"mnist": 100, "usps": 100})
    cm_pretrain_epochs: int = 100
    joint_epochs: dict = field(default_factory=lambda: {"mnist": 1000, "usps": 1000})
    rand_epochs: dict = field(default_factory=lambda: {"mnist": 1000, "usps": 1000})
    baseline_epochs: dict = field(default_factory=lambda: {"mnist": 100, "usps": 100})
    kmeans_restarts: int = 20
    collapse_images: int | None = None
    collapse_epochs: int = 50
    grid_beta_factors: tuple = (0.1, 1.0, 10.0)  # multiples of the authors' beta
    grid_lam_factors: tuple = (0.1, 1.0, 10.0)  # multiples of the authors' lambda (at the grid's batch)
    grid_epochs: int = 50


_CPU = {
    "shallow_runs": (3, "20 runs of 4 methods on 2 data sets do not fit 30 minutes on 2 cores"),
    "gmm_iterations": (30, "a 100-iteration diagonal GMM on MNIST takes over a minute per run on 2 cores"),
    "cm_batch": ({"mnist": 1000, "usps": 1000}, "batch 111 is mostly per-step overhead on a CPU; alpha - 1 is scaled with the batch"),
    "cm_lr": (5e-2, "fewer steps than the authors' (batch 1,000; 20 epochs on MNIST): the lowest training objective "
                    "among 1e-3 (the authors'), 1e-2 and 5e-2 at this batch and these epochs, mean of the profile's "
                    "seeds, no labels used (benchmarks/long_schedule.py ch04_cm_rates)"),
    "cm_epochs": ({"mnist": 20, "usps": 150}, "time: MNIST epochs cost 8x USPS ones"),
    "supervised_epochs": (1, "time: one epoch of the small CNN"),
}
_SMOKE = {
    **_CPU,
    "max_images": ({"mnist": 2000, "usps": 1000}, "CI: under 2 minutes a notebook"),
    "shallow_runs": (2, "CI"), "gmm_iterations": (20, "CI"), "cm_batch": ({"mnist": 500, "usps": 500}, "CI"),
    "cm_epochs": ({"mnist": 3, "usps": 5}, "CI"), "supervised_images": (2000, "CI"),
}
_DEEP_CPU = {
    "deep_runs": (1, "time: one run per deep method (benchmarks/long_schedule.py ch04_deep_seeds_mnist: MNIST's "
                     "rows over five seeds, pretraining included)"),
    "pretrain_epochs": ({"mnist": 30, "usps": 30}, "time: an MNIST autoencoder epoch takes about 19 s on one core "
                                                 "(measured, benchmarks/long_schedule.py ch04); 30 epochs, the gpu "
                                                 "profile's, raised IDEC by 8 points over 5 there (full: 100)"),
    "cm_pretrain_epochs": (20, "time"),
    "joint_epochs": ({"mnist": 4, "usps": 10}, "time: a few epochs from the pretrained start"),
    "rand_epochs": ({"mnist": 5, "usps": 10}, "time"),
    "baseline_epochs": ({"mnist": 4, "usps": 10}, "time: as many epochs as AE-CM+pre"),
    "collapse_images": (5000, "time: the collapse study on a subset"),
    "collapse_epochs": (10, "time"),
    "grid_beta_factors": ((0.1, 1.0), "time: a 2 x 2 grid around the authors' values"),
    "grid_lam_factors": ((0.1, 1.0), "time: a 2 x 2 grid around the authors' values"),
    "grid_epochs": (4, "time"),
}
_DEEP_SMOKE = {
    **_DEEP_CPU,
    "max_images": ({"mnist": 2000, "usps": 1000}, "CI: under 2 minutes a notebook"),
    "pretrain_epochs": ({"mnist": 2, "usps": 2}, "CI"),
    "cm_pretrain_epochs": (2, "CI"), "joint_epochs": ({"mnist": 1, "usps": 1}, "CI"),
    "rand_epochs": ({"mnist": 2, "usps": 1}, "CI"), "baseline_epochs": ({"mnist": 1, "usps": 1}, "CI"),
    "kmeans_restarts": (3, "CI"), "collapse_images": (1000, "CI"), "collapse_epochs": (3, "CI"),
    "grid_epochs": (1, "CI"),
}
#: ``gpu`` for notebook 04: cpu's budget, sized from the H200 step time measured in issue 14 (eager PyTorch): the CM
#: step is launch-bound (3.34 ms on one H200, about one CPU core's time: Performance page), and GMM and k-means run
#: on the host's CPU cores (scikit-learn) in any profile, so a GPU buys this notebook little.  Only the small
#: supervised CNN gets the paper's 10 epochs (about 1 s an epoch on a GPU, estimated).
_GPU = {
    "shallow_runs": (3, "time: GMM and k-means run on the host's CPU cores (scikit-learn) in any profile; 3 runs as cpu"),
    "gmm_iterations": (30, "as cpu: EM runs on the host, over a minute a 100-iteration MNIST run on 2 cores"),
    "cm_batch": ({"mnist": 1000, "usps": 1000}, "batch 111 is mostly per-step overhead on a GPU as on a CPU; "
                 "alpha - 1 is scaled with the batch"),
    "cm_lr": _CPU["cm_lr"],
    "cm_epochs": ({"mnist": 20, "usps": 150}, "time, as cpu: the launch-bound CM step is barely faster on a GPU "
                  "(3.3 ms on one H200, about one CPU core's time)"),
}
#: Chapter 4's profiles for the CM (notebook 04).
BUDGET = Budget(Settings(), {
    "smoke": _SMOKE,
    "cpu": _CPU,
    "gpu": _GPU,
})
#: ``gpu`` for notebook 04b: epochs estimated from the H200 times measured in issue 14 (eager PyTorch: DEC 10 epochs
#: on 70,000 MNIST digits in 9 s, IDEC in 11 s, so about a second an MNIST epoch); the first GPU run checks it.
_DEEP_GPU = {
    "deep_runs": (1, "time: one run per deep method (three runs would triple the chapter's GPU time)"),
    "pretrain_epochs": ({"mnist": 30, "usps": 100}, "time: about 30 s of MNIST pretraining on one H200 (full: 100)"),
    "joint_epochs": ({"mnist": 20, "usps": 50}, "time: about a second an MNIST epoch on one H200 (full: 1,000)"),
    "rand_epochs": ({"mnist": 20, "usps": 50}, "time, as joint_epochs"),
    "baseline_epochs": ({"mnist": 20, "usps": 50}, "time: as many epochs as AE-CM+pre (measured: DEC 10 epochs "
                                                 "in 9 s, IDEC in 11 s)"),
    "collapse_images": (5000, "time: the collapse study on a subset, for the paper's 50 epochs"),
    "grid_beta_factors": _DEEP_CPU["grid_beta_factors"],
    "grid_lam_factors": _DEEP_CPU["grid_lam_factors"],
    "grid_epochs": (10, "time"),
}
#: Chapter 4's profiles for AE-CM and the deep baselines (notebook 04b).
DEEP_BUDGET = Budget(DeepSettings(), {
    "smoke": _DEEP_SMOKE,
    "cpu": _DEEP_CPU,
    "gpu": _DEEP_GPU,
})


# --------------------------------------------------------------------------
# AE-CM: the CM on the codes of an autoencoder, trained jointly


def orthonormality_penalty(mu) -> torch.Tensor:
    """``sum_kl |(mu mu^T - I)_kl|``, the L1 norm the authors' TensorFlow code uses: zero exactly when the centroids
    (rows of ``mu``) are orthonormal."""
    eye = torch.eye(mu.shape[0], dtype=mu.dtype, device=mu.device)
    return (mu @ mu.T - eye).abs().sum()


class AECM(ClusteringModel):
    """AE-CM: the Clustering Module on the codes ``z`` of an autoencoder, trained jointly.

    The loss of a batch is the one of the authors' TensorFlow code (``Module/module_AECM.py``, ``AECM.loss``, at commit
    133741d of github.com/Ahcene-B/clustering-Module), the code behind the paper's numbers, summed over the batch's
    samples as there (so that Adam's epsilon of 1e-3 meets gradients of the same scale):

    - ``E1 = sum_i ||z_i - gamma_i mu||^2``, the CM's reconstruction of the codes;
    - ``E2 = sum_i sum_k gamma_ik (1 - gamma_ik)``: the CM's E2 without its ``||mu_k||^2`` weights, and no E3; both
      are what E2 and E3 become for orthonormal centroids, which the next term asks for;
    - ``E4 = -sum_k (alpha_k - 1) log mean_i gamma_ik``, once per batch (the code sorts the log-means first, which
      changes nothing for a uniform alpha, the only kind used here);
    - ``lam * ||mu mu^T - I||_1`` (:func:`orthonormality_penalty`), once per batch;
    - ``beta * sum_i ||x_i - x^_i||^2``, the autoencoder's reconstruction.

    ``loss_terms`` returns them (``"E1"``, ``"E2"``, ``"E4"``, ``"orthonormality"``, ``"reconstruction"``) unweighted.
    The defaults are the code's MNIST values; ``lam = 0`` drops the orthonormality term.  Adam's epsilon is the
    authors' 1e-3.
    """

    adam_eps = 1e-3

    def __init__(self, n_input: int, n_clusters: int, n_latent: int = 10, alpha: float = 230.0, beta: float = 5.0,
                 lam: float = AUTHORS_LAMBDA, hidden=(500, 500, 2000)):
        super().__init__()
        self.ae = Autoencoder(n_input, n_latent, hidden)
        self.cm = ClusteringModule(n_latent, n_clusters, alpha)
        self.beta, self.lam = beta, lam

    def loss_terms(self, x) -> dict:
        z, x_hat = self.ae(x)
        gamma, mu = self.cm(z), self.cm.mu
        log_mean = torch.log(gamma.mean(0) + LOG_EPS)
        return {"E1": ((z - gamma @ mu) ** 2).sum(), "E2": (gamma * (1 - gamma)).sum(),
                "E4": -((self.cm.alpha - 1) * log_mean).sum(), "orthonormality": orthonormality_penalty(mu),
                "reconstruction": ((x_hat - x) ** 2).sum()}

    def loss(self, x, index=None):
        t = self.loss_terms(x)
        return t["E1"] + t["E2"] + t["E4"] + self.lam * t["orthonormality"] + self.beta * t["reconstruction"]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 10000) -> torch.Tensor:
        return batched(lambda xb: self.cm(self.ae.encoder(xb)).argmax(1), x, batch_size)


def aecm_start(ae: Autoencoder, codes, n_clusters: int, *, alpha: float, beta: float, lam: float = AUTHORS_LAMBDA,
               cm_epochs: int, batch_size: int, kmeans_restarts: int = 20, seed: int = 0) -> "AECM":
    """AE-CM+pre as chapter 4 starts it: a copy of ``ae``, the CM fitted on its codes.

    1. k-means (``kmeans_restarts``) on ``codes`` (the autoencoder's codes of the data), as the authors;
    2. the CM set to the isotropic GMM of that k-means solution (:func:`clustutils.papers.ch04_cm.isotropic_gmm_init`,
       variance = the within-cluster variance per dimension; the authors' pseudo-inverse start does not keep k-means'
       partition on codes), then trained ``cm_epochs`` on the frozen codes (no weight averaging).  The codes keep the
       pretrained scale, as in the authors' code.  The joint training is :func:`train_clustering`'s.
    """
    model = AECM(ae.encoder[0].in_features, n_clusters, n_latent=codes.shape[1], alpha=alpha, beta=beta, lam=lam,
                 hidden=ae.hidden)
    model = model.to(codes.device)
    model.ae.load_state_dict(ae.state_dict())
    km = kmeans(codes, n_clusters, n_init=kmeans_restarts, seed=seed)
    centroids = torch.as_tensor(km.centers, dtype=torch.float32, device=codes.device)
    variance = float(((codes - centroids[torch.as_tensor(km.labels, device=codes.device)]) ** 2).mean())
    isotropic_gmm_init(model.cm, centroids, variance)
    train_cm(model.cm, codes, epochs=cm_epochs, batch_size=batch_size, seed=seed, average_last_epoch=False)
    return model


#: Notebook 04b's deep models, trained from a data set's shared start by :func:`train_deep`.
DEEP_METHODS = ("aecm_pre", "aecm_rand", "dec", "idec", "dcn", "dkm")
#: The deep baselines' keyword arguments (classes of :mod:`~clustutils.papers.baselines`): IDEC's weight of the
#: clustering loss 0.1 (its paper), DCN's and DKM's lambda 1, DKM's inverse temperature 1000 (its DKMp variant).
BASELINE_OPTIONS = {"dec": {}, "idec": {"gamma": 0.1}, "dcn": {"lam": 1.0},
                    "dkm": {"lam": 1.0, "inverse_temperature": 1000.0}}


def deep_spec(dataset: str, deep: DeepSettings, n_clusters: int) -> dict:
    """The ``spec`` of :func:`train_deep` for ``dataset`` under ``deep`` (a profile's :data:`DEEP_BUDGET` settings):
    the authors' per-data-set AE-CM values (:func:`dataset_settings`), each method's epochs, the baselines' options."""
    p = dataset_settings(dataset)
    baseline_epochs = for_dataset(deep.baseline_epochs, dataset)
    return {"n_clusters": n_clusters, "alpha": p.aecm_alpha, "beta": p.aecm_beta, "lam": p.aecm_lam,
            "batch": p.aecm_batch, "cm_epochs": deep.cm_pretrain_epochs, "kmeans_restarts": deep.kmeans_restarts,
            "epochs": {"aecm_pre": for_dataset(deep.joint_epochs, dataset),
                       "aecm_rand": for_dataset(deep.rand_epochs, dataset),
                       **dict.fromkeys(BASELINE_OPTIONS, baseline_epochs)},
            "options": BASELINE_OPTIONS}


def train_deep(method: str, x, ae: Autoencoder, kmeans_start, spec: dict, seed: int) -> tuple[nn.Module, float]:
    """One of notebook 04b's deep models (:data:`DEEP_METHODS`) trained on ``x`` from its data set's shared start;
    returns the trained model and its wall time in seconds.  A job for :func:`clustutils.train.run_jobs`.

    ``ae`` is the pretrained autoencoder and ``kmeans_start`` scikit-learn's k-means fitted on its codes.
    ``aecm_pre``: :func:`aecm_start` from ``ae`` (``spec``'s ``n_clusters``, ``alpha``, ``beta``, ``lam``, ``cm_epochs``,
    ``batch``, ``kmeans_restarts``), then joint training; ``aecm_rand``: an :class:`AECM` of ``ae``'s shape from
    Glorot initialisation (seeded by ``seed``); ``dec``, ``idec``, ``dcn``, ``dkm``: the baseline of
    :mod:`~clustutils.papers.baselines` on a copy of ``ae``, started from ``kmeans_start``'s centroids (and, for DCN, its
    assignments), with ``spec['options'][method]`` as keyword arguments, at batch 256.  Every model trains for
    ``spec['epochs'][method]`` epochs with Adam (:func:`~clustutils.autoencoders.train_clustering`, seeded by ``seed``).
    """
    import copy
    import time

    from ..autoencoders import encode, train_clustering
    from . import baselines

    if method not in DEEP_METHODS:
        raise ValueError(f"unknown deep method {method!r}; the methods: {', '.join(DEEP_METHODS)}")
    started, epochs = time.time(), spec["epochs"][method]
    torch.manual_seed(seed)
    if method in ("aecm_pre", "aecm_rand"):
        if method == "aecm_pre":
            model = aecm_start(ae, encode(ae.encoder, x), spec["n_clusters"], alpha=spec["alpha"], beta=spec["beta"],
                               lam=spec["lam"], cm_epochs=spec["cm_epochs"], batch_size=spec["batch"],
                               kmeans_restarts=spec["kmeans_restarts"], seed=seed)
        else:
            model = AECM(x.shape[1], spec["n_clusters"], n_latent=ae.n_latent, alpha=spec["alpha"], beta=spec["beta"],
                         lam=spec["lam"], hidden=ae.hidden).to(x.device)
        train_clustering(model, x, epochs=epochs, batch_size=spec["batch"], seed=seed, progress=False)
    else:
        extra = {"assignments": torch.from_numpy(kmeans_start.labels_)} if method == "dcn" else {}
        model = getattr(baselines, method.upper())(copy.deepcopy(ae), kmeans_start.cluster_centers_, **extra,
                                                   **spec["options"].get(method, {})).to(x.device)
        train_clustering(model, x, epochs=epochs, batch_size=256, seed=seed, progress=False)
    return model, time.time() - started
