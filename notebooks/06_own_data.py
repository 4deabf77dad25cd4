# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Using clustutils on your own data
#
# Every method of the book is a function of the `clustutils` package with the chapter's defaults, so a
# researcher can run it on data of their own in a few lines, without the chapters' notebooks. This page
# shows how: first how to turn your own images (an array, or a folder of files) into a dataset, then each
# method on a worked example, scored with the book's metrics.
#
# The worked example is scikit-learn's **digits** set (1,797 handwritten digits of $8 \times 8$ pixels,
# bundled with scikit-learn, so it needs no download), which none of the five papers used. Its numbers are
# therefore **not a reproduction** of anything: they show what each method does on a small, easy dataset
# with the chapters' settings, untuned. Any other name that {func}`clustutils.data.load` knows works the
# same way (`clustutils run 06 -p dataset usps`).
#
# To run a whole chapter on another dataset instead, pass it to the chapter:
# `clustutils run 03 --profile cpu -p dataset digits`. Its rows are recorded under that dataset's name and
# the book's executed notebooks stay as they are; the [Results](../book/results.md) page lists such runs
# under "Beyond the papers' datasets".

# %% tags=["parameters"]
import os

profile = os.environ.get("CLUSTUTILS_PROFILE", "cpu")  # smoke | cpu | gpu | full
seed = 0
device = None  # None: CUDA when available, else the CPU
data_root = None  # None: $CLUSTUTILS_DATA, else ~/.cache/clustutils/data
save_figures = False
dataset = "digits"  # any labelled image set clustutils.data.load knows (e.g. usps, mnist)

# %% tags=["remove-cell"]
# NBVAL_IGNORE_OUTPUT
# Where clustutils is not installed (Colab, a fresh kernel), install it from the book's repository.
import importlib.util, subprocess, sys  # noqa: E401
if importlib.util.find_spec("clustutils") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "clustutils @ git+https://github.com/clustbook/clustbook"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from clustutils import autoencoders, metrics
from clustutils.data import from_arrays, from_folder, load
from clustutils.kmeans import kmeans
from clustutils.notebook import start
from clustutils.papers import baselines
from clustutils.papers import ch04_cm as cm
from clustutils.plotting import image_grid
from clustutils.settings import Budget

run = start("06_own_data", profile, seed=seed, device=device, data_root_dir=data_root, save_figures=save_figures)

# %% [markdown]
# ## 1. Your images as a dataset
#
# A {class}`~clustutils.data.Dataset` holds images (`uint8`, $(N, H, W)$ grey or $(N, H, W, 3)$ colour) and
# integer labels; the labels are used only to score a clustering, never to train one. Two ways in:
#
# - **an array** you already have: `from_arrays(images, labels)` (floats in $[0, 1]$ or `uint8`; labels optional);
# - **a folder of image files**, one subfolder per class (the subfolder names become the classes) or all
#   files in the folder itself (no labels): `from_folder(path, image_size=..., grey=...)`.
#
# The cell below writes 100 of the digits as PNG files into class folders of a temporary directory, as your
# own files would be, reads them back with `from_folder`, and checks that nothing was lost on the way.

# %%
# NBVAL_CHECK_OUTPUT
digits = load("digits", root=run.data_root)
with tempfile.TemporaryDirectory() as folder:
    for i, (image, label) in enumerate(zip(digits.images[:100], digits.labels[:100])):
        (Path(folder) / f"class_{label}").mkdir(exist_ok=True)
        Image.fromarray(image).save(Path(folder) / f"class_{label}" / f"{i:04d}.png")
    mine = from_folder(folder, grey=True, name="my_digits")
order = np.argsort(np.argsort(digits.labels[:100], kind="stable"))  # files are read class by class
assert np.array_equal(mine.images[order], digits.images[:100]) and np.array_equal(mine.labels[order], digits.labels[:100])
assert mine.info["classes"] == [f"class_{k}" for k in range(10)]
same = from_arrays(digits.images[:100] / 255.0, digits.labels[:100], name="my_digits")
assert np.array_equal(same.images, digits.images[:100])
print(f"{len(mine)} images of {mine.images.shape[1]}x{mine.images.shape[2]} from a folder with "
      f"{len(mine.info['classes'])} class subfolders; the same pixels and labels as the arrays they came from")

