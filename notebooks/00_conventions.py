# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Notebook conventions: k-means on raw pixels
#
# Every chapter of this book is a notebook that follows the conventions shown here. This one is short
# and useful on its own: it derives the k-means update, checks the derivation numerically, and
# clusters the raw pixels of the MNIST test set, the baseline that several papers in this book quote
# (about 53–55% accuracy in the literature {cite}`xie2016dec`).
#
# **Conventions.**
# 1. The text source `notebooks/NN_name.py` (jupytext, py:percent) is what people edit and review; the
#    paired `NN_name.ipynb` holds the executed outputs that the book renders.
# 2. The first code cell is tagged `parameters` (papermill): `profile` defaults to the environment
#    variable `CLUSTUTILS_PROFILE`, then seed, device, data root and `save_figures`.
# 3. `clustutils.notebook.start` validates them, chooses the device, seeds everything and prints one
#    provenance line: profile, device, seed, commit, date.
# 3a. **Settings are data.** A chapter's budget is one frozen dataclass whose defaults are the paper's
#    values (the `full` profile), and a {class}`~clustutils.settings.Budget` that writes every other
#    profile (`smoke`, `cpu`, `gpu`) as changes from it, each with its reason. `run.settings(BUDGET)`
#    returns this run's settings and shows the chapter's "Deviations from the paper" table.
# 3b. **Numbers in prose come from the run**: `run.glue(name, value)` stores a value, and the text cites it
#    with myst-nb's `glue:text` role and a Python format (`name:.1%`), so rerunning a chapter updates its prose.
# 4. Each derivation is followed by a cell that checks it numerically and **asserts** with a tolerance;
#    its printed verdict is deterministic and marked `# NBVAL_CHECK_OUTPUT`, so CI compares it.
#    Cells with progress bars or timings are marked `# NBVAL_IGNORE_OUTPUT`.
# 5. Every figure has labelled axes and a caption (cell metadata `mystnb.figure.caption`), and goes
#    through `run.savefig` so `save_figures=True` writes it to `figures/` for slides.
# 6. Every reported number goes to the results registry with `run.record(...)`, beside the paper's value.
# 7. Exercises use `{exercise}` and `{solution}` blocks; `clustutils student` removes the solutions.
# 8. **Any dataset.** The `dataset` parameter defaults to the paper's; any labelled image set that
#    {func}`clustutils.data.load` knows can replace it (`clustutils run 00 -p dataset digits`). Rows are
#    recorded under the dataset actually loaded, never under the paper's name. Checks of a property of the
#    paper's data (not of the method) say so and are skipped, with a note, on other data.

# %% tags=["parameters"]
import os

profile = os.environ.get("CLUSTUTILS_PROFILE", "cpu")  # smoke | cpu | gpu | full
seed = 0
device = None  # None: CUDA when available, else the CPU
data_root = None  # None: $CLUSTUTILS_DATA, else ~/.cache/clustutils/data
save_figures = False
dataset = "mnist"  # the paper's; or any labelled image set clustutils.data.load knows (e.g. usps, digits)

# %% tags=["remove-cell"]
# NBVAL_IGNORE_OUTPUT
# Where clustutils is not installed (Colab, a fresh kernel), install it from the book's repository.
import importlib.util, subprocess, sys  # noqa: E401
if importlib.util.find_spec("clustutils") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "clustutils @ git+https://github.com/clustbook/clustbook"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from clustutils import metrics
from clustutils.data import load_split
from clustutils.kmeans import kmeans
from clustutils.notebook import start
from clustutils.plotting import image_grid
from clustutils.settings import Budget

run = start("00_conventions", profile, seed=seed, device=device, data_root_dir=data_root, save_figures=save_figures)

# %% [markdown]
# ## The k-means update, derived and checked
#
# k-means minimises the within-cluster sum of squares over assignments $c_n$ and centroids $\mu_k$:
#
# $$J(c, \mu) = \sum_{n=1}^{N} \lVert x_n - \mu_{c_n} \rVert^2 .$$
#
# For fixed assignments, $J$ is a convex quadratic in each centroid, with gradient
#
# $$\frac{\partial J}{\partial \mu_k} = -2 \sum_{n : c_n = k} (x_n - \mu_k),$$
#
# which vanishes at the mean of the points assigned to $k$: that is Lloyd's update,
# $\mu_k \leftarrow \frac{1}{N_k}\sum_{n: c_n = k} x_n$. The cell below checks both the gradient
# formula (against autograd) and that the gradient is zero at the means.

# %%
# NBVAL_CHECK_OUTPUT
generator = torch.Generator().manual_seed(seed)
x = torch.randn(200, 5, generator=generator, dtype=torch.float64)
c = torch.randint(0, 4, (200,), generator=generator)
mu = torch.randn(4, 5, generator=generator, dtype=torch.float64, requires_grad=True)

objective = ((x - mu[c]) ** 2).sum()
(autograd,) = torch.autograd.grad(objective, mu)
closed_form = torch.stack([-2 * (x[c == k] - mu[k]).sum(0) for k in range(4)])
assert torch.allclose(autograd, closed_form, atol=1e-10)

