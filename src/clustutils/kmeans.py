"""k-means with k-means++ initialisation and many restarts.

A thin wrapper over :class:`sklearn.cluster.KMeans`: the restarts run in
chunks so that long runs show a progress bar, and the best inertia is kept,
which is what ``KMeans(n_init=...)`` does.  ``benchmarks/kmeans_bench.py`` measured
scikit-learn against the alternatives for the book's workloads (see the
Performance page); nothing hand-written was faster on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from tqdm import tqdm

__all__ = ["KMeansResult", "kmeans", "nearest_centre"]

RESTARTS_PER_CALL = 10  # restarts per scikit-learn call: few calls (fast), a progress bar that moves


@dataclass
class KMeansResult:
    """Best of the restarts: labels ``(N,)``, centers ``(k, D)``, inertia, ``random_state`` of the best call."""

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


def kmeans(x, k: int, n_init: int = 10, seed: int = 0, max_iter: int = 300, tol: float = 1e-4, progress: bool | None = None) -> KMeansResult:
    """Cluster the rows of ``x`` into ``k`` clusters; keep the restart with the lowest inertia.

    ``x`` may be a NumPy array or a torch tensor (any shape; flattened per row).
    Restarts run in calls of ``RESTARTS_PER_CALL`` to scikit-learn, call ``j`` with
    ``random_state=seed + j``: results are reproducible, and a run with more
    restarts contains the runs with fewer.  ``progress`` shows a tqdm bar
    (default: when ``n_init >= 20``).
    """
    if k < 1 or n_init < 1:
        raise ValueError(f"k and n_init must be positive, got k={k}, n_init={n_init}")
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