# %% [markdown]
# ## 2. The worked example
#
# The dataset of the `dataset` parameter, all of it (the clustering protocol of chapters 3 and 4: no
# training labels, scored on every image). The settings are the chapters' defaults; this page's budget
# only shortens the training in `smoke`.

# %%
@dataclass(frozen=True)
class Settings:
    kmeans_restarts: int = 20
    cm_epochs: int = 50  # chapter 4's CM on pixels
    ae_epochs: int = 200  # the shared autoencoder's pretraining
    joint_epochs: int = 50  # DEC, IDEC and AE-CM after pretraining


BUDGET = Budget(Settings(), {
    "cpu": {},
    "gpu": {},
    "smoke": {"kmeans_restarts": (3, "CI: under 2 minutes"), "cm_epochs": (3, "CI"), "ae_epochs": (3, "CI"),
              "joint_epochs": (2, "CI")},
})
settings = run.settings(BUDGET)
data = load(dataset, "all", root=run.data_root)
x = torch.from_numpy(data.features()).to(run.device)
y = data.labels
k = len(np.unique(y))
scores = {}


def score(name, labels):
    """Hungarian ACC and NMI of a clustering, kept for the table and glued for the text."""
    labels = labels.cpu().numpy() if hasattr(labels, "cpu") else np.asarray(labels)
    scores[name] = {"acc": metrics.cluster_acc(y, labels), "nmi": metrics.nmi(y, labels)}
    run.glue(f"{name}_acc", scores[name]["acc"])


print(f"{dataset}: {len(data)} images of {x.shape[1]} pixels, {k} classes")

# %% mystnb={"figure": {"caption": "The first 20 images of the dataset this run used (the dataset parameter; scikit-learn's 8x8 digits in the book).", "name": "fig-own-data-examples"}}
fig, ax = plt.subplots(figsize=(6, 1.3))
image_grid(data.images[:20], ncols=20, ax=ax)
ax.set(xticks=[], yticks=[], xlabel=f"the first 20 images of {dataset}")
run.savefig(fig, "examples")
plt.show()

# %% [markdown]
# **k-means on the pixels** ({func}`clustutils.kmeans.kmeans`, k-means++ with restarts, the lowest
# inertia kept) is the baseline every chapter quotes.

# %%
# NBVAL_IGNORE_OUTPUT
score("kmeans", kmeans(x, k, n_init=settings.kmeans_restarts, seed=run.seed).labels)

# %% [markdown]
# **The Clustering Module** (chapter 4) on the pixels ({func}`~clustutils.papers.ch04_cm.fit_cm`): k-means++
# start, Adam at the authors' lr 1e-3 on their loss (summed over the batch), and their final averaging epoch.
# $\alpha$ is the Dirichlet prior on cluster sizes; {func}`~clustutils.papers.ch04_cm.dataset_settings` gives the
# authors' $\alpha$ and batch size (MNIST's, for data they did not use).

# %%
# NBVAL_IGNORE_OUTPUT
per_set = cm.dataset_settings(dataset)  # the authors' alpha and batch (MNIST's for another set)
batch, alpha = per_set.cm_batch, per_set.cm_alpha
module = cm.fit_cm(x, k, alpha=alpha, epochs=settings.cm_epochs, batch_size=batch, seed=run.seed)
score("cm", module.predict(x))

# %% [markdown]
# **The shared autoencoder** (chapters 3 and 4: $D$-500-500-2000-10, pretrained by Adam on the
# reconstruction error, cached by its settings) and **k-means on its codes**:

# %%
# NBVAL_IGNORE_OUTPUT
ae, history, cached = autoencoders.pretrained_autoencoder(x, 10, epochs=settings.ae_epochs, seed=run.seed,
                                                           dataset=dataset)
