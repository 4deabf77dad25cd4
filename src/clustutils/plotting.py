"""The book's one figure style, image grids, 2-D embedding scatters, and saving figures for slides."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

__all__ = ["use_style", "image_grid", "embed_2d", "embedding_scatter", "FigureSaver"]

PALETTE = "tab10"


def use_style() -> None:
    """Apply the book's figure style (call once at the top of every notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "savefig.bbox": "tight",
        "axes.titlesize": "medium",
        "image.cmap": "gray",
        "figure.constrained_layout.use": True,
    })


def image_grid(images, ncols: int = 10, titles=None, ax=None, cmap: str = "gray"):
    """Tile ``images`` (N, H, W) or (N, H, W, 3), uint8 or float, into one axis; return the axis.

    ``titles``, if given, labels each row (one title per row of the grid).
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"expected (N, H, W) or (N, H, W, 3) images, got shape {images.shape}")
    n, h, w = images.shape[:3]
    nrows = -(-n // ncols)
    pad = 1
    canvas_shape = (nrows * (h + pad) - pad, min(n, ncols) * (w + pad) - pad) + images.shape[3:]
    canvas = np.ones(canvas_shape, dtype=np.float32) * (images.max() if images.size else 1)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    if ax is None:
        _, ax = plt.subplots(figsize=(min(n, ncols) * 0.6 + 1, nrows * 0.6 + 0.5))
    scale = 255.0 if images.dtype == np.uint8 else max(float(images.max()), 1.0)
    ax.imshow(canvas / scale if canvas.ndim == 3 else canvas, cmap=cmap, vmin=0, vmax=1 if canvas.ndim == 3 else scale)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if titles is not None:
        ax.set_yticks([r * (h + pad) + h / 2 for r in range(len(titles))], labels=list(titles))
    return ax


def embed_2d(z, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """2-D embedding of the rows of ``z``: ``"tsne"`` (scikit-learn), ``"pca"``, or ``"none"`` for 2-D input."""
    z = np.asarray(z, dtype=np.float32).reshape(len(z), -1)
    if method == "none" or z.shape[1] == 2:
        return z[:, :2]
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(2, random_state=seed).fit_transform(z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, init="pca", random_state=seed, perplexity=min(30.0, (len(z) - 1) / 3)).fit_transform(z)
    raise ValueError(f"method must be 'tsne', 'pca' or 'none', not {method!r}")


def embedding_scatter(z, labels, ax=None, method: str = "tsne", seed: int = 0, title: str | None = None):
    """Scatter a 2-D embedding of ``z`` coloured by ``labels``, with labelled axes; return the axis."""
    z = np.asarray(z, dtype=np.float32).reshape(len(z), -1)
    xy = embed_2d(z, method, seed)
    axis_name = "dim" if method == "none" or z.shape[1] == 2 else {"tsne": "t-SNE", "pca": "PC"}[method]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    labels = np.asarray(labels)
    sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=labels, palette=PALETTE if len(np.unique(labels)) <= 10 else "husl",
                    s=6, linewidth=0, ax=ax, legend="brief")
    ax.set_xlabel(f"{axis_name} 1")
    ax.set_ylabel(f"{axis_name} 2")
    if title:
        ax.set_title(title)
    ax.legend(title="label", markerscale=2, fontsize="small", loc="center left", bbox_to_anchor=(1, 0.5))
    return ax


class FigureSaver:
    """Writes figures to ``figures/<notebook>/<name>.png`` and ``.pdf`` when enabled (``save_figures``)."""

    def __init__(self, notebook: str, enabled: bool, root: str | Path | None = None):
        from .results import project_root

        self.enabled = bool(enabled)
        self.folder = Path(root or project_root()) / "figures" / notebook

    def save(self, fig, name: str) -> list[Path]:
        """Save ``fig`` under ``name`` if enabled; return the written paths."""
        if not self.enabled:
            return []
        self.folder.mkdir(parents=True, exist_ok=True)
        paths = [self.folder / f"{name}.{ext}" for ext in ("png", "pdf")]
        for path in paths:
            fig.savefig(path)
        return paths
