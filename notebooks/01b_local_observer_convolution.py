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
# # The Local Observer Convolution
#
# This is the second part of chapter 1, on the ICLR 2022 submission {cite:p}`oneStageAE2022`. The first
# part (the Autoclave RBM and Table 1 on MNIST) set out the paper's contrast between *parameter-load*
# (an RBM's reconstruction reuses the encoder's weights) and *parameter-stress* (an autoencoder's decoder
# has weights of its own). This part takes the paper's second model, the **Local Observer Convolution
# (LOC)**: a network that predicts a convolution kernel per image, trained to reconstruct the image by
# convolving it with its own kernel, and that segments flowers with a number of clusters of its own
# choosing. It needs nothing from the first part beyond that contrast; it can be run on its own.
#
# As in the first part, the paper's formulas reach us garbled: we state every reading we make and why,
# check each derivation numerically, and rerun Table 2 on stand-in data.
#
# **What you will be able to do:** implement LOC from its description; derive where the gate of Eq. 21
# stops training and how the lower bound $\rho$ sets the number of clusters; and judge what a binary
# segmentation score measures when the binarisation rule is part of the method.

# %% tags=["parameters"]
import os

profile = os.environ.get("CLUSTUTILS_PROFILE", "cpu")  # smoke | cpu | gpu | full
seed = 0
device = None  # None: CUDA when available, else the CPU
data_root = None  # None: $CLUSTUTILS_DATA, else ~/.cache/clustutils/data
save_figures = False
dataset = "flowers17_seg"  # the stand-in for Oxford-102 (see text); any segmentation set clustutils.data.load knows with masks

# %% tags=["remove-cell"]
# NBVAL_IGNORE_OUTPUT
# Where clustutils is not installed (Colab, a fresh kernel), install it from the book's repository.
import importlib.util, subprocess, sys  # noqa: E401
if importlib.util.find_spec("clustutils") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "clustutils @ git+https://github.com/clustbook/clustbook"], check=True)

# %%
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt
import numpy as np
import torch

from clustutils import metrics, results
from clustutils.papers import ch01_onestage as osa
from clustutils.data import DatasetNotFoundError, load
from clustutils.kmeans import kmeans
from clustutils.notebook import start
from clustutils.train import batched, fit, seed_everything

run = start("01b_local_observer_convolution", profile, seed=seed, device=device, data_root_dir=data_root,
            save_figures=save_figures)
settings = run.settings(osa.LOC_BUDGET)  # the paper's settings with this profile's stated deviations (table below)