codes = autoencoders.encode(ae.encoder, x)
on_codes = kmeans(codes, k, n_init=settings.kmeans_restarts, seed=run.seed)
score("ae_kmeans", on_codes.labels)
print(f"autoencoder {'loaded from the cache' if cached else 'trained'}: reconstruction error {history[-1]:.4f}")

# %% [markdown]
# **DEC and IDEC** (chapter 4's baselines) start from a copy of that autoencoder and the k-means
# centroids of its codes; **AE-CM** starts as chapter 4 starts it ({func}`~clustutils.papers.ch04_cm.aecm_start`:
# the CM fitted on the codes) and then trains encoder, decoder and CM together. All three
# train through the same engine, {func}`~clustutils.autoencoders.train_clustering`.

# %%
# NBVAL_IGNORE_OUTPUT
import copy  # noqa: E402

for name, model in (("dec", baselines.DEC(copy.deepcopy(ae), on_codes.centers)),
                    ("idec", baselines.IDEC(copy.deepcopy(ae), on_codes.centers))):
    autoencoders.train_clustering(model.to(run.device), x, epochs=settings.joint_epochs, batch_size=256, seed=run.seed)
    score(name, model.predict(x))
published = cm.dataset_settings(dataset, aecm_batch=256)  # the authors' values (MNIST's for another set) at batch 256
aecm_alpha = published.aecm_alpha
model = cm.aecm_start(ae, codes, k, alpha=aecm_alpha, beta=published.aecm_beta, lam=published.aecm_lam,
                      cm_epochs=settings.cm_epochs, batch_size=256, kmeans_restarts=settings.kmeans_restarts, seed=run.seed)
score("aecm_start", model.predict(x))
autoencoders.train_clustering(model, x, epochs=settings.joint_epochs, batch_size=256, seed=run.seed)
score("aecm", model.predict(x))
run.glue("aecm_alpha", aecm_alpha)
run.glue("aecm_beta", published.aecm_beta)
run.glue("aecm_lam", published.aecm_lam)

# %% [markdown]
# **Where AE-CM's score comes from.** AE-CM starts from the partition of AE + k-means (its start scores
# {glue:text}`aecm_start_acc:.1%`) and trains with $\alpha =$ {glue:text}`aecm_alpha:.0f`, the published value
# (MNIST's, for data the authors did not use) carried to this batch size, and the authors' reconstruction weight
# $\beta =$ {glue:text}`aecm_beta:g` and orthonormality weight $\lambda =$ {glue:text}`aecm_lam:.3g` (likewise carried
# to the batch; chapter 4b, Section 2). To see whether the joint training or that prior moves the score,
# the cell below trains the same start once more with $\alpha = 1$, which switches the prior on cluster
# sizes off. It is a diagnostic: the labels score both runs and choose nothing, and the table keeps the
# fallback's run.

# %%
# NBVAL_IGNORE_OUTPUT
no_prior = cm.aecm_start(ae, codes, k, alpha=1.0, beta=published.aecm_beta, lam=published.aecm_lam,
                         cm_epochs=settings.cm_epochs, batch_size=256, kmeans_restarts=settings.kmeans_restarts,
                         seed=run.seed)
autoencoders.train_clustering(no_prior, x, epochs=settings.joint_epochs, batch_size=256, seed=run.seed)
score("aecm_no_prior", no_prior.predict(x))
start, with_prior, without = (scores[key]["acc"] for key in ("aecm_start", "aecm", "aecm_no_prior"))
print(f"AE-CM: start {start:.1%}; after {settings.joint_epochs} joint epochs {with_prior:.1%} with alpha "
      f"{aecm_alpha:.1f}, {without:.1%} with alpha 1")
if abs(with_prior - start) < 0.02:
    print("The fallback's prior leaves the start's score in place.")
elif abs(without - start) < 0.02:
    print("Only the run with the prior moves away from the start: the change comes with the prior term.")
else:
    print("Both runs move away from the start: the joint training moves the partition, prior or not.")