means = torch.stack([x[c == k].mean(0) for k in range(4)]).requires_grad_()
(at_means,) = torch.autograd.grad(((x - means[c]) ** 2).sum(), means)
assert at_means.abs().max() < 1e-10
print("check passed: dJ/dmu_k = -2 sum (x_n - mu_k), and it vanishes at the cluster means")

# %% [markdown]
# ## k-means on raw MNIST pixels
#
# k-means++ with restarts on the 10,000 test digits (the `dataset` parameter's test split), keeping the
# run of lowest inertia; pixels are
# scaled to $[0, 1]$. The settings below are this template's: the paper-side values, then each profile
# as stated changes (the table shows this run's).

# %%
@dataclass(frozen=True)
class Settings:
    n_samples: int = 10_000  # the MNIST test set
    restarts: int = 100


BUDGET = Budget(Settings(), {
    "cpu": {"restarts": (10, "2 cores: 100 restarts on 10,000 digits take minutes")},
    "gpu": {"restarts": (10, "as cpu: this template's k-means runs on the host (a NumPy array goes to scikit-learn)")},
    "smoke": {"n_samples": (2_000, "CI: under 2 minutes a notebook"), "restarts": (3, "CI")},
})
settings = run.settings(BUDGET)
_, digits = load_split(dataset, root=run.data_root, seed=run.seed)
x, y = digits.features()[:settings.n_samples], digits.labels[:settings.n_samples]
n_samples, restarts, n_classes = len(x), settings.restarts, len(np.unique(digits.labels))
print(f"{dataset} ({digits.split}): {n_samples} images of {x.shape[1]} pixels, {n_classes} classes, {restarts} restarts")

# %%
# NBVAL_IGNORE_OUTPUT
result = kmeans(x, n_classes, n_init=restarts, seed=run.seed)
scores = {
    "acc": metrics.cluster_acc(y, result.labels),
    "majority_acc": metrics.majority_acc(y, result.labels),
    "nmi": metrics.nmi(y, result.labels),
    "ari": metrics.ari(y, result.labels),
}
for name, value in scores.items():
    run.record("kmeans_pixels", f"{dataset}_test", name, value, note=f"{n_samples} test images, {restarts} restarts")
    run.glue(f"kmeans_{name}", value)
print({name: round(value, 4) for name, value in scores.items()})

# %% [markdown]
# The accuracy, {glue:text}`kmeans_acc:.1%` (NMI {glue:text}`kmeans_nmi:.3f`), lands in the range the
# literature reports for k-means on raw pixels. The check below
# makes that claim part of the notebook: if a change to the loader or to `kmeans` broke it, CI would fail.
# The range is a property of MNIST, not of k-means, so on another dataset only the second line is checked.

# %%
# NBVAL_CHECK_OUTPUT
if dataset == "mnist":  # a property of MNIST
    assert 0.50 <= scores["acc"] <= 0.60, scores["acc"]
    print("k-means on raw pixels: Hungarian ACC within [0.50, 0.60] (MNIST's literature range)")
else:
    print(f"MNIST's literature range not checked: this run is on {dataset}")
assert scores["majority_acc"] >= scores["acc"]  # many-to-one matching can only help
print("majority-vote ACC >= Hungarian ACC")

# %% mystnb={"figure": {"caption": "The ten k-means centroids of the raw MNIST test pixels, each titled with the digit it is matched to by the Hungarian assignment. Several digits share a centroid shape (4/9, 3/5/8), which is where the errors of k-means on pixels come from.", "name": "fig-conventions-centroids"}}
mapping = metrics.hungarian_mapping(y, result.labels)
order = sorted(range(n_classes), key=lambda k: (mapping[k] is None, mapping[k]))
side = digits.images.shape[1]
fig, ax = plt.subplots(figsize=(7, 1.4))
image_grid(result.centers[order].reshape(-1, *digits.images.shape[1:]), ncols=n_classes, ax=ax)
ax.set_xticks([side / 2 + (side + 1) * i for i in range(n_classes)], labels=[f"→ {mapping[k]}" for k in order])
ax.set_xlabel("centroid, titled with its matched class")
ax.set_ylabel(f"{side}×{digits.images.shape[2]}")
run.savefig(fig, "kmeans_centroids")
plt.show()

# %% [markdown]
# ## Exercise
#
# ```{exercise}
# :label: ex-conventions-majority
#
# Majority-vote accuracy maps each cluster to its most frequent class. Show that it can only be at
# least the Hungarian accuracy, and that it reaches 1 when every point is its own cluster. Why does
# that make it a poor score when comparing methods with different numbers of clusters?
# ```
#
# ````{solution} ex-conventions-majority
# :class: dropdown
#
# The Hungarian matching is one particular cluster-to-class map (one-to-one); the majority vote
# takes, for each cluster independently, the best class, so its count of correct points is at least
# as large. With $N$ singleton clusters every point is its own majority, so the score is 1. A method
# that uses more clusters therefore scores higher without clustering better; Hungarian accuracy
# penalises the unmatched clusters instead.
# ````