# %% [markdown]
# ## 1. The Local Observer Convolution (Eqs. 17-22)
#
# LOC is described in one page, with its formulas the most damaged part of the extraction. What the
# text says: a network computes, for every image $v_i$, an "observer kernel" $G_i$ (Fig. 7, Appendix C:
# five convolution blocks ending in a one-channel sigmoid map); the kernel is convolved with the image,
# $K(v_i, G_i) = v_i * G_i$ (Eqs. 18-19), "the same $a_i$ repeated" over channels; the objective is the
# MSE between $v_i$ and $K(v_i, G_i)$ (Eq. 20), set to zero when it falls below a lower bound $\rho$
# (Eq. 21, $\rho = 0.5$); the float output is "clipped" into cluster labels that are consecutive
# integers ("no cluster with a label 10 if the total number of clusters are exactly 9"), each group
# represented by its median; and the number of clusters follows from $\rho$.
#
# **Our reading, stated so it can be argued with.** The sentences that pin it down are about $\rho$:
# it "works as a perturbation parameter to control the LOC reductions, i.e., a large perturbation
# preserves large partitioning factor", and "the number of clusters [is] determined automatically by the
# ANN proportional to the perturbation parameter". So a *larger* $\rho$ must give *more* clusters, and
# the gate must be open at the start of training, or nothing trains.
# 1. The Appendix C network maps an image of side $S$ to a map of side $S/32$ (two stride-2 convolutions
#    after a stride-2 one and two poolings), ending in a sigmoid. This map *is* $G_i$, entries in $(0, 1)$,
#    not normalised: its **mass** $c_i = \sum G_i$ is free, and we write $G_i = c_i\,g_i$ with a shape
#    $g_i \ge 0$, $\sum g_i = 1$. Then $v_i * G_i = c_i\,(v_i * g_i)$ is a blur of the image scaled by the mass.
# 2. Pixels are in $[0, 1]$ (as for MNIST in the first part; the paper states no other scaling). Eq. 20 averages the
#    squared error over the $k$ images of a batch, so the gate of Eq. 21 acts on the batch MSE $e$.
# 3. At initialisation the sigmoid map is near 0.5 everywhere, so $c_i$ is a sizeable fraction of $(S/32)^2$
#    (this run's median: {glue:text}`loc_mass_before:.1f`): $v * G$ is several times brighter than $v$ and
#    $e \gg \rho$. Training lowers the
#    mass until $e$ reaches $\rho$, and there the gate stops it. For one image and a fixed shape the MSE
#    is a quadratic in the mass, $e(c) = A - 2cB + c^2C$ with $b = v * g$, $A = \overline{v^2}$,
#    $B = \overline{v b}$, $C = \overline{b^2}$; it is smallest at $c^* = B/C \approx 1$, and descent from
#    above stops at
#    $$c_\rho = c^* + \sqrt{(\rho - e_{\min})/C}, \qquad e_{\min} = A - B^2/C,$$
#    which grows with $\rho$ (`onestage.loc_stopping_mass`). Without the bound the optimum is $c = c^*$
#    with the sharpest shape, a delta kernel that reproduces the image exactly: $\rho$ is what keeps
#    LOC away from the identity, the "perturbation".
# 4. Cluster labels: round the channel mean of the floating-point output $v * G$ ("clipped") and shift the
#    minimum to 0. Rounding a continuous field gives consecutive labels ("no cluster with a label 10 if
#    the total number of clusters are exactly 9"), and an image whose blur spans $[b_{lo}, b_{hi}]$ gets
#    about $\operatorname{round}(c\,b_{hi}) - \operatorname{round}(c\,b_{lo}) + 1$ of them: **the number of
#    clusters is set by the mass, and the mass by $\rho$.** At $c = 1$ pixels in $[0, 1]$ give at most
#    two labels; at $\rho = 0.5$, with $\overline{v^2} =$ {glue:text}`mean_square_pixel:.3f` on this run's
#    flower images (Section 2) and $c^* \approx 1$, $e_{\min} \approx 0$, $c_\rho \approx 1 + \sqrt{\rho/\overline{v^2}}
#    =$ {glue:text}`c_rho_rough:.2f`, so a few clusters; each image gets its own mass, so its own number.
# 5. Binary masks (Section 3.2): "according to the median cluster label for each example separately. The
#    first 50% of sorted clusters labels have been mapped to zero (background), while others assigned to
#    one (foreground)." Read literally: sort the image's *pixels* by cluster label; the lower half is
#    background. The cluster at the median pixel straddles the cut; we keep clusters whole and put the cut
#    between the two consecutive labels that make the background share closest to 50% (an exact tie: the
#    lower cut). This is `onestage.rank_binary`, the paper's rule for us. Our earlier reading split the
#    *distinct* labels present at their median (`onestage.distinct_median_binary`): with three labels only
#    the top one is foreground, however few pixels it holds. It stays in Table 2 as a variant.
#
# **An earlier reading that does not work.** Our first version normalised $G$ to sum to one and
# standardised the images so that the MSE would be a fraction of unexplained variance. Then $v * G$ is a
# weighted mean of the image, and its MSE was below $\rho = 0.5$ on every flower image from the first step:
# the loss was identically zero and LOC never trained (its `cpu` run segmented with the random initial
# kernel). Nothing in the paper asks for the normalisation, and it removes the one free
# quantity, the mass, through which $\rho$ can act; reading 1-4 also makes larger $\rho$ give more
# clusters, as the paper says, while under the normalised reading a larger $\rho$ would stop a sharpening
# kernel earlier (more blur, fewer levels crossed): the opposite direction.
#
# **Eq. 17, the two-way partitioning problem** that inspired LOC, $\min_w w^\top V w$ subject to
# $w_i^2 = 1$, is NP-hard in general. Its standard relaxation, $\lVert w\rVert^2 = n$, gives the lower
# bound $n\,\lambda_{\min}(V)$. The check solves a small instance exactly by enumeration, confirms the
# bound and that no other sign vector does better (all $2^{12}$ evaluated at once, independently of the
# enumeration), and checks points 2-4: the delta kernel's zero error, that the batch gate passes no gradient
# once the batch MSE is below $\rho$, that gated gradient descent on the mass stops at $c_\rho$, and that
# the number of clusters grows with $\rho$.