# %% [markdown]
# With the prior off, the start ends at {glue:text}`aecm_no_prior_acc:.1%`; with the fallback's prior
# at {glue:text}`aecm_acc:.1%` (the cell says which run moved). The authors set $\alpha$ per dataset;
# choosing it for new data without labels is an open question this page does not answer.

# %% [markdown]
# ## 3. GAR, and the image size its network was built for
#
# GAR (chapter 3) learns its features by telling apart the eight rotations and flips of every image (the
# pseudo task), and k-means clusters the learned features $F$. Its network (the paper's Table 2) was built
# for MNIST's 28×28 digits: two 2×2 max-poolings leave a map of a quarter of the side before $F$, 7×7 on
# MNIST, 4×4 on USPS's 16×16 (the smallest images the paper used) and 2×2 on these 8×8 digits. Chapter 3
# therefore upsamples images smaller than 16×16 to 16×16 before GAR
# ({func}`~clustutils.papers.ch03_gar.upsample_small`); this section measures why. The cell trains GAR on all
# images at their own side and again upsampled to 16×16, with chapter 3's settings for this profile (its
# number of Adam steps on MNIST; the cell prints them), for each of its seeds. Along training it measures the
# accuracy of k-means on $F$ (step 0 is the untrained network), and at the end how often the network names
# the transformation of an image, which is what it was trained to do.

# %%
# NBVAL_IGNORE_OUTPUT
from clustutils.papers import ch03_gar as gar  # noqa: E402

images = data.tensors()[0].to(run.device)
gar_settings = gar.BUDGET.settings(run.profile).for_dataset(dataset, len(images))
gar_config = gar.GarConfig(epochs=gar_settings.epochs, widths=gar_settings.widths, d_f=gar_settings.d_f)
curve_steps = [e * gar_config.steps_per_epoch(len(images)) for e in gar_settings.curve_epochs]
gar_seeds = [run.seed + i for i in range(gar_settings.seeds)]
sides = sorted({images.shape[-1], max(images.shape[-1], gar.MIN_SIDE)})  # one side if already 16 or more
print(f"chapter 3's {run.profile} settings: {gar_config.total_steps(len(images))} steps of {gar_config.batch_size}, "
      f"widths {gar_config.widths}/{gar_config.d_f}, seeds {gar_seeds}, k-means restarts {gar_settings.restarts}")
curves, pretext, final = {}, {}, {}
for side in sides:
    x_side = gar.upsample_small(images, side)
    for s in gar_seeds:
        curve = curves[side, s] = []

        def measure(model, step, curve=curve, x_side=x_side, s=s):
            if step in curve_steps:
                result = gar.evaluate(gar.embed(model, x_side)[0], y, k=k, n_init=gar_settings.restarts, seed=s)
                curve.append((step, result["acc"]))
                final[side, s] = result["clusters"]

        model = gar.fit(x_side, gar_config, seed=s, on_step=measure, desc=f"GAR {side}x{side}, seed {s}")
        pretext[side, s] = gar.pretext_accuracy(model, x_side, gar_config, seed=s)
score("gar", final[sides[-1], run.seed])  # the table's row: the side chapter 3 uses, this page's seed
summary = {}
for name, side in (("small", sides[0]), ("up", sides[-1])):
    start, end = (np.mean([curves[side, s][i][1] for s in gar_seeds]) for i in (0, -1))
    summary[name] = {"side": side, "start": start, "end": end, "pretext": np.mean([pretext[side, s] for s in gar_seeds])}
    for key, value in summary[name].items():
        run.glue(f"gar_{name}_{key}", value)
    print(f"{side}x{side}: k-means on F {start:.1%} untrained, {end:.1%} after training; the pseudo task named "
          f"for {summary[name]['pretext']:.1%} of the images (mean over seeds {gar_seeds}; chance 12.5%)")
