"""k-means with k-means++ initialisation and many restarts, on scikit-learn or in torch.

Two backends behind one function, :func:`kmeans`:

- ``"sklearn"``: :class:`sklearn.cluster.KMeans`; the restarts run in chunks so that long runs show a
  progress bar, and the best inertia is kept, which is what ``KMeans(n_init=...)`` does.
  ``benchmarks/kmeans_bench.py`` measured it against the alternatives on the CPU (Performance page).
- ``"torch"``: :func:`kmeans_torch`, Lloyd's algorithm in float32 with all restarts of a chunk batched
  (greedy k-means++ seeding as scikit-learn's, converged restarts dropped), on the data's own device: on a GPU the data never
  goes to the host.  ``backend="auto"`` picks it for CUDA tensors and scikit-learn otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from tqdm import tqdm

__all__ = ["KMeansResult", "kmeans", "kmeans_torch", "nearest_centre"]

RESTARTS_PER_CALL = 10  # restarts per scikit-learn call: few calls (fast), a progress bar that moves


@dataclass
class KMeansResult:
    """Best of the restarts: labels ``(N,)``, centers ``(k, D)``, inertia, and ``best_seed``: the seed that
    reproduces it (scikit-learn backend: ``random_state`` of the chunk of restarts that held the best; torch
    backend: the call's ``seed``, since all its restarts draw from one generator)."""

    labels: np.ndarray
    centers: np.ndarray
    inertia: float
    best_seed: int
    n_init: int


def _as_array(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, on any device
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 2:
        x = x.reshape(len(x), -1)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


def kmeans(x, k: int, n_init: int = 10, seed: int = 0, max_iter: int = 300, tol: float = 1e-4, progress: bool | None = None,
           backend: str = "auto") -> KMeansResult:
    """Cluster the rows of ``x`` into ``k`` clusters; keep the restart with the lowest inertia.

    ``x`` may be a NumPy array or a torch tensor (any shape; flattened per row).  ``backend``:
    ``"sklearn"``, ``"torch"`` (:func:`kmeans_torch`) or ``"auto"`` (torch for CUDA tensors).
    With scikit-learn, restarts run in calls of ``RESTARTS_PER_CALL``, call ``j`` with
    ``random_state=seed + j``: results are reproducible, and a run with more
    restarts contains the runs with fewer.  ``progress`` shows a tqdm bar
    (default: when ``n_init >= 20``).
    """
    if k < 1 or n_init < 1:
        raise ValueError(f"k and n_init must be positive, got k={k}, n_init={n_init}")
    if backend not in ("auto", "sklearn", "torch"):
        raise ValueError(f"backend must be 'auto', 'sklearn' or 'torch', not {backend!r}")
    if backend == "torch" or (backend == "auto" and isinstance(x, torch.Tensor) and x.is_cuda):
        return kmeans_torch(torch.as_tensor(x), k, n_init=n_init, seed=seed, max_iter=max_iter, tol=tol, progress=progress)
    data = _as_array(x)
    if len(data) < k:
        raise ValueError(f"cannot make {k} clusters from {len(data)} samples")
    show = n_init >= 20 if progress is None else progress
    best = None
    with tqdm(total=n_init, desc=f"k-means (k={k})", disable=not show, leave=False) as bar:
        for chunk, start in enumerate(range(0, n_init, RESTARTS_PER_CALL)):
            size = min(RESTARTS_PER_CALL, n_init - start)
            model = KMeans(k, init="k-means++", n_init=size, max_iter=max_iter, tol=tol, random_state=seed + chunk).fit(data)
            if best is None or model.inertia_ < best[0].inertia_:
                best = (model, seed + chunk)
            bar.update(size)
    model, best_seed = best
    return KMeansResult(model.labels_.astype(np.int64), model.cluster_centers_, float(model.inertia_), best_seed, n_init)


def nearest_centre(x, centers) -> np.ndarray:
    """Index of the nearest of ``centers`` for every row of ``x`` (k-means' assignment of new points)."""
    data, centers = _as_array(x), np.asarray(centers, dtype=np.float64)
    distances = (data**2).sum(1)[:, None] - 2 * data @ centers.T + (centers**2).sum(1)
    return distances.argmin(1).astype(np.int64)


def _sq_distances(x: torch.Tensor, x_sq: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared distances ``(R, N, k)`` of every row to every centre of every restart, without a square root."""
    return (x_sq[None, :, None] - 2 * torch.einsum("nd,rkd->rnk", x, centers) + (centers**2).sum(-1)[:, None, :]).clamp_min_(0)


def _kmeanspp(x: torch.Tensor, x_sq: torch.Tensor, k: int, restarts: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeding (scikit-learn's: ``2 + log k`` candidates a step) for ``restarts`` restarts at once.

    Returns ``(restarts, k, D)`` centres.
    """
    n, trials = len(x), 2 + int(np.log(k))
    first = torch.randint(n, (restarts,), generator=generator, device="cpu").to(x.device)
    centers = x[first][:, None, :]
    closest = _sq_distances(x, x_sq, centers)[..., 0]  # (R, N)
    for _ in range(1, k):
        weights = closest / closest.sum(1, keepdim=True).clamp_min(1e-30)
        u = torch.rand(restarts, trials, generator=generator, device="cpu").to(x.device)
        candidates = torch.searchsorted(weights.cumsum(1), u).clamp_max(n - 1)  # D^2 sampling, (R, T)
        to_candidates = _sq_distances(x, x_sq, x[candidates])  # (R, N, T)
        potential = torch.minimum(closest[..., None], to_candidates).sum(1)  # (R, T)
        best = potential.argmin(1)
        chosen = candidates.gather(1, best[:, None])[:, 0]
        centers = torch.cat([centers, x[chosen][:, None, :]], 1)
        closest = torch.minimum(closest, to_candidates.gather(2, best[:, None, None].expand(-1, n, 1))[..., 0])
    return centers


@torch.no_grad()
def kmeans_torch(x: torch.Tensor, k: int, n_init: int = 10, seed: int = 0, max_iter: int = 300, tol: float = 1e-4,
                 progress: bool | None = None, restarts_per_chunk: int = 16) -> KMeansResult:
    """k-means in torch on ``x``'s device: k-means++ seeding and Lloyd's algorithm, restarts batched.

    Restarts run ``restarts_per_chunk`` at a time (memory ``chunk x N x k`` floats); within a chunk a
    restart stops when its centres move less than ``tol`` times the data's mean variance (scikit-learn's
    rule) and is dropped from the batch.  An empty cluster keeps its previous centre.  float32
    throughout; the best inertia over all restarts is kept.  Reproducible for a given ``seed`` and device.
    """
    x = x.reshape(len(x), -1).float()
    if len(x) < k:
        raise ValueError(f"cannot make {k} clusters from {len(x)} samples")
    x_sq = (x**2).sum(1)
    threshold = tol * float(x.var(0).mean())
    generator = torch.Generator().manual_seed(seed)
    best = (float("inf"), None)
    show = n_init >= 20 if progress is None else progress
    with tqdm(total=n_init, desc=f"k-means torch (k={k})", disable=not show, leave=False) as bar:
        for start in range(0, n_init, restarts_per_chunk):
            size = min(restarts_per_chunk, n_init - start)
            centers = _kmeanspp(x, x_sq, k, size, generator)
            active = torch.arange(size, device=x.device)
            for _ in range(max_iter):
                labels = _sq_distances(x, x_sq, centers[active]).argmin(2)  # (A, N)
                onehot = torch.nn.functional.one_hot(labels, k).float()  # (A, N, k)
                sums, counts = torch.einsum("ank,nd->akd", onehot, x), onehot.sum(1)[..., None]  # (A, k, D), (A, k, 1)
                new = torch.where(counts > 0, sums / counts.clamp_min(1), centers[active])
                shift = ((new - centers[active]) ** 2).sum((1, 2))
                centers[active] = new
                active = active[shift > threshold]
                if len(active) == 0:
                    break
            distances = _sq_distances(x, x_sq, centers)
            inertia, labels = distances.min(2)
            inertia = inertia.sum(1)
            r = int(inertia.argmin())
            if float(inertia[r]) < best[0]:
                best = (float(inertia[r]), (labels[r], centers[r]))
            bar.update(size)
    labels, centers = best[1]
    return KMeansResult(labels.cpu().numpy().astype(np.int64), centers.cpu().numpy(), best[0], seed, n_init)