# %%
# NBVAL_CHECK_OUTPUT
rng = np.random.default_rng(run.seed)
B = rng.normal(size=(12, 12))
V = B + B.T
w_best, best_value = osa.two_way_partition(V)
assert best_value >= len(V) * np.linalg.eigvalsh(V)[0] - 1e-9
every_w = 1.0 - 2.0 * ((np.arange(2**12)[:, None] >> np.arange(12)) & 1)  # all 4,096 sign vectors
assert np.isclose(best_value, np.einsum("ki,ij,kj->k", every_w, V, every_w).min())  # the exact minimum
assert np.isclose(w_best @ V @ w_best, best_value)

grid = torch.linspace(0, 1, 32, dtype=torch.float64)
smooth = (0.45 + 0.4 * torch.sin(6 * grid[:, None]) * torch.cos(4 * grid[None, :])).expand(1, 3, 32, 32)  # pixels in [0, 1]
delta = torch.zeros(1, 3, 3, dtype=torch.float64)
delta[:, 1, 1] = 1
assert float(osa.loc_loss(smooth, delta, rho=0.0)) < 1e-20  # the trivial solution that rho forbids

shape = torch.full((1, 3, 3), 1 / 9, dtype=torch.float64)  # a box blur as the kernel's shape g
batch_mse = float(osa.loc_loss(smooth, 3.0 * shape, rho=0.0))
for rho_test, open_gate in ((batch_mse - 0.01, True), (batch_mse + 0.01, False)):
    mass = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    (grad_mass,) = torch.autograd.grad(osa.loc_loss(smooth, mass * shape, rho=rho_test), mass)
    assert (float(grad_mass) != 0.0) == open_gate  # Eq. 21: no gradient once the batch MSE is below rho

stops, n_clusters_rho = [], []
step = 0.005 / float((osa.observer_reconstruction(smooth, shape) ** 2).mean())  # 1% of the way to c* per step
for rho_test in (0.02, 0.1, 0.3, 0.5, 1.0):
    mass = torch.tensor(7.0, dtype=torch.float64, requires_grad=True)
    for _ in range(2000):  # gated gradient descent on the mass from above, as training does
        loss = osa.loc_loss(smooth, mass * shape, rho=rho_test)
        if float(loss.detach()) == 0.0:
            break
        (grad_mass,) = torch.autograd.grad(loss, mass)
        mass = (mass - step * grad_mass).detach().requires_grad_(True)
    predicted = float(osa.loc_stopping_mass(smooth, shape, rho_test)[0])
    mass = float(mass.detach())
    assert abs(mass - predicted) < 0.03, (rho_test, mass, predicted)
    stops.append(predicted)
    n_clusters_rho.append(int(osa.loc_labels(osa.observer_reconstruction(smooth, predicted * shape)).max()) + 1)
assert all(a < b for a, b in zip(stops, stops[1:]))  # a larger rho stops at a larger mass
assert all(a <= b for a, b in zip(n_clusters_rho, n_clusters_rho[1:])) and n_clusters_rho[-1] > n_clusters_rho[0]

ramp = torch.linspace(-0.4, 4.6, 256).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
levels = osa.loc_labels(ramp)[0]
assert levels.unique().tolist() == list(range(int(levels.max()) + 1))  # consecutive, from 0
assert int(levels.max()) + 1 == round(4.6) - round(-0.4) + 1  # number of clusters = integer levels crossed
print("Eq. 17: exact partition >= n lambda_min(V); delta kernel: MSE 0 (why rho is needed);")
print("Eq. 21: no gradient once the batch MSE is below rho; descent on the kernel's mass stops at c_rho, which grows with rho;")
print("rounded labels are consecutive, their number = levels crossed, and it grows with rho")