run.glue("gar_seeds", len(gar_seeds))
if run.profile != "smoke":  # a trained run: the upsampled images must give GAR the better features
    assert summary["up"]["end"] > summary["small"]["end"] or len(sides) == 1
    assert dataset != "digits" or summary["small"]["end"] < summary["small"]["start"]  # the text's "yet"

# %% mystnb={"figure": {"caption": "GAR on the dataset of this run at its own image side and upsampled to 16x16: accuracy of k-means on the learned features F against Adam steps (step 0: the untrained network). Thin lines: one seed each; thick: their mean. Chapter 3's settings for the profile.", "name": "fig-own-data-gar"}}
fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
for side, colour in zip(sides, ("C3", "C0")):
    steps = [step for step, _ in curves[side, gar_seeds[0]]]
    accs = np.array([[acc for _, acc in curves[side, s]] for s in gar_seeds])
    ax.plot(steps, accs.T, color=colour, lw=0.7, alpha=0.5)
    ax.plot(steps, accs.mean(0), color=colour, lw=2, marker="o", label=f"{side}x{side}")
ax.set(xlabel="Adam steps", ylabel="ACC of k-means on F")
ax.legend(title="image side")
run.savefig(fig, "gar_image_side")
plt.show()

# %% [markdown]
# At {glue:text}`gar_small_side:d`×{glue:text}`gar_small_side:d` pixels the network learns its task: it names
# the transformation of {glue:text}`gar_small_pretext:.0%` of the images. Yet k-means on its features went
# from {glue:text}`gar_small_start:.1%` (the untrained network) to {glue:text}`gar_small_end:.1%` after
# training (means over {glue:text}`gar_seeds:d` seeds). On the same images upsampled to
# {glue:text}`gar_up_side:d`×{glue:text}`gar_up_side:d` it names {glue:text}`gar_up_pretext:.0%` of the
# transformations, and k-means on $F$ went from {glue:text}`gar_up_start:.1%` to {glue:text}`gar_up_end:.1%`.
# Upsampling adds no information; it gives the convolutions room. With a 2×2 map before $F$ the network finds
# cues for the eight transformations that do not group the digits by class, and training moves $F$ away from
# the classes. What a pretext task teaches depends on the architecture as well as on the task, so a network
# built for other images is worth this check before its clusters are read. The table below lists GAR at the
# side chapter 3 uses.

# %% [markdown]
# ## 4. The scores

# %%
# NBVAL_IGNORE_OUTPUT
names = {"kmeans": "k-means on pixels", "cm": "CM on pixels", "ae_kmeans": "AE + k-means", "dec": "DEC",
         "idec": "IDEC", "aecm": "AE-CM (pretrained start)", "gar": f"GAR ({sides[-1]}x{sides[-1]})"}
print(f"{'method':26s} {'ACC':>7s} {'NMI':>7s}   ({dataset}, {len(data)} images, profile {run.profile}, seed {run.seed})")
for key, label in names.items():
    print(f"{label:26s} {scores[key]['acc']:7.1%} {scores[key]['nmi']:7.3f}")

# %% [markdown]
# On this run, k-means on the pixels reached {glue:text}`kmeans_acc:.1%` Hungarian accuracy and the CM
# {glue:text}`cm_acc:.1%`; on the autoencoder's codes k-means reached {glue:text}`ae_kmeans_acc:.1%`, DEC
# {glue:text}`dec_acc:.1%`, IDEC {glue:text}`idec_acc:.1%` and AE-CM {glue:text}`aecm_acc:.1%`; GAR reached
# {glue:text}`gar_acc:.1%`. One seed, no
# tuning: read them as a starting point for your own study, with the caveats of the chapters (several seeds,
# the selection of restarts by inertia and never by labels, and a budget stated beside every number).
#
# **Your own data in place of the example.** Replace the `load(...)` line of Section 2 by
# `data = from_folder("path/to/images", image_size=28, grey=True)` (or `from_arrays(...)`), set `k` to the
# number of clusters you want, and keep the rest. Without labels, skip `score` and look at the clusters
# instead, e.g. `image_grid(data.images[labels == c][:20])` for each cluster `c`.
