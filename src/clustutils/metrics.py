"""Clustering and segmentation metrics used across the book.

Cluster-to-class matchings: :func:`cluster_acc` uses the Hungarian algorithm
(one cluster per class, as most clustering papers), :func:`majority_acc`
maps every cluster to its most frequent class (what some authors' code
computes; it can only be higher, and it rewards many small clusters).
Labels may be lists, NumPy arrays or torch tensors (on any device).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

__all__ = [
    "contingency",
    "hungarian_mapping",
    "cluster_acc",
    "majority_acc",
    "nmi",
    "ari",
    "f1",
    "proportion_mapping",
    "apply_mapping",
    "binary_scores",
    "pixel_accuracy",
    "iou",
    "dice",
]


def _numpy(x) -> np.ndarray:
    """NumPy view of labels given as a list, an array or a torch tensor on any device."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _as_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _numpy(y_true).ravel(), _numpy(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels, y_pred {y_pred.size}.")
    if y_true.size == 0:
        raise ValueError("empty label arrays")
    return y_true, y_pred


def contingency(y_true, y_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts ``C[i, j]`` of cluster ``clusters[i]`` against class ``classes[j]``."""
    y_true, y_pred = _as_labels(y_true, y_pred)
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(counts, (p, t), 1)
    return counts, clusters, classes


def hungarian_mapping(y_true, y_pred) -> dict:
    """One-to-one cluster -> class mapping that maximises agreement.

    With more clusters than classes, the unmatched clusters map to no class
    (``None``) and count as errors; with fewer, some classes stay unused.
    """
    counts, clusters, classes = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = {c.item(): None for c in clusters}
    mapping.update({clusters[r].item(): classes[c].item() for r, c in zip(rows, cols)})
    return mapping


def cluster_acc(y_true, y_pred) -> float:
    """Unsupervised clustering accuracy with Hungarian matching, in [0, 1].

    ``max over one-to-one maps m of (1/N) sum_n [y_n == m(c_n)]``; works for
    any number of clusters and classes.
    """
    counts, _, _ = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def majority_acc(y_true, y_pred) -> float:
    """Accuracy after mapping every cluster to its majority class (many-to-one)."""
    counts, _, _ = contingency(y_true, y_pred)
    return float(counts.max(axis=1).sum() / counts.sum())


def nmi(y_true, y_pred) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's default)."""
    y_true, y_pred = _as_labels(y_true, y_pred)
    return float(skm.normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic"))


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index."""
    y_true, y_pred = _as_labels(y_true, y_pred)
    return float(skm.adjusted_rand_score(y_true, y_pred))


def f1(y_true, y_pred, positive=1, mapping: str = "hungarian") -> float:
    """Binary F1 of ``positive`` after mapping clusters to labels.

    ``mapping`` is ``"hungarian"`` (one-to-one), ``"majority"`` (each cluster to its
    most frequent label) or ``"none"`` (``y_pred`` already holds labels).
    """
    y_true, y_pred = _as_labels(y_true, y_pred)
    if mapping == "hungarian":
        table = hungarian_mapping(y_true, y_pred)
        y_pred = np.array([table[c] if table[c] is not None else -1 for c in y_pred.tolist()])
    elif mapping == "majority":
        counts, clusters, classes = contingency(y_true, y_pred)
        lookup = dict(zip(clusters.tolist(), classes[counts.argmax(axis=1)].tolist()))
        y_pred = np.array([lookup[c] for c in y_pred.tolist()])
    elif mapping != "none":
        raise ValueError(f"mapping must be 'hungarian', 'majority' or 'none', not {mapping!r}")
    return float(skm.f1_score(y_true == positive, y_pred == positive, zero_division=0.0))


def proportion_mapping(y_true, clusters, positive: int = 1) -> dict:
    """The authors' mapping for two clusters: the cluster with the larger *fraction* of positives is positive.

    Returns ``{cluster: label}``; ties go to the lower cluster id (as in the authors' code).
    Unlike :func:`hungarian_mapping` (which compares counts), a small, pure cluster wins over a
    large, mixed one.  The histopathology authors' rule (chapter 5).
    """
    y_true, clusters = _as_labels(y_true, clusters)
    ids = np.unique(clusters)
    if len(ids) > 2:
        raise ValueError(f"proportion mapping is defined for at most 2 clusters, got {len(ids)}")
    negative = [lab for lab in np.unique(y_true) if lab != positive]
    negative = negative[0] if negative else 1 - positive
    fractions = [np.mean(y_true[clusters == c] == positive) for c in ids]
    best = int(np.argmax(fractions))
    return {c.item(): (positive if i == best else negative) for i, c in enumerate(ids)}


def apply_mapping(mapping: dict, clusters, default: int = 0) -> np.ndarray:
    """Labels predicted by mapping each cluster id; clusters absent from ``mapping`` (or mapped to ``None``) get ``default``."""
    labels = [mapping.get(c) for c in _numpy(clusters).ravel().tolist()]
    return np.array([default if label is None else label for label in labels], dtype=np.int64)


def clustering_scores(y_true, y_pred) -> dict:
    """ACC (Hungarian matching), NMI and ARI of a partition: the clustering chapters' three scores."""
    return {"acc": cluster_acc(y_true, y_pred), "nmi": nmi(y_true, y_pred), "ari": ari(y_true, y_pred)}


def binary_scores(y_true, y_pred, positive: int = 1) -> dict:
    """Accuracy (Eq. 14 with the mapping already applied) and F1 of the positive class (Eq. 15)."""
    y_true, y_pred = _as_labels(y_true, y_pred)
    return {"acc": float(np.mean(y_true == y_pred)),
            "f1": float(skm.f1_score(y_true == positive, y_pred == positive, zero_division=0.0))}


def _mask_pair(pred, target, ignore):
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    keep = target != ignore if ignore is not None else np.ones(target.shape, bool)
    return pred[keep].astype(bool), target[keep].astype(bool)


def pixel_accuracy(pred, target, ignore: int | None = 255) -> float:
    """Fraction of non-ignored pixels where the binary prediction equals the mask."""
    p, t = _mask_pair(pred, target, ignore)
    return float((p == t).mean()) if t.size else float("nan")


def iou(pred, target, ignore: int | None = 255) -> float:
    """Intersection over union of the foreground (1) over non-ignored pixels; 1 if both empty."""
    p, t = _mask_pair(pred, target, ignore)
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


def dice(pred, target, ignore: int | None = 255) -> float:
    """Dice coefficient ``2 |P & T| / (|P| + |T|)`` of the foreground; 1 if both empty."""
    p, t = _mask_pair(pred, target, ignore)
    total = p.sum() + t.sum()
    return float(2 * np.logical_and(p, t).sum() / total) if total else 1.0