# %% [markdown]
# ## 2. Table 2: LOC against k-means on flower segmentation (stand-in data)
#
# **Data: a stand-in.** The paper segments Oxford-102 flowers (a random test set of 2,189 images, the
# rest for training). That set is not available offline here. We use the **846 Oxford-17 flower images
# that have foreground masks** {cite:p}`nilsback2006visual` (`flowers17_seg`: 1 = flower, 0 = background, 255 = unlabeled, ignored by
# the metrics), a different, smaller set of the same kind of photographs by the same group. Our numbers
# are therefore **not a reproduction of Table 2**; they are recorded under the dataset loaded (`flowers17_seg` by default), while the
# paper's numbers stay under `flowers102_seg` on the Results page. A random quarter of the images
# (seeded) is the test set.
#
# **Settings (Table 4).** $\rho = 0.5$, Adam ($\beta_1 = 0.9$, $\beta_2 = 0.999$, learning rate $10^{-3}$),
# batch 64, 50 epochs, pixels in $[0, 1]$. The paper states no image size; `full` resizes to
# $256 \times 256$ (the deviations table gives this profile's size and epochs; `smoke`'s $96 \times 96$ is the
# smallest size whose $3 \times 3$ kernel starts with the gate open). We keep $\rho = 0.5$ as printed and
# tune nothing on the masks.
#
# **What to expect under this reading.** The gate is open at the start (MSE of several units per pixel),
# the mass of the kernels falls epoch by epoch, and the epoch-mean loss drops to 0 once every batch is
# below $\rho$; after that the model sits at the boundary $e \approx \rho$ (an update that pushes a batch
# above $\rho$ is pulled back). The training cell prints the epoch-mean losses; the discussion below
# quotes them. Our first reading (normalised kernel, standardised images) never opened the gate: its
# `cpu` run left LOC at its random initialisation.
#
# **Binary masks and two controls.** Each label map becomes a binary mask by the paper's rule read
# literally (`rank_binary`, Section 1, point 5) and, as a variant, by the distinct-label median
# (`distinct_median_binary`). To see what training adds, we replace each test image's trained kernel by
# two untrained ones of the same side: a **uniform kernel of the same mass** (the trained mass, no trained
# shape), and a **uniform kernel whose mass is $c_\rho$** from the closed form of Section 1 (nothing
# trained at all). Both go through the same rounding and the paper's binarisation.
#
# **k-means baseline.** The paper does not say how k-means was run; we cluster each test image's pixels
# (RGB standardised per image and channel) into 2 clusters (k-means++ restarts: `flower_kmeans_restarts`),
# order the two clusters by brightness like LOC's labels, and binarise with the paper's rule. With two
# clusters both rules put the cut between them, so the variant changes nothing for k-means. Metrics are
# computed per image and averaged (Appendix A, Eqs. 23-25).

# %%
# NBVAL_IGNORE_OUTPUT
image_size, loc_epochs, rho = settings.image_size, settings.loc_epochs, settings.rho
try:
    flowers = load(dataset, root=run.data_root, image_size=image_size)
except DatasetNotFoundError as err:
    flowers = None
    print(f"{dataset} is not available, the LOC experiment is skipped: {err}")
if flowers is not None:
    n_flowers = settings.n_flowers or len(flowers)
    order = np.random.default_rng(run.seed).permutation(len(flowers))[:n_flowers]
    test_index, train_index = order[: n_flowers // 4], order[n_flowers // 4 :]
    all_images = torch.tensor(flowers.images, dtype=torch.float32).permute(0, 3, 1, 2) / 255  # pixels in [0, 1]
    v_train, v_test = all_images[train_index].to(run.device), all_images[test_index].to(run.device)
    masks_test = flowers.masks[test_index]
    mean_square = run.glue("mean_square_pixel", float((v_train**2).mean()))
    run.glue("c_rho_rough", 1 + np.sqrt(rho / mean_square))
    print(f"{dataset} (stand-in for Oxford-102): {len(train_index)} train / {len(test_index)} test images, "
          f"{image_size}x{image_size}, kernel side {image_size // 32}, mean squared pixel {mean_square:.3f}")

# %%
# NBVAL_IGNORE_OUTPUT
if flowers is not None:
    seed_everything(run.seed)
    loc_net = osa.LOCNet().to(run.device)

    def kernels_of(net, v):
        net.eval()
        return batched(net, v, settings.loc_batch)

    def mse_per_image(net, v):
        return osa.loc_mse(v, kernels_of(net, v)).cpu()

    mse_before, mass_before = mse_per_image(loc_net, v_train), kernels_of(loc_net, v_train).sum(dim=(1, 2)).cpu()
    loc_history = fit(loc_net, lambda m, vb: osa.loc_loss(vb, m(vb), rho), (v_train,), epochs=loc_epochs,
                      batch_size=settings.loc_batch, seed=run.seed,
                      optimizer=torch.optim.Adam(loc_net.parameters(), lr=settings.loc_lr), desc="LOC")
    mse_after, mass_after = mse_per_image(loc_net, v_train), kernels_of(loc_net, v_train).sum(dim=(1, 2)).cpu()
    closed = [e for e, loss in enumerate(loc_history, 1) if loss == 0.0]
    run.glue("loc_loss_first", loc_history[0])
    run.glue("loc_loss_last", loc_history[-1])
    run.glue("loc_epochs", loc_epochs)
    run.glue("loc_closed_epochs", len(closed))  # epochs in which the gate was closed for every batch
    run.glue("loc_mass_before", float(mass_before.median()))
    print(f"training MSE (mean over images): {float(mse_before.mean()):.3f} before, {float(mse_after.mean()):.3f} after "
          f"(rho = {rho}); kernel mass (median): {float(mass_before.median()):.2f} before, {float(mass_after.median()):.2f} after")
    print(f"epoch-mean loss per epoch: {np.round(loc_history, 3).tolist()}")
    print(f"the gate was closed for every batch first in epoch {closed[0]}, in {len(closed)} of {loc_epochs} epochs" if closed else
          "the gate never closed for every batch of an epoch: the batch MSE has not reached rho yet")

# %%
# NBVAL_IGNORE_OUTPUT
if flowers is not None:
    kernels = kernels_of(loc_net, v_test)
    box = osa.uniform_kernels(kernels)  # same side and mass, uniform shape
    box_shape = box / box.sum(dim=(1, 2), keepdim=True)
    closed_form_mass = osa.loc_stopping_mass(v_test, box_shape, rho)  # where the gate would stop a uniform kernel
    with torch.no_grad():
        label_maps = {name: osa.loc_labels(osa.observer_reconstruction(v_test, G)).cpu().numpy()
                      for name, G in (("loc", kernels), ("box", box), ("box_closed_form", closed_form_mass[:, None, None] * box_shape))}
    loc_label_maps = label_maps["loc"]
    kmeans_label_maps = []
    for image in osa.standardise_images(v_test).cpu().numpy():
        pixels = image.reshape(3, -1).T
        result = kmeans(pixels, 2, n_init=settings.flower_kmeans_restarts, seed=run.seed, progress=False)
        brightness_rank = np.argsort(np.argsort(result.centers.mean(1)))  # darker cluster -> label 0
        kmeans_label_maps.append(brightness_rank[result.labels].reshape(image_size, image_size))
    table2_rows = {  # row: (label maps, binarisation, note)
        "loc": (loc_label_maps, osa.rank_binary, "paper's binarisation read literally: lower 50% of pixels by label = background"),
        "loc_distinct_median": (loc_label_maps, osa.distinct_median_binary, "VARIANT binarisation: split at the median of the distinct labels"),
        "loc_uniform_kernel": (label_maps["box"], osa.rank_binary, "CONTROL: untrained uniform kernel, same side and mass as the trained one"),
        "loc_uniform_closed_form": (label_maps["box_closed_form"], osa.rank_binary,
                                    "CONTROL: untrained uniform kernel with the closed-form mass c_rho (nothing trained)"),
        "kmeans": (kmeans_label_maps, osa.rank_binary, f"2 clusters on standardised RGB, {settings.flower_kmeans_restarts} restarts"),
    }
    table2, foreground = {}, {}
    for row, (maps, rule, note) in table2_rows.items():
        binary = [rule(labels) for labels in maps]
        foreground[row] = run.glue(f"fg_share_{row}", float(np.mean([b[m != 255].mean() for b, m in zip(binary, masks_test)])))
        table2[row] = {name: float(np.mean([fn(b, m) for b, m in zip(binary, masks_test)]))
                       for name, fn in (("pixel_acc", metrics.pixel_accuracy), ("iou", metrics.iou), ("dice", metrics.dice))}
        for metric, value in table2[row].items():
            run.glue(f"t2_{row}_{metric}", value)
            run.record(row, dataset, metric, value,
                       note=f"STAND-IN for Oxford-102 (paper, flowers102_seg): {len(test_index)} {dataset} test images, "
                            f"{image_size}px, {loc_epochs} LOC epochs, rho={rho}, [0,1] pixels, raw sigmoid kernel; {note}")
    run.glue("fg_share_true", float(np.mean([(m[m != 255] == 1).mean() for m in masks_test])))
    for metric in ("pixel_acc", "iou", "dice"):
        run.glue(f"t2_training_gain_{metric}", table2["loc"][metric] - table2["loc_uniform_kernel"][metric])
        run.glue(f"t2_training_gain_closed_{metric}", table2["loc"][metric] - table2["loc_uniform_closed_form"][metric])
    n_loc_clusters = np.array([labels.max() + 1 for labels in loc_label_maps])
    run.glue("loc_clusters_median", int(np.median(n_loc_clusters)))
    run.glue("loc_clusters_min", int(n_loc_clusters.min()))
    run.glue("loc_clusters_max", int(n_loc_clusters.max()))
    run.glue("loc_mass_median", float(kernels.sum(dim=(1, 2)).median()))
    run.glue("loc_closed_form_mass_median", float(closed_form_mass.median()))
    paper_table2 = {"kmeans": (61.48, 52.23, 55.02), "loc": (81.22, 61.93, 71.80)}
    print(f"STAND-IN {dataset:14s} (the paper: Oxford-102)   pixel acc    IoU    Dice   foreground | paper (Oxford-102)")
    for row, values in table2.items():
        print(f"{row:24s}{'':24s}{100 * values['pixel_acc']:6.2f} {100 * values['iou']:6.2f} {100 * values['dice']:6.2f}   "
              f"{100 * foreground[row]:5.1f}%   | " + " / ".join(f"{p:.2f}" for p in paper_table2.get(row, ())))
    print(f"true masks: {100 * np.mean([(m[m != 255] == 1).mean() for m in masks_test]):.1f}% foreground")
    print(f"LOC clusters per test image: median {np.median(n_loc_clusters):.0f}, range {n_loc_clusters.min()}-{n_loc_clusters.max()}; "
          f"kernel mass: median {float(kernels.sum(dim=(1, 2)).median()):.2f} (closed form for a uniform kernel: "
          f"{float(closed_form_mass.median()):.2f})")
    better = [m for m in ("pixel_acc", "iou", "dice") if table2["loc"][m] > table2["kmeans"][m]]
    print(f"LOC above k-means on: {', '.join(better) or 'none of the three metrics'} (stand-in data)")

# %% mystnb={"figure": {"caption": "After Figure 10, on the STAND-IN data (Oxford-17 flowers with masks, not the paper's Oxford-102): four test images (columns); by row, the image, LOC's multi-class labels (titled with the number of clusters LOC chose for that image; colour bar: label), LOC's binary mask by the paper's rule (lower 50% of the pixels by label = background) and by the distinct-label median (variant), k-means' binary mask, and the ground-truth mask (grey: ignored pixels).", "name": "fig-osa-loc-examples"}}
if flowers is not None:
    show = np.arange(min(4, len(test_index)))
    panels = (("image", None), ("LOC labels", None), ("LOC binary\n(paper's rule)", lambda i: osa.rank_binary(loc_label_maps[i])),
              ("LOC binary\n(distinct median)", lambda i: osa.distinct_median_binary(loc_label_maps[i])),
              ("k-means binary", lambda i: osa.rank_binary(kmeans_label_maps[i])),
              ("true mask", lambda i: np.where(masks_test[i] == 255, 0.5, masks_test[i])))
    fig, axes = plt.subplots(len(panels), len(show), figsize=(1.6 * len(show) + 0.8, 1.7 * len(panels)), squeeze=False)
    top_label = max(int(loc_label_maps[i].max()) for i in show)
    for col, i in enumerate(show):
        axes[0, col].imshow(flowers.images[test_index[i]])
        labels_image = axes[1, col].imshow(loc_label_maps[i], cmap="viridis", vmin=0, vmax=max(top_label, 1))
        axes[1, col].set_title(f"{n_loc_clusters[i]} clusters", fontsize=9)
        for row, (_, panel) in enumerate(panels[2:], start=2):
            axes[row, col].imshow(panel(i), cmap="gray", vmin=0, vmax=1)
    for row, (name, _) in enumerate(panels):
        axes[row, 0].set_ylabel(name)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
    fig.colorbar(labels_image, ax=axes[1].tolist(), label="cluster label", ticks=range(max(top_label, 1) + 1))
    axes[-1, len(show) // 2].set_xlabel(f"test images of the stand-in {dataset}")
    run.savefig(fig, "loc_examples")
    plt.show()

# %% mystnb={"figure": {"caption": "STAND-IN data (Oxford-17 flowers with masks, not Oxford-102): the number of clusters LOC chose for each test image (top) and the observer kernels G of four test images, titled with their mass sum G, on one colour scale (bottom).", "name": "fig-osa-loc-clusters"}}
if flowers is not None:
    fig, axes = plt.subplot_mosaic([["hist"] * 4, ["k0", "k1", "k2", "k3"]], figsize=(7, 4.6), height_ratios=[1.4, 1],
                                   layout="constrained")
    axes["hist"].hist(n_loc_clusters, bins=np.arange(n_loc_clusters.min(), n_loc_clusters.max() + 2) - 0.5)
    axes["hist"].set(xlabel="clusters chosen by LOC", ylabel="test images")
    axes["hist"].xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    shown_kernels = kernels[:4].cpu()
    kernel_axes = [axes[f"k{j}"] for j in range(len(shown_kernels))]
    for ax, k in zip(kernel_axes, shown_kernels):
        kernel_image = ax.imshow(k.numpy(), cmap="magma", vmin=float(shown_kernels.min()), vmax=float(shown_kernels.max()))
        ax.set(xticks=[], yticks=[], xlabel=f"G ({k.shape[0]}x{k.shape[1]})", title=f"mass {float(k.sum()):.2f}")
        ax.grid(False)
    for j in range(len(shown_kernels), 4):
        axes[f"k{j}"].axis("off")
    fig.colorbar(kernel_image, ax=kernel_axes, label="kernel entry $G$")
    run.savefig(fig, "loc_clusters")
    plt.show()

# %% [markdown]
# **How the number of clusters follows from $\rho$.** Retraining LOC for every $\rho$ is too slow here, but
# Section 1 gives the stopping point in closed form: keep each test image's trained kernel *shape*
# $g_i = G_i / \sum G_i$, put the mass at $c_\rho$ (per image, as if each image had its own gate), and
# count the labels. This uses no masks. The trained model's own counts (at $\rho = 0.5$, batch gate) are
# marked for comparison.

# %% mystnb={"figure": {"caption": "STAND-IN data (Oxford-17 flowers, not Oxford-102): the number of clusters per test image when the kernel mass is set to where the gate of Eq. 21 stops it, c_rho (Section 1), for each rho, keeping the trained kernel shapes; median and 10-90% range over test images, and the trained model's counts at rho = 0.5 (batch gate). Larger rho, larger mass, more clusters, as the paper says.", "name": "fig-osa-loc-rho"}}
if flowers is not None:
    rho_grid = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0]
    shapes = kernels / kernels.sum(dim=(1, 2), keepdim=True)
    clusters_by_rho = []
    with torch.no_grad():
        for rho_value in rho_grid:
            mass_rho = osa.loc_stopping_mass(v_test, shapes, rho_value)
            labels_rho = osa.loc_labels(osa.observer_reconstruction(v_test, mass_rho[:, None, None] * shapes))
            clusters_by_rho.append((labels_rho.flatten(1).max(dim=1).values + 1).cpu().numpy())
    clusters_by_rho = np.array(clusters_by_rho)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(rho_grid, np.median(clusters_by_rho, axis=1), "o-", label="median over test images ($c_\\rho$, closed form)")
    ax.fill_between(rho_grid, np.quantile(clusters_by_rho, 0.1, axis=1), np.quantile(clusters_by_rho, 0.9, axis=1),
                    alpha=0.3, label="10-90% of test images")
    ax.plot([rho] * 3, np.quantile(n_loc_clusters, [0.1, 0.5, 0.9]), "k_", ms=14, mew=2, label="trained LOC (10/50/90%)")
    ax.set(xscale="log", xlabel="lower bound $\\rho$ (Eq. 21)", ylabel="clusters per image")
    ax.legend(fontsize=8)
    run.savefig(fig, "loc_rho")
    plt.show()
    print("median clusters per test image by rho:", dict(zip(rho_grid, np.median(clusters_by_rho, axis=1).tolist())))


# %% [markdown]
# ## 3. Results beside the paper
#
# Read back from the results registry. Our rows are on the stand-in data and have no paper value beside
# them on purpose; the paper's Oxford-102 numbers stay under `flowers102_seg` on the Results page.

# %%
# NBVAL_IGNORE_OUTPUT
mine = [r for r in results.table(profiles=(run.profile,)) if r["notebook"] == "01b_local_observer_convolution" and r["ours"]
        and r["ours"]["profile"] == run.profile]
print(results.format_table(mine))

# %% [markdown]
# **Reading the numbers.** Every number below is this run's (glued from the cells above); the paper's
# are typed.
#
# *Derivations.* The LOC pieces check out under our reading: the exact two-way partition and its
# spectral bound (Eq. 17), the delta kernel that the bound $\rho$ forbids, the batch gate of Eq. 21, and
# the closed form $c_\rho$ through which $\rho$ sets the kernel's mass and with it the number of clusters.
#
# *Table 2.* On the stand-in data, read the orderings only. Under the reading of Section 1 LOC trains: the
# epoch-mean loss fell from {glue:text}`loc_loss_first:.2f` to {glue:text}`loc_loss_last:.2f`, the gate was
# closed for every batch in {glue:text}`loc_closed_epochs:d` of the {glue:text}`loc_epochs:d` epochs, and the
# median kernel mass fell from {glue:text}`loc_mass_before:.2f` (training images, at initialisation) to
# {glue:text}`loc_mass_median:.2f` on the test images, against {glue:text}`loc_closed_form_mass_median:.2f` that
# the closed form of Section 1 gives a uniform kernel; the test images got {glue:text}`loc_clusters_median:d` clusters (from
# {glue:text}`loc_clusters_min:d` to {glue:text}`loc_clusters_max:d`), and the number follows $\rho$ as the paper
# says (figure above). What LOC segments is a brightness quantisation: the image blurred, scaled by its
# mass and rounded. The paper's rule then calls the brighter half of the pixels the flower
# ({glue:text}`fg_share_loc:.0%` of the pixels foreground, whole clusters; the true masks have
# {glue:text}`fg_share_true:.0%`): pixel accuracy {glue:text}`t2_loc_pixel_acc:.1%`, IoU {glue:text}`t2_loc_iou:.1%`,
# Dice {glue:text}`t2_loc_dice:.1%`. The distinct-label median keeps only the top level(s)
# ({glue:text}`fg_share_loc_distinct_median:.0%` foreground): {glue:text}`t2_loc_distinct_median_pixel_acc:.1%` /
# {glue:text}`t2_loc_distinct_median_iou:.1%` / {glue:text}`t2_loc_distinct_median_dice:.1%`. The binary numbers
# thus measure the binarisation rule as much as LOC's clustering.
#
# *What training adds.* The uniform kernel with each image's trained mass scores
# {glue:text}`t2_loc_uniform_kernel_pixel_acc:.1%` / {glue:text}`t2_loc_uniform_kernel_iou:.1%` /
# {glue:text}`t2_loc_uniform_kernel_dice:.1%`: the trained *shape* adds {glue:text}`t2_training_gain_iou:+.1%`
# IoU ({glue:text}`t2_training_gain_pixel_acc:+.1%` pixel accuracy). The uniform kernel with the closed-form
# mass, nothing trained at all, scores {glue:text}`t2_loc_uniform_closed_form_pixel_acc:.1%` /
# {glue:text}`t2_loc_uniform_closed_form_iou:.1%` / {glue:text}`t2_loc_uniform_closed_form_dice:.1%`
# ({glue:text}`t2_training_gain_closed_iou:+.1%` IoU for training). Under our reading, with a kernel of side
# $S/32$ and a rule that ranks pixels by blurred brightness, a learned shape has little room to matter:
# the mass, which $\rho$ sets and the closed form predicts without training, decides the quantisation,
# and the ranking decides the mask. The k-means baseline on standardised colours scored {glue:text}`t2_kmeans_pixel_acc:.1%` /
# {glue:text}`t2_kmeans_iou:.1%` / {glue:text}`t2_kmeans_dice:.1%`; the paper's claim (LOC above k-means, IoU
# 61.93 vs 52.23) should be judged on these rows, and its k-means row is far below ours, so how k-means is
# run matters as much as LOC. Since our LOC rests on several guesses (the kernel's role, the pixel scale,
# the labels, the binarisation), this is evidence about our reading as much as about LOC, and Oxford-102
# itself was not available.
#
# ## Exercise
#
# ```{exercise}
# :label: ex-osa-rho
#
# Under our reading a larger $\rho$ gives more clusters. Using the closed form $c_\rho$ of Section 1 and
# assuming $\overline{v^2} = 0.2$, $c^* = 1$ and $e_{\min} = 0$, predict the number of clusters for
# $\rho \to 0$, $\rho = 0.5$ and $\rho = 2$, and the brightness above which each binarisation (the paper's
# rank rule and the distinct-label median) calls a pixel foreground. Then retrain LOC for a few epochs with
# $\rho = 2$ and compare with the figure of Section 2. Does $\rho$ change the *binary* masks much?
# ```
#
# ````{solution} ex-osa-rho
# :class: dropdown
#
# $c_\rho \approx 1 + \sqrt{\rho / 0.2}$. For $\rho \to 0$, $c \approx 1$: blurred pixels in $[0, 1]$ round to 0
# or 1, two clusters. For $\rho = 0.5$, $c \approx 2.6$: labels 0-2 (sometimes 3). For $\rho = 2$,
# $c \approx 4.2$: labels 0-4. The distinct-label median makes the labels above the middle label foreground:
# brightness above 0.5 (two labels), $1.5 / 2.6 \approx 0.58$ and $2.5 / 4.2 \approx 0.60$: near the middle of
# the brightness range whatever $\rho$ is. The rank rule cuts at the label boundary nearest the image's
# median pixel, so its threshold is near each image's *median* blurred brightness, and a larger $\rho$
# (finer levels) only lets it get closer to exactly half the pixels. Either way $\rho$ sets how finely LOC
# quantises (the multi-class segmentation of Fig. 10) but hardly moves the binary mask. Retraining with
# $\rho = 2$ stops earlier (larger mass) and shows more clusters per image, as `onestage.loc_stopping_mass`
# predicts; nothing here needs the masks.
# ````
