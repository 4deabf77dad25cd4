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
# # One stage autoencoders: the Autoclave RBM and the Local Observer Convolution
#
# An anonymous ICLR 2022 submission {cite:p}`oneStageAE2022` contrasts restricted Boltzmann
# machines, whose reconstruction reuses the encoder's weights (*parameter-load*), with autoencoders,
# whose decoder has weights of its own (*parameter-stress*). From that contrast it builds two models
# trained end to end by backpropagation: the **Autoclave RBM (ACRBM)**, a softmax layer trained without
# any reconstruction term to make a batch's hidden states one-hot and mutually orthogonal, which
# clusters MNIST; and the **Local Observer Convolution (LOC)**, a network that predicts a convolution
# kernel per image and segments flowers with a number of clusters of its own choosing.
#
# The paper is terse, and the text we work from garbles most formulas. We state every reading we make
# and why, check each derivation numerically, and rerun Tables 1 and 2.
#
# **What you will be able to do:** count the parameters of tied and untied models; show why a tied
# linear autoencoder wants semi-orthogonal weights; derive what the ACRBM objective rewards and when
# it is zero; implement LOC from its description; and read Table 1 critically (which accuracy, which
# restarts, which selection).
#
# **Notation.** Rows are samples: $v \in [0,1]^{m \times D}$ is a batch of $m$ images,
# $W \in \mathbb{R}^{D \times n}$ the weights, $h \in [0,1]^{m \times n}$ the hidden states,
# $\hat v$ the reconstruction. This is the paper's convention ($h = vW$), transposed with respect to
# the book's [notation](../book/notation.md).

# %% tags=["parameters"]
import os

profile = os.environ.get("CLUSTUTILS_PROFILE", "cpu")  # smoke | cpu | gpu | full
seed = 0
device = None  # None: CUDA when available, else the CPU
data_root = None  # None: $CLUSTUTILS_DATA, else ~/.cache/clustutils/data
save_figures = False

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
import torch.nn.functional as F
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from clustutils import metrics, results
from clustutils.papers import ch01_onestage as osa
from clustutils.data import DatasetNotFoundError, load
from clustutils.kmeans import kmeans
from clustutils.notebook import start
from clustutils.plotting import image_grid
from clustutils.train import batched, fit, seed_everything

run = start("01_one_stage_autoencoders", profile, seed=seed, device=device, data_root_dir=data_root,
            save_figures=save_figures)
settings = run.settings(osa.BUDGET)  # the paper's settings with this profile's stated deviations (table below)
generator = torch.Generator().manual_seed(run.seed)

# %% [markdown]
# ## 1. Parameter-load and parameter-stress (Eqs. 1-6)
#
# Both models infer the hidden state the same way, $h = \sigma_h(vW + b_h)$ (Eq. 1). They differ in
# how they predict the visible state:
#
# $$\text{RBM: } \hat v = \sigma_v(h W^\top + b_v) \quad (2), \qquad
#   \text{AE: } \hat v = \sigma_v(h \beta + b_v) \quad (3).$$
#
# Dropping biases and nonlinearities leaves $h = vW$ (4) with $\hat v = hW^\top$ (5) or $\hat v = h\beta$ (6).
# In the RBM the single matrix $W$ has to serve both steps (the paper calls it *loaded*); the AE has a
# free $\beta$ for the second step (*stressed*). With $D$ visible and $n$ hidden units the RBM has
# $Dn + n + D$ parameters and the AE $2Dn + n + D$. The check builds both in torch, counts, and confirms
# that the AE with $\beta = W^\top$ is the RBM's mean-field reconstruction.

# %%
# NBVAL_CHECK_OUTPUT
D, n_hidden = 784, 30
W_load = torch.nn.Parameter(torch.randn(D, n_hidden, generator=generator) * 0.01)
b_h, b_v = torch.nn.Parameter(torch.zeros(n_hidden)), torch.nn.Parameter(torch.zeros(D))
beta = torch.nn.Parameter(torch.randn(n_hidden, D, generator=generator) * 0.01)
rbm_count = sum(p.numel() for p in (W_load, b_h, b_v))
ae_count = rbm_count + beta.numel()
assert rbm_count == D * n_hidden + n_hidden + D and ae_count == 2 * D * n_hidden + n_hidden + D

v = torch.rand(5, D, generator=generator)
h = torch.sigmoid(v @ W_load + b_h)  # Eq. 1
rbm_rec = torch.sigmoid(h @ W_load.T + b_v)  # Eq. 2
ae_rec = torch.sigmoid(h @ W_load.detach().T.clone() + b_v)  # Eq. 3 with beta = W^T
assert torch.allclose(rbm_rec, ae_rec)
print(f"D={D}, n={n_hidden}: RBM (load) {rbm_count} parameters = Dn+n+D; AE (stress) {ae_count} = 2Dn+n+D")

# %% [markdown]
# ## 2. The tied linear model wants semi-orthogonal weights (Eq. 7)
#
# Substituting (4) into (5) gives $\hat v = v\,WW^\top$ (Eq. 7). The extraction prints the condition
# for an optimal reconstruction as "$WW^\top = I$"; taken literally that is impossible for $n < D$
# ($WW^\top$ has rank $n$). **Our reading:** the best rank-$n$ reconstruction of centred data is the
# orthogonal projection onto the top-$n$ principal subspace (Eckart-Young), so at the optimum
# $WW^\top$ *is that projection*, which holds exactly when $W^\top W = I_n$ (semi-orthogonal $W$) and the
# columns of $W$ span the principal subspace. The untied model $\hat v = vW\beta$ reaches the same
# error with any invertible $A$: $(WA)(A^{-1}\beta)$, so nothing pins its $W$ to be orthogonal.
#
# The check takes $W$ = the top-$n$ principal directions of 2,000 centred MNIST digits and verifies:
# the error equals the sum of the discarded eigenvalues, the gradient of the tied loss vanishes there,
# a scaled $W$ is worse, and the untied loss is unchanged by $W \to WA$, $\beta \to A^{-1}\beta$.

# %%
# NBVAL_CHECK_OUTPUT
train_set, test_set = load("mnist", "train", root=run.data_root), load("mnist", "test", root=run.data_root)
small = torch.tensor(train_set.features()[:2000], dtype=torch.float64)
centred = small - small.mean(0)
eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / len(centred))
n_pc = 30
W_pca = eigenvectors[:, -n_pc:].clone().requires_grad_(True)


def tied_error(W):
    return ((centred - centred @ W @ W.T) ** 2).sum(1).mean()


error = tied_error(W_pca)
(gradient,) = torch.autograd.grad(error, W_pca)
assert torch.isclose(error, eigenvalues[:-n_pc].sum(), rtol=1e-8)
assert gradient.abs().max() < 1e-8
assert torch.allclose(W_pca.T @ W_pca, torch.eye(n_pc, dtype=torch.float64), atol=1e-10)
assert tied_error(1.1 * W_pca.detach()) > error and tied_error(0.9 * W_pca.detach()) > error
A = torch.randn(n_pc, n_pc, generator=generator, dtype=torch.float64) + 3 * torch.eye(n_pc, dtype=torch.float64)
untied = ((centred - centred @ (W_pca.detach() @ A) @ (torch.linalg.inv(A) @ W_pca.detach().T)) ** 2).sum(1).mean()
assert torch.isclose(untied, error, rtol=1e-8)
print(f"n={n_pc}: tied optimum = PCA projection, W^T W = I, error = sum of discarded eigenvalues, gradient 0;")
print("untied: (W A, A^-1 beta) has the same error for any invertible A, so W need not be orthogonal")

# %% [markdown]
# Does gradient descent find this? We train a tied ($\hat v = vWW^\top$) and an untied
# ($\hat v = vW\beta$) linear autoencoder on centred MNIST digits with Adam and measure
# $\lVert W^\top W - I\rVert_F / \sqrt n$, the error relative to the PCA optimum, and the largest principal
# angle between the span of $W$ and the principal subspace, on the first {glue:text}`n_linear:,d` training
# digits for {glue:text}`linear_epochs:d` epochs (batch 256, learning rate $10^{-3}$; this study is ours, not
# the paper's).

# %%
# NBVAL_IGNORE_OUTPUT
n_linear = run.glue("n_linear", settings.n_linear)
linear_epochs = run.glue("linear_epochs", settings.linear_epochs)
x_lin = torch.tensor(train_set.features()[:n_linear])
x_lin = x_lin - x_lin.mean(0)
pca_lin = PCA(n_pc).fit(x_lin.numpy())
pca_error = float(((x_lin.numpy() - pca_lin.inverse_transform(pca_lin.transform(x_lin.numpy()))) ** 2).sum(1).mean())


class LinearAE(torch.nn.Module):
    def __init__(self, tied):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(784, n_pc) * 0.01)
        self.beta = None if tied else torch.nn.Parameter(torch.randn(n_pc, 784) * 0.01)

    def forward(self, x):
        return x @ self.W @ (self.W.T if self.beta is None else self.beta)


linear_models, linear_report = {}, {}
for name in ("tied", "untied"):
    seed_everything(run.seed)
    model = LinearAE(name == "tied")
    fit(model, lambda m, xb: ((m(xb) - xb) ** 2).sum(1).mean(), (x_lin,), epochs=linear_epochs, batch_size=256,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), seed=run.seed, desc=f"linear {name}")
    with torch.no_grad():
        W = model.W.detach()
        err = float(((model(x_lin) - x_lin) ** 2).sum(1).mean())
        basis = torch.linalg.qr(W).Q
        cosines = torch.linalg.svdvals(basis.T @ torch.tensor(pca_lin.components_.T))
    linear_models[name] = model
    linear_report[name] = {"orth": float(torch.linalg.norm(W.T @ W - torch.eye(n_pc)) / np.sqrt(n_pc)),
                           "excess": err / pca_error - 1,
                           "angle": float(torch.rad2deg(torch.arccos(cosines.min().clamp(max=1))))}
    singular = torch.linalg.svdvals(W)
    linear_report[name].update(sv_min=float(singular.min()), sv_max=float(singular.max()))
    for key, value in linear_report[name].items():
        run.glue(f"linear_{name}_{key}", value)
    print(f"{name:7s} ||W^T W - I||/sqrt(n) = {linear_report[name]['orth']:.3f}  "
          f"error / PCA error - 1 = {linear_report[name]['excess']:.3f}  largest principal angle {linear_report[name]['angle']:.1f} deg  "
          f"singular values {linear_report[name]['sv_min']:.3f}-{linear_report[name]['sv_max']:.3f}")

# %% [markdown]
# In this run the tied model ended with $\lVert W^\top W - I\rVert_F/\sqrt n =$ {glue:text}`linear_tied_orth:.3f`,
# an error {glue:text}`linear_tied_excess:.1%` above the PCA optimum and singular values between
# {glue:text}`linear_tied_sv_min:.3f` and {glue:text}`linear_tied_sv_max:.3f`; the untied model ended
# {glue:text}`linear_untied_excess:.1%` above PCA with $\lVert W^\top W - I\rVert_F/\sqrt n =$
# {glue:text}`linear_untied_orth:.3f` and singular values between {glue:text}`linear_untied_sv_min:.3f` and
# {glue:text}`linear_untied_sv_max:.3f`. When both errors are close to the optimum and only the tied model's
# singular values sit at 1, Eq. 7's point holds: tying the weights, not the error, forces
# semi-orthogonality. (In `smoke` neither model has converged.)

# %% mystnb={"figure": {"caption": "Singular values of the encoder weights W (784 x 30) of a tied and an untied linear autoencoder trained on centred MNIST, against the value 1 that a semi-orthogonal W has. The tied model's singular values gather at 1 (Eq. 7); the untied model's are free, because only the product W beta is determined.", "name": "fig-osa-linear-spectrum"}}
fig, ax = plt.subplots(figsize=(6, 3))
for name, model in linear_models.items():
    ax.plot(torch.linalg.svdvals(model.W.detach()).numpy(), "o-", ms=3, label=name)
ax.axhline(1, color="0.5", lw=0.8, ls="--", label="semi-orthogonal")
ax.set(xlabel="index of singular value", ylabel="singular value of W", yscale="log")
ax.legend()
run.savefig(fig, "linear_spectrum")
plt.show()

# %% [markdown]
# ## 3. The Autoclave RBM (Eqs. 8-16)
#
# The ACRBM keeps the RBM's tied, bias-free reconstruction but never trains on it:
#
# $$h = \operatorname{softmax}(vW + b_h) \quad (8), \qquad \hat v = \sigma(hW^\top) \quad (9).$$
#
# **Where the objective comes from (Eqs. 10-12).** If $\sigma_v$ is invertible, an exact reconstruction
# $v^*$ satisfies $hW^\top = \sigma^{-1}(v^*)$; multiplying each side by its own transpose,
# $W (h^\top h) W^\top = \sigma^{-1}(v^*)^\top \sigma^{-1}(v^*)$. When the batch's states are orthonormal,
# $h^\top h = I$, this reduces to $WW^\top = \sigma^{-1}(v^*)^\top\sigma^{-1}(v^*)$: the weights alone
# carry the data's second moments. In general (Eq. 16) $D = h^\top h$ sits in the middle.
#
# **The objective (Eqs. 13-14), our reading of the garbled formula.** With $u = h^\top h \in \mathbb{R}^{n\times n}$
# the Gram matrix of the hidden units over a batch of $m$ samples,
#
# $$\eta_i = \frac{u_{ii}}{\sum_{j=1}^{n} u_{ij}}, \qquad \mathcal{L} = -\frac1n \sum_{i=1}^n \log \eta_i .$$
#
# The extraction shows a ratio with $\sum_{j=1}^n u_j$ in the denominator, "for $i = 1..n$", and
# "$\min -\frac1n\sum \log(\operatorname{diag}(\eta))$"; the row-normalised diagonal is the reading
# under which $\operatorname{diag}$ and $\log$ make sense.
#
# **What it rewards.** Because softmax rows sum to one, $\sum_j u_{ij} = \sum_b h_{bi}\sum_j h_{bj} = \sum_b h_{bi}$, so
#
# $$\eta_i = \frac{\sum_b h_{bi}^2}{\sum_b h_{bi}},$$
#
# the average activation of unit $i$, weighted by that same activation: the *confidence* of unit $i$.
# Since $h_{bi}^2 \le h_{bi}$, $\eta_i \le 1$ and $\mathcal L \ge 0$, with equality exactly when every
# $h_{bi} \in \{0, 1\}$: **the objective is zero exactly when the batch's hidden states are one-hot**,
# and one-hot rows are orthogonal unless they pick the same unit; then $u$ is diagonal. A unit that no
# sample uses has $\eta_i \to 0$ and $\mathcal L \to \infty$, so the objective also forbids dead clusters:
# the balance term of other clustering losses comes for free. Eq. 15's probabilistic reading fits:
# $\eta_i$ is the probability that a second draw from the hidden distribution lands on $t_i$ given that
# the first did (no transition), and $1 - \eta_i$ the probability of a transition.
#
# The check verifies the identity, the bounds, the zero at one-hot states, the blow-up for a dead unit,
# and Eqs. 11-12 for an orthonormal batch.

# %%
# NBVAL_CHECK_OUTPUT
h_soft = torch.softmax(3 * torch.randn(64, 10, generator=generator, dtype=torch.float64), dim=1)
u = h_soft.T @ h_soft
assert torch.allclose(u.sum(1), h_soft.sum(0), atol=1e-12)
eta = osa.acrbm_eta(h_soft)
assert torch.allclose(eta, (h_soft**2).sum(0) / h_soft.sum(0), atol=1e-10)
assert bool((eta < 1).all()) and float(osa.acrbm_loss(h_soft)) > 0

one_hot = F.one_hot(torch.arange(64) % 10, 10).double()
assert abs(float(osa.acrbm_loss(one_hot))) < 1e-9 and osa.offdiagonal_fraction(one_hot) == 0.0
sharper = [float(osa.acrbm_loss(torch.softmax(t * (one_hot - 0.5), 1))) for t in (1, 4, 16)]
assert sharper[0] > sharper[1] > sharper[2] > 0  # the loss falls as the states approach one-hot

dead = torch.softmax(8 * (F.one_hot(torch.arange(64) % 9, 10).double() - 0.5), 1)  # unit 9 never used
assert float(osa.acrbm_loss(dead)) > 10 * float(osa.acrbm_loss(torch.softmax(8 * (one_hot - 0.5), 1)))

W_acrbm = torch.randn(D, 10, generator=generator, dtype=torch.float64)
h_orth = torch.eye(10, dtype=torch.float64)  # a batch of 10 orthonormal states: h^T h = I
lhs = (h_orth @ W_acrbm.T).T @ (h_orth @ W_acrbm.T)  # Eq. 11
assert torch.allclose(lhs, W_acrbm @ W_acrbm.T)  # Eq. 12
print("eta_i = sum h_bi^2 / sum h_bi <= 1; loss >= 0, = 0 exactly for one-hot states; dead units blow it up;")
print("for h^T h = I, (h W^T)^T (h W^T) = W W^T (Eqs. 11-12)")

# %% [markdown]
# ## 4. Table 1: clustering MNIST
#
# **Protocol.** Train on the 60,000 training digits, report on the 10,000 test digits; the cluster of
# a digit is its most active hidden unit. The paper maps clusters to labels by minimum cluster entropy,
# which is majority vote (each cluster gets its most frequent label); that is the accuracy in Table 1
# (`majority_acc` here). Majority vote never decreases when clusters are split (a refinement), and
# more clusters usually score higher even when they are not a refinement, which flatters the
# 30-cluster rows; so we also report Hungarian accuracy (`acc`, one cluster per label) and NMI.
#
# **Settings (Table 3).** Shallow ACRBM: Adam with $\beta_1 = 0.01$, $\beta_2 = 0.999$, learning rate
# $10^{-2}$, 20 epochs, batch 256. AE + ACRBM: Adam $\beta_1 = 0.05$ (0.1 for 30 clusters), learning
# rate $10^{-3}$, batch 256, 500 epochs. Pixels in $[0, 1]$. This profile's reductions are in the
# deviations table at the top of the chapter.
#
# **Architecture (Appendix B), our reading.** The text says the encoder and decoder have "two convolution
# layers", but Table 3 lists units (Encoder = 100, Latent = 90, Decoder = 100) and the parameter counts
# of Table 1 (+197K, +850K, +200K) are those of *dense* layers: $784 \to 100 \to 100 \to 90$ (linear code),
# a softmax ACRBM layer on the code, and a decoder $[\text{code}, h] \to 100 \to 100 \to 784$ gives
# 197,984 parameters; the 300-unit version gives 850,714; the AE + k-means network (code 100, the ACRBM
# replaced by 10 ReLU units) 200,094. Convolutions would not give these numbers, so we use dense layers.
# The sigmoid output is our choice.
#
# **Which term trains what: end to end (the paper's reading).** The abstract says both frameworks are
# "trained via direct backpropagation (end-to-end training)", and Fig. 11 merges $h_{AE}$ and $h_{ACRBM}$
# into the decoder. So the model is one network with the loss
#
# $$\mathcal L = \operatorname{MSE}(v, \hat v) + \lambda\, \mathcal L_{ACRBM}(h_{ACRBM}),$$
#
# whose gradients reach everything: the reconstruction trains the ACRBM layer through $h_{ACRBM}$, and the
# ACRBM term trains the encoder (`AEACRBM(coupling="joint")`). Section 3.1's "ACRBMs have been trained
# without considering a reconstruction criterion" we read as a statement about the ACRBM *objective*
# (Eq. 14 has no reconstruction term), not as a rule that blocks gradients.
#
# **The weight $\lambda$ is not in the paper**, and it matters. Against the MSE averaged over the 784 pixels
# the ACRBM term with $\lambda = 1$ dominates: the encoder can satisfy it by scaling its linear code up
# until the softmax saturates (one-hot states for whatever partition the code has), which the spread of
# the code shows without any label. We take $\lambda = 1/784$ (`acrbm_weight`, our choice): under Adam,
# which ignores a constant factor on the loss (up to its $\epsilon$), this trains like the per-sample
# *summed* squared error plus the ACRBM term with weight 1, i.e. both terms per sample. We log the code's standard
# deviation at the start and the end of every run as a saturation check, and run $\lambda = 1$ as a variant
# to see the check fire.
#
# **A variant: separate training.** Our earlier reading took the Section 3.1 sentence as a routing of
# gradients: the ACRBM layer trained by its objective alone on the code as the autoencoder makes it, the
# autoencoder by the reconstruction alone (code detached at the ACRBM's input, states at the decoder's
# input; `coupling="separate"`). Then the ACRBM part never shapes the code. It stays in the table as a
# variant (under Adam $\lambda$ does not change it: each part sees one term).
#
# **AE + k-means: two selections.** The paper runs 500 k-means initialisations on the codes and keeps "the
# one that achieved the maximum accuracy", i.e. it selects with the test labels. We run the restarts of the
# deviations table and report both selections from the same restarts: the lowest inertia (what k-means
# itself keeps, no labels; `ae_kmeans_inertia`) and the highest majority-vote accuracy (the paper's
# protocol, **uses the labels**; `ae_kmeans`, the row the paper's number sits beside).

# %%
n_train, n_test, seeds = settings.n_train, settings.n_test, list(settings.seeds)
x_train = torch.tensor(train_set.features()[:n_train], device=run.device)
x_test = torch.tensor(test_set.features()[:n_test], device=run.device)
y_test = test_set.labels[:n_test]


def scores(labels):
    return {"majority_acc": metrics.majority_acc(y_test, labels), "acc": metrics.cluster_acc(y_test, labels),
            "nmi": metrics.nmi(y_test, labels)}


def clusters_of(model, x):
    with torch.no_grad():
        h = model(x) if isinstance(model, osa.ACRBM) else model(x)[1]
    return h.argmax(1).cpu().numpy(), h

# %% [markdown]
# **k-means on pixels** (the paper's first row) clusters the test digits directly.

# %%
# NBVAL_IGNORE_OUTPUT
table1 = {}
pixel_kmeans = kmeans(x_test, 10, n_init=settings.pixel_restarts, seed=run.seed)
table1["kmeans"] = [scores(pixel_kmeans.labels)]
print("k-means on pixels:", {k: round(v, 4) for k, v in table1["kmeans"][0].items()})

# %% [markdown]
# **Shallow ACRBM**: one softmax layer on the pixels, trained only with the ACRBM objective. We record
# how far $D = h^\top h$ is from diagonal (the share of its mass off the diagonal) after every epoch, the
# quantity Eq. 16 says should vanish.

# %%
# NBVAL_IGNORE_OUTPUT
shallow_models, offdiag_history = {}, {}


def offdiagonal_share(model):
    with torch.no_grad():
        return osa.offdiagonal_fraction(model(x_test[:2048]))


for n_clusters in (10, 30):
    table1[f"acrbm_shallow_{n_clusters}"] = []
    for s in seeds:
        seed_everything(s)
        model = osa.ACRBM(784, n_clusters).to(run.device)
        history = [offdiagonal_share(model)]  # at initialisation
        fit(model, lambda m, xb: m.loss(xb), (x_train,), epochs=settings.shallow_epochs, batch_size=settings.batch_size,
            seed=s, optimizer=torch.optim.Adam(model.parameters(), lr=settings.shallow_lr, betas=(settings.shallow_beta1, 0.999)),
            on_epoch_end=lambda e, loss: history.append(offdiagonal_share(model)),
            desc=f"shallow ACRBM {n_clusters} seed {s}")
        labels, _ = clusters_of(model, x_test)
        table1[f"acrbm_shallow_{n_clusters}"].append(scores(labels))
        shallow_models[(n_clusters, s)], offdiag_history[(n_clusters, s)] = model, history
    print(f"shallow ACRBM {n_clusters}:", {k: round(float(np.mean([r[k] for r in table1[f'acrbm_shallow_{n_clusters}']])), 4)
                                           for k in ("majority_acc", "acc", "nmi")})

# %% [markdown]
# **AE + ACRBM** (Appendix B): end to end with $\lambda$ = `acrbm_weight` (the rows beside the paper's), and
# with 10 clusters the two variants, separate training and end to end with $\lambda = 1$. Each run prints
# the code's standard deviation on the test digits before and after training (the saturation check).

# %%
# NBVAL_IGNORE_OUTPUT
ae_shapes = {10: dict(encoder=100, latent=90, decoder=100), 30: dict(encoder=300, latent=300, decoder=300)}
ae_runs = {  # row: (clusters, coupling, weight, seeds)
    "ae_acrbm_10": (10, settings.coupling, settings.acrbm_weight, seeds),
    "ae_acrbm_30": (30, settings.coupling, settings.acrbm_weight, seeds),
    "ae_acrbm_10_separate": (10, "separate", settings.acrbm_weight, list(settings.variant_seeds)),
    "ae_acrbm_10_joint_weight1": (10, "joint", 1.0, list(settings.variant_seeds)),
}
code_std, smallest = {}, {}
for row, (n_clusters, coupling, weight, row_seeds) in ae_runs.items():
    table1[row], code_std[row], smallest[row] = [], [], []
    for s in row_seeds:
        seed_everything(s)
        model = osa.AEACRBM(784, n_clusters, **ae_shapes[n_clusters], weight=weight, coupling=coupling).to(run.device)
        spread_before = osa.code_spread(model, x_test)
        fit(model, lambda m, xb: m.loss(xb), (x_train,), epochs=settings.ae_epochs[n_clusters], batch_size=settings.batch_size,
            seed=s, optimizer=torch.optim.Adam(model.parameters(), lr=settings.ae_lr, betas=(settings.ae_beta1[n_clusters], 0.999)),
            desc=f"{row} seed {s}")
        labels, _ = clusters_of(model, x_test)
        table1[row].append(scores(labels))
        code_std[row].append((spread_before, osa.code_spread(model, x_test)))
        smallest[row].append(int(np.bincount(labels, minlength=n_clusters).min()))  # 0: a dead unit
    before, after = np.mean(code_std[row], axis=0)
    run.glue(f"{row}_code_std_before", before)
    run.glue(f"{row}_code_std_after", after)
    run.glue(f"{row}_smallest_cluster", min(smallest[row]))
    print(f"{row} ({coupling}, weight {weight:.4g}): code std {before:.2f} -> {after:.2f}; "
          f"smallest cluster {min(smallest[row])} test digits;",
          {k: round(float(np.mean([r[k] for r in table1[row]])), 4) for k in ("majority_acc", "acc", "nmi")})

# %%
# NBVAL_IGNORE_OUTPUT
seed_everything(run.seed)
ae_km = osa.AEKMeans().to(run.device)
fit(ae_km, lambda m, xb: m.loss(xb), (x_train,), epochs=settings.ae_kmeans_epochs, batch_size=settings.batch_size,
    seed=run.seed, optimizer=torch.optim.Adam(ae_km.parameters(), lr=settings.ae_lr, betas=(settings.ae_beta1[10], 0.999)),
    desc="AE for k-means")
with torch.no_grad():
    codes = ae_km(x_test)[0].cpu().numpy()
selections = osa.kmeans_selections(codes, y_test, 10, n_init=settings.restarts, seed=run.seed)
table1["ae_kmeans"] = [scores(selections["accuracy"]["labels"])]
table1["ae_kmeans_inertia"] = [scores(selections["inertia"]["labels"])]
for name, selection in selections.items():
    print(f"AE + k-means, restart kept by {name} (restart {selection['restart']}, inertia {selection['inertia']:.0f}):",
          {k: round(v, 4) for k, v in scores(selection["labels"]).items()})

# %%
# NBVAL_IGNORE_OUTPUT
parameters = {"kmeans": None, "ae_kmeans": osa.count_parameters(osa.AEKMeans()),
              "acrbm_shallow_10": osa.count_parameters(osa.ACRBM(784, 10)),
              "acrbm_shallow_30": osa.count_parameters(osa.ACRBM(784, 30)),
              **{row: osa.count_parameters(osa.AEACRBM(784, spec[0], **ae_shapes[spec[0]])) for row, spec in ae_runs.items()}}
parameters["ae_kmeans_inertia"] = parameters["ae_kmeans"]
paper_parameters = {"kmeans": "-", "ae_kmeans": "+200K", "ae_kmeans_inertia": "+200K", "acrbm_shallow_10": "+23K",
                    "acrbm_shallow_30": "+23K", "ae_acrbm_10": "+197K", "ae_acrbm_30": "+850K",
                    "ae_acrbm_10_separate": "+197K", "ae_acrbm_10_joint_weight1": "+197K"}
ae_note = "{} epochs (paper 500); dense layers from the parameter counts; "
notes = {"kmeans": f"k-means++ on test pixels, best inertia of {settings.pixel_restarts} restarts",
         "ae_kmeans": f"{settings.ae_kmeans_epochs} AE epochs (paper 500); of {settings.restarts} k-means++ restarts the one of "
                      "highest majority accuracy: SELECTED WITH THE TEST LABELS, as the paper (App. B)",
         "ae_kmeans_inertia": f"{settings.ae_kmeans_epochs} AE epochs; of {settings.restarts} k-means++ restarts the one of "
                              "lowest inertia (no labels)",
         "acrbm_shallow_10": f"{settings.shallow_epochs} epochs (Table 3)", "acrbm_shallow_30": f"{settings.shallow_epochs} epochs (Table 3)",
         "ae_acrbm_10": ae_note.format(settings.ae_epochs[10]) + f"end to end, ACRBM weight {settings.acrbm_weight:.4g} (ours)",
         "ae_acrbm_30": ae_note.format(settings.ae_epochs[30]) + f"end to end, ACRBM weight {settings.acrbm_weight:.4g} (ours)",
         "ae_acrbm_10_separate": ae_note.format(settings.ae_epochs[10]) + "VARIANT: ACRBM trained by its objective only, AE by reconstruction only",
         "ae_acrbm_10_joint_weight1": ae_note.format(settings.ae_epochs[10]) + "VARIANT: end to end, ACRBM weight 1 against the per-pixel MSE"}
paper_majority = {r["experiment"]: r["paper_value"] for r in results.paper_values()
                  if r["notebook"] == run.notebook and r["dataset"] == "mnist" and r["metric"] == "majority_acc"}
print(f"{'row':26s} {'params (ours / paper)':>22s}   majority ACC (paper)     Hungarian ACC    NMI")
for row, runs in table1.items():
    row_seeds = ae_runs[row][3] if row in ae_runs else seeds if row.startswith("acrbm") else [run.seed]
    for metric in ("majority_acc", "acc", "nmi"):
        values = [r[metric] for r in runs]
        std = float(np.std(values)) if len(values) > 1 else None
        run.glue(f"{row}_{metric}", float(np.mean(values)))
        run.glue(f"{row}_{metric}_std", float(np.std(values)))
        run.record(row, "mnist", metric, float(np.mean(values)), std=std, seeds=row_seeds,
                   note=f"{n_train} train / {n_test} test digits; " + notes[row])
    maj, acc, nmi_ = (np.array([r[k] for r in runs]) for k in ("majority_acc", "acc", "nmi"))
    paper = paper_majority.get(row)
    print(f"{row:26s} {str(parameters[row] or '-'):>10s} / {paper_parameters[row]:>6s}   "
          f"{100 * maj.mean():5.2f} ± {100 * maj.std():4.2f} ({100 * float(paper) if paper else float('nan'):5.2f})   "
          f"{100 * acc.mean():5.2f} ± {100 * acc.std():4.2f}   {nmi_.mean():.3f}")
run.glue("n_seeds", len(seeds))
run.glue("n_variant_seeds", len(settings.variant_seeds))
run.glue("ae_epochs_10", settings.ae_epochs[10])
run.glue("ae_epochs_30", settings.ae_epochs[30])
run.glue("restarts", settings.restarts)
run.glue("ae_kmeans_selection_gain", table1["ae_kmeans"][0]["majority_acc"] - table1["ae_kmeans_inertia"][0]["majority_acc"])

# %%
# NBVAL_IGNORE_OUTPUT
shallow_10 = np.mean([r["majority_acc"] for r in table1["acrbm_shallow_10"]])
verdict = "above" if shallow_10 > table1["kmeans"][0]["majority_acc"] else "NOT above"
print(f"shallow ACRBM (10) majority ACC {100 * shallow_10:.2f}% is {verdict} k-means on pixels "
      f"({100 * table1['kmeans'][0]['majority_acc']:.2f}%); the paper: 61.44% vs 57.32%")

# %% [markdown]
# The paper's parameter column is consistent with our dense reading for the AE rows. For the shallow
# rows it prints +23K for both 10 and 30 clusters; $784 \cdot 30 + 30 = 23{,}550$ is the 30-cluster
# model, and the 10-cluster model has only 7,850 parameters, so the first "+23K" is most likely a copy error.

# %% mystnb={"figure": {"caption": "How far D = h^T h is from diagonal during training of the shallow ACRBM on MNIST: the share of D's mass off the diagonal on 2,048 test digits at initialisation (epoch 0) and after every epoch, for 10 and 30 clusters and every seed. Eq. 16 says D becomes diagonal at the optimum; training drives the off-diagonal share towards zero.", "name": "fig-osa-offdiagonal"}}
fig, ax = plt.subplots(figsize=(6, 3))
for (n_clusters, s), history in offdiag_history.items():
    ax.plot(range(len(history)), history, color="C0" if n_clusters == 10 else "C1", alpha=0.8,
            label=f"{n_clusters} clusters" if s == seeds[0] else None)
ax.set(xlabel="epoch", ylabel="off-diagonal share of $h^T h$", yscale="log")
ax.legend()
run.savefig(fig, "offdiagonal")
plt.show()

# %% [markdown]
# The next check makes the expected behaviour part of the notebook. Every model starts from its random
# initialisation, whose states are close to uniform (off-diagonal share near $1 - 1/n$, $\eta_i$ and the
# largest activation of a digit near $1/n$); training must at least halve the off-diagonal share of $D$
# (Eq. 16) and bring both the mean $\eta$ and the mean largest activation above 0.5. A broken model fails
# it (we tried): with the sign of Eq. 14 flipped every digit ends in one unit, the share falls but $\eta$
# stays at $1/n$; with the softmax taken over the batch instead of the units the share and $\eta$ look
# fine, but no digit has a confident state.

# %%
# NBVAL_CHECK_OUTPUT
for key, history in offdiag_history.items():
    assert history[0] > 0.5, (key, history[0])  # the start is far from diagonal
    assert history[-1] < 0.5 * history[0], (key, history)
trained = shallow_models[(10, seeds[0])]
with torch.no_grad():
    h_trained = trained(x_test)
assert float(osa.acrbm_eta(h_trained).mean()) > 0.5
assert float(h_trained.max(1).values.mean()) > 0.5  # confident states, each digit's own
print("from a near-uniform start, training at least halves the off-diagonal share of D = h^T h for every model;")
print("mean eta and mean largest activation above 0.5")

# %% [markdown]
# ## 5. What the shallow ACRBM has learned (Figs. 5, 6, 8, 9)
#
# The paper varies the number of hidden units (= clusters) from 10 to 2,000 (20 epochs, Table 3). We train
# one shallow ACRBM per size with seed 0, for the sizes and epochs of `sweep_sizes` and `sweep_epochs` (the
# deviations table gives this profile's). The confidence of a digit is its largest hidden activation,
# averaged over the test set.

# %%
# NBVAL_IGNORE_OUTPUT
sweep = {}
for n_clusters in settings.sweep_sizes:
    seed_everything(run.seed)
    model = osa.ACRBM(784, n_clusters).to(run.device)
    fit(model, lambda m, xb: m.loss(xb), (x_train,), epochs=settings.sweep_epochs, batch_size=settings.batch_size,
        seed=run.seed, optimizer=torch.optim.Adam(model.parameters(), lr=settings.shallow_lr, betas=(settings.shallow_beta1, 0.999)),
        desc=f"sweep {n_clusters}")
    labels, h_test = clusters_of(model, x_test)
    sweep[n_clusters] = {"model": model, "labels": labels, "h": h_test.cpu(), **scores(labels),
                         "confidence": float(h_test.max(1).values.mean()), "used": len(np.unique(labels))}
    print(f"{n_clusters:5d} clusters ({sweep[n_clusters]['used']} used): majority {sweep[n_clusters]['majority_acc']:.3f}  "
          f"Hungarian {sweep[n_clusters]['acc']:.3f}  NMI {sweep[n_clusters]['nmi']:.3f}  confidence {sweep[n_clusters]['confidence']:.3f}")

# %% mystnb={"figure": {"caption": "After Figure 9 of the paper: shallow ACRBMs on MNIST with different numbers of hidden units (clusters), fewer epochs and sizes than the paper in the cpu profile. Left: test accuracy with majority-vote mapping (the paper's) and with Hungarian mapping (one cluster per digit, so clusters beyond 10 count as errors); right: the mean confidence (largest hidden activation). Majority vote cannot fall when clusters are split, Hungarian accuracy penalises extra clusters: the two answer different questions.", "name": "fig-osa-sweep"}}
fig, (ax_acc, ax_conf) = plt.subplots(1, 2, figsize=(9, 3))
sizes = list(sweep)
ax_acc.plot(sizes, [sweep[k]["majority_acc"] for k in sizes], "o-", label="majority vote (paper)")
ax_acc.plot(sizes, [sweep[k]["acc"] for k in sizes], "s-", label="Hungarian")
ax_acc.set(xscale="log", xlabel="number of clusters (hidden units)", ylabel="test accuracy")
ax_acc.legend()
ax_conf.plot(sizes, [sweep[k]["confidence"] for k in sizes], "o-", color="C2")
ax_conf.set(xscale="log", xlabel="number of clusters (hidden units)", ylabel="mean confidence max$_j h_j$")
run.savefig(fig, "sweep")
plt.show()

# %% mystnb={"figure": {"caption": "After Figure 5: MNIST test digits (top row of each panel) and their shallow ACRBM reconstructions sigmoid(h W^T) (bottom row), for the latent sizes trained in this run (the paper shows 30, 100 and 300). The model never trained on reconstruction; the reconstruction is the sigmoid of a softmax-weighted mix of weight columns, close to one prototype per digit.", "name": "fig-osa-reconstructions"}}
shown = [k for k in (30, 100, 300) if k in sweep] or sizes[:1]
picks = torch.randperm(len(x_test), generator=generator)[:10]
fig, axes = plt.subplots(len(shown), 1, figsize=(7, 1.5 * len(shown)), squeeze=False)
for ax, n_clusters in zip(axes[:, 0], shown):
    model = sweep[n_clusters]["model"]
    with torch.no_grad():
        rec = model.reconstruct(model(x_test[picks])).cpu()
    image_grid(torch.cat([x_test[picks].cpu(), rec]).reshape(-1, 28, 28).numpy(), ncols=10, ax=ax)
    ax.set_ylabel(f"n = {n_clusters}")
axes[-1, 0].set_xlabel("test digit (top) and reconstruction (bottom)")
run.savefig(fig, "reconstructions")
plt.show()

# %% mystnb={"figure": {"caption": "After Figure 6: nearest neighbours (Euclidean, among the test digits) in the shallow ACRBM's hidden space of the first column's query digit, in order of distance, for the largest trained latent sizes up to 300.", "name": "fig-osa-neighbours"}}
shown_nn = [k for k in (100, 300) if k in sweep] or sizes[-1:]
queries = picks[:4]
fig, axes = plt.subplots(len(shown_nn), 1, figsize=(7, 2.6 * len(shown_nn)), squeeze=False)
for ax, n_clusters in zip(axes[:, 0], shown_nn):
    h_all = sweep[n_clusters]["h"]
    distances = torch.cdist(h_all[queries], h_all)
    order = distances.argsort(1)[:, :8]  # the query itself first
    image_grid(x_test.cpu()[order.flatten()].reshape(-1, 28, 28).numpy(), ncols=8, ax=ax)
    ax.set_ylabel(f"n = {n_clusters}")
axes[-1, 0].set_xlabel("query (first column), then its 7 nearest neighbours in the hidden space")
run.savefig(fig, "neighbours")
plt.show()

# %% mystnb={"figure": {"caption": "After Figure 8: t-SNE projections of the shallow ACRBM's hidden states of the first test digits (1,500 in the cpu profile, 3,000 in full) for the smallest and the largest latent size trained in this run (the paper shows 100 and 1000), coloured by the true digit, which the model never saw.", "name": "fig-osa-tsne"}}
shown_2d = [k for k in (100, 1000) if k in sweep] or [sizes[0], sizes[-1]]
n_points = settings.tsne_points
fig, axes = plt.subplots(1, len(shown_2d), figsize=(4.5 * len(shown_2d), 4), squeeze=False)
for ax, n_clusters in zip(axes[0], shown_2d):
    embedded = TSNE(2, init="pca", random_state=run.seed, perplexity=30).fit_transform(sweep[n_clusters]["h"][:n_points].numpy())
    points = ax.scatter(embedded[:, 0], embedded[:, 1], c=y_test[:n_points], cmap="tab10", s=4)
    ax.set(title=f"{n_clusters} hidden units", xlabel="t-SNE 1", ylabel="t-SNE 2")
fig.colorbar(points, ax=axes[0].tolist(), label="digit")
run.savefig(fig, "tsne")
plt.show()

# %% [markdown]
# ## 6. The Local Observer Convolution (Eqs. 17-22)
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
# 2. Pixels are in $[0, 1]$ (as for MNIST above; the paper states no other scaling). Eq. 20 averages the
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
#    flower images (Section 7) and $c^* \approx 1$, $e_{\min} \approx 0$, $c_\rho \approx 1 + \sqrt{\rho/\overline{v^2}}
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
# ## 7. Table 2: LOC against k-means on flower segmentation (stand-in data)
#
# **Data: a stand-in.** The paper segments Oxford-102 flowers (a random test set of 2,189 images, the
# rest for training). That set is not available offline here. We use the **846 Oxford-17 flower images
# that have foreground masks** {cite:p}`nilsback2006visual` (`flowers17_seg`: 1 = flower, 0 = background, 255 = unlabeled, ignored by
# the metrics), a different, smaller set of the same kind of photographs by the same group. Our numbers
# are therefore **not a reproduction of Table 2**; they are recorded under `flowers17_seg`, while the
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
# literally (`rank_binary`, Section 6, point 5) and, as a variant, by the distinct-label median
# (`distinct_median_binary`). To see what training adds, we replace each test image's trained kernel by
# two untrained ones of the same side: a **uniform kernel of the same mass** (the trained mass, no trained
# shape), and a **uniform kernel whose mass is $c_\rho$** from the closed form of Section 6 (nothing
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
    flowers = load("flowers17_seg", root=run.data_root, image_size=image_size)
except DatasetNotFoundError as err:
    flowers = None
    print(f"flowers17_seg is not available, the LOC experiment is skipped: {err}")
if flowers is not None:
    n_flowers = settings.n_flowers or len(flowers)
    order = np.random.default_rng(run.seed).permutation(len(flowers))[:n_flowers]
    test_index, train_index = order[: n_flowers // 4], order[n_flowers // 4 :]
    all_images = torch.tensor(flowers.images, dtype=torch.float32).permute(0, 3, 1, 2) / 255  # pixels in [0, 1]
    v_train, v_test = all_images[train_index].to(run.device), all_images[test_index].to(run.device)
    masks_test = flowers.masks[test_index]
    mean_square = run.glue("mean_square_pixel", float((v_train**2).mean()))
    run.glue("c_rho_rough", 1 + np.sqrt(rho / mean_square))
    print(f"flowers17_seg (stand-in for Oxford-102): {len(train_index)} train / {len(test_index)} test images, "
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
            run.record(row, "flowers17_seg", metric, value,
                       note=f"STAND-IN for Oxford-102 (paper, flowers102_seg): {len(test_index)} Oxford-17 test images, "
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
    print("STAND-IN flowers17_seg (the paper: Oxford-102)   pixel acc    IoU    Dice   foreground | paper (Oxford-102)")
    for row, values in table2.items():
        print(f"{row:24s}{'':24s}{100 * values['pixel_acc']:6.2f} {100 * values['iou']:6.2f} {100 * values['dice']:6.2f}   "
              f"{100 * foreground[row]:5.1f}%   | " + " / ".join(f"{p:.2f}" for p in paper_table2.get(row, ())))
    print(f"true masks: {100 * np.mean([(m[m != 255] == 1).mean() for m in masks_test]):.1f}% foreground")
    print(f"LOC clusters per test image: median {np.median(n_loc_clusters):.0f}, range {n_loc_clusters.min()}-{n_loc_clusters.max()}; "
          f"kernel mass: median {float(kernels.sum(dim=(1, 2)).median()):.2f} (closed form for a uniform kernel: "
          f"{float(closed_form_mass.median()):.2f})")
    better = [m for m in ("pixel_acc", "iou", "dice") if table2["loc"][m] > table2["kmeans"][m]]
    print(f"LOC above k-means on: {', '.join(better) or 'none of the three metrics'} (stand-in data)")

# %% mystnb={"figure": {"caption": "After Figure 10, on the STAND-IN data (Oxford-17 flowers with masks, not the paper's Oxford-102): test images, LOC's multi-class labels (titled with the number of clusters LOC chose for that image), LOC's binary mask by the paper's rule (lower 50% of the pixels by label = background) and by the distinct-label median (variant), k-means' binary mask, and the ground-truth mask (grey: ignored pixels).", "name": "fig-osa-loc-examples"}}
if flowers is not None:
    show = np.arange(min(5, len(test_index)))
    panels = (("image", None), ("LOC labels", None), ("LOC binary\n(paper's rule)", lambda i: osa.rank_binary(loc_label_maps[i])),
              ("LOC binary\n(distinct median)", lambda i: osa.distinct_median_binary(loc_label_maps[i])),
              ("k-means binary", lambda i: osa.rank_binary(kmeans_label_maps[i])),
              ("true mask", lambda i: np.where(masks_test[i] == 255, 0.5, masks_test[i])))
    fig, axes = plt.subplots(len(panels), len(show), figsize=(2 * len(show), 2 * len(panels)), squeeze=False)
    for col, i in enumerate(show):
        axes[0, col].imshow(flowers.images[test_index[i]])
        axes[1, col].imshow(loc_label_maps[i], cmap="viridis")
        axes[1, col].set_title(f"{n_loc_clusters[i]} clusters", fontsize=9)
        for row, (_, panel) in enumerate(panels[2:], start=2):
            axes[row, col].imshow(panel(i), cmap="gray", vmin=0, vmax=1)
    for row, (name, _) in enumerate(panels):
        axes[row, 0].set_ylabel(name)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1, len(show) // 2].set_xlabel("test images of the stand-in flowers17_seg")
    run.savefig(fig, "loc_examples")
    plt.show()

# %% mystnb={"figure": {"caption": "STAND-IN data (Oxford-17 flowers with masks, not Oxford-102): the number of clusters LOC chose for each test image (left) and the observer kernels G of four test images, titled with their mass sum G (right).", "name": "fig-osa-loc-clusters"}}
if flowers is not None:
    fig, axes = plt.subplots(1, 5, figsize=(11, 2.4), gridspec_kw={"width_ratios": [2.5, 1, 1, 1, 1]})
    axes[0].hist(n_loc_clusters, bins=np.arange(n_loc_clusters.min(), n_loc_clusters.max() + 2) - 0.5)
    axes[0].set(xlabel="clusters chosen by LOC", ylabel="test images")
    for ax, k in zip(axes[1:], kernels[:4].cpu()):
        ax.imshow(k.numpy(), cmap="magma")
        ax.set(xticks=[], yticks=[], xlabel=f"G ({k.shape[0]}x{k.shape[1]})", title=f"mass {float(k.sum()):.2f}")
    run.savefig(fig, "loc_clusters")
    plt.show()

# %% [markdown]
# **How the number of clusters follows from $\rho$.** Retraining LOC for every $\rho$ is too slow here, but
# Section 6 gives the stopping point in closed form: keep each test image's trained kernel *shape*
# $g_i = G_i / \sum G_i$, put the mass at $c_\rho$ (per image, as if each image had its own gate), and
# count the labels. This uses no masks. The trained model's own counts (at $\rho = 0.5$, batch gate) are
# marked for comparison.

# %% mystnb={"figure": {"caption": "STAND-IN data (Oxford-17 flowers, not Oxford-102): the number of clusters per test image when the kernel mass is set to where the gate of Eq. 21 stops it, c_rho (Section 6), for each rho, keeping the trained kernel shapes; median and 10-90% range over test images, and the trained model's counts at rho = 0.5 (batch gate). Larger rho, larger mass, more clusters, as the paper says.", "name": "fig-osa-loc-rho"}}
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
# ## 8. Results beside the paper
#
# Read back from the results registry. Table 1 rows compare like with like (MNIST test set, majority
# vote); the flower rows are on the stand-in data and have no paper value beside them on purpose.

# %%
# NBVAL_IGNORE_OUTPUT
mine = [r for r in results.table(profiles=(run.profile,)) if r["notebook"] == "01_one_stage_autoencoders" and r["ours"]
        and r["ours"]["profile"] == run.profile]
print(results.format_table(mine))

# %% [markdown]
# **Reading the numbers.** Every number below is this run's (glued from the cells above); the paper's
# are typed.
#
# *Derivations.* Everything we could state checks out: the parameter counts of Eqs. 1-6; Eq. 7 once read
# as $W^\top W = I$ (the printed $WW^\top = I$ cannot hold for $n < D$); the ACRBM objective, which is zero
# exactly for one-hot states because $\eta_i$ is the self-weighted mean activation of unit $i$; and the
# LOC pieces under our reading, including the closed form $c_\rho$ through which $\rho$ sets the kernel's
# mass and with it the number of clusters. The ACRBM analysis adds something the paper does not say: the
# objective punishes unused units without bound, which is why it does not collapse to one cluster without
# a balance term. It does not, however, prefer any particular partition: every confident partition that
# uses all units scores zero, whether or not it follows the data's groups.
#
# *Table 1: two cautions whatever the numbers.* First, majority vote favours more clusters (it cannot
# fall when clusters are split): compare the 30-cluster rows with the 10-cluster rows by Hungarian
# accuracy, where every digit gets one cluster and the other 20 count as errors, and see the sweep figure.
# Second, the selection of the AE + k-means row. The paper keeps the best of 500 k-means runs *by test
# accuracy*. Over this run's {glue:text}`restarts:d` restarts on the same codes, the restart of lowest inertia
# scored {glue:text}`ae_kmeans_inertia_majority_acc:.1%` majority accuracy (Hungarian
# {glue:text}`ae_kmeans_inertia_acc:.1%`, NMI {glue:text}`ae_kmeans_inertia_nmi:.3f`), the restart the labels
# pick {glue:text}`ae_kmeans_majority_acc:.1%` ({glue:text}`ae_kmeans_selection_gain:+.1%`): that much of the
# row comes from looking at the test labels, and more restarts give the labels more to choose from. The
# paper's 79.56% sits beside the label-selected row.
#
# *Shallow ACRBM.* With 10 clusters it reached {glue:text}`acrbm_shallow_10_majority_acc:.1%` majority
# accuracy (± {glue:text}`acrbm_shallow_10_majority_acc_std:.1%` over {glue:text}`n_seeds:d` seeds; Hungarian
# {glue:text}`acrbm_shallow_10_acc:.1%`, NMI {glue:text}`acrbm_shallow_10_nmi:.3f`), against
# {glue:text}`kmeans_majority_acc:.1%` for k-means on pixels; the paper reports 61.44% against 57.32%, a margin
# of 4.1 points from single numbers without a spread. Compare that margin with the spread between our
# seeds before reading an ordering into either. With Table 3's settings the shallow ACRBM is a linear
# softmax map pulled towards confident, used units; on raw pixels nothing makes that partition better
# than k-means'. With 30 clusters: {glue:text}`acrbm_shallow_30_majority_acc:.1%` majority (paper 76.95%), but
# {glue:text}`acrbm_shallow_30_acc:.1%` Hungarian: the gain over 10 clusters is the majority-vote mapping at
# work, not better clusters.
#
# *AE + ACRBM.* End to end with $\lambda = 1/784$, the paper's reading, the 10-cluster model reached
# {glue:text}`ae_acrbm_10_majority_acc:.1%` majority accuracy (± {glue:text}`ae_acrbm_10_majority_acc_std:.1%`;
# Hungarian {glue:text}`ae_acrbm_10_acc:.1%`, NMI {glue:text}`ae_acrbm_10_nmi:.3f`) after
# {glue:text}`ae_epochs_10:d` epochs, the 30-cluster model {glue:text}`ae_acrbm_30_majority_acc:.1%` (Hungarian
# {glue:text}`ae_acrbm_30_acc:.1%`) after {glue:text}`ae_epochs_30:d`; the paper reports 86.80% and 92.86% after
# 500. The saturation check: the code's standard deviation went from
# {glue:text}`ae_acrbm_10_code_std_before:.2f` at initialisation to {glue:text}`ae_acrbm_10_code_std_after:.2f`.
# The variant with $\lambda = 1$ against the per-pixel MSE ended at
# {glue:text}`ae_acrbm_10_joint_weight1_code_std_after:.2f` with {glue:text}`ae_acrbm_10_joint_weight1_majority_acc:.1%`
# majority accuracy: a spread many times larger is the encoder scaling its code up until the softmax
# saturates, which is why $\lambda$ is a hyper-parameter the paper should have stated. The separate variant,
# where the ACRBM term never reaches the encoder, reached {glue:text}`ae_acrbm_10_separate_majority_acc:.1%`
# (Hungarian {glue:text}`ae_acrbm_10_separate_acc:.1%`; code spread {glue:text}`ae_acrbm_10_separate_code_std_after:.2f`;
# {glue:text}`n_variant_seeds:d` seed(s)). Whether 500 epochs would close the gap to 86.80% this run cannot say;
# none of the three couplings comes near it at this budget. We looked for bugs and found none: the
# softmax runs over the hidden units, the minimised quantity is $-\log\eta$ (zero for one-hot states,
# Section 3), batches of 256 have room for a diagonal $10 \times 10$ or $30 \times 30$ Gram matrix, and the
# smallest cluster of the end-to-end 10-cluster models held {glue:text}`ae_acrbm_10_smallest_cluster:d` test
# digits (0 would be a dead unit). Our explanation: the ACRBM objective asks for
# confident states that use every unit, and on a given code the cheapest such partition is a linear one,
# about as good as k-means on the same code; nothing in the objective prefers the digits.
#
# *Table 2.* On the stand-in data, read the orderings only. Under the reading of Section 6 LOC trains: the
# epoch-mean loss fell from {glue:text}`loc_loss_first:.2f` to {glue:text}`loc_loss_last:.2f`, the gate was
# closed for every batch in {glue:text}`loc_closed_epochs:d` of the {glue:text}`loc_epochs:d` epochs, and the
# median kernel mass fell from {glue:text}`loc_mass_before:.2f` (training images, at initialisation) to
# {glue:text}`loc_mass_median:.2f` on the test images, against {glue:text}`loc_closed_form_mass_median:.2f` that
# the closed form of Section 6 gives a uniform kernel; the test images got {glue:text}`loc_clusters_median:d` clusters (from
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
# ## Exercises
#
# ```{exercise}
# :label: ex-osa-eta
#
# Show that for softmax states $\eta_i = \sum_b h_{bi}^2 / \sum_b h_{bi}$, that $\mathcal{L} \ge 0$, and that
# $\mathcal{L} = 0$ if and only if every state in the batch is one-hot. What happens to $\mathcal{L}$ when
# one hidden unit is used by no sample, and what does that imply for collapse?
# ```
#
# ````{solution} ex-osa-eta
# :class: dropdown
#
# $u_{ij} = \sum_b h_{bi} h_{bj}$, so $\sum_j u_{ij} = \sum_b h_{bi} \sum_j h_{bj} = \sum_b h_{bi}$ because each
# row sums to 1. Since $0 \le h_{bi} \le 1$, $h_{bi}^2 \le h_{bi}$, so $\eta_i \le 1$ and $-\log\eta_i \ge 0$,
# with equality for all $i$ iff every $h_{bi} \in \{0, 1\}$, i.e. every row is one-hot. If unit $i$ has
# $h_{bi} \le \epsilon$ for all $b$, then $\eta_i \le \epsilon$ and $-\log \eta_i \ge \log(1/\epsilon) \to \infty$:
# every unit must be the confident choice of some sample, so the objective rules out collapse onto few
# clusters within each batch (it needs at least $n$ samples per batch to be satisfiable).
# ````
#
# ```{exercise}
# :label: ex-osa-majority
#
# The shallow ACRBM with 30 clusters scores higher than with 10 clusters in Table 1. Compute the
# majority-vote accuracy of the trivial clustering that puts each test digit in its own cluster, and
# the best majority-vote accuracy of a 30-cluster k-means. What should a table that compares 10 and 30
# clusters report instead?
# ```
#
# ````{solution} ex-osa-majority
# :class: dropdown
#
# Singletons score 100% majority accuracy. Splitting a cluster can never lower majority accuracy (each
# part keeps at least the correct count of its share), so a refinement scores at least as high; a
# different clustering with more clusters usually, but not necessarily, scores higher. `kmeans(x_test, 30, ...)` followed by `metrics.majority_acc` gives a 30-cluster baseline
# (typically well above the 10-cluster one). A fair table compares methods at equal numbers of
# clusters, or uses a measure that does not reward fragmentation: Hungarian accuracy (one cluster per
# class), or NMI, which is penalised by the entropy of the clustering.
# ````
#
# ```{exercise}
# :label: ex-osa-rho
#
# Under our reading a larger $\rho$ gives more clusters. Using the closed form $c_\rho$ of Section 6 and
# assuming $\overline{v^2} = 0.2$, $c^* = 1$ and $e_{\min} = 0$, predict the number of clusters for
# $\rho \to 0$, $\rho = 0.5$ and $\rho = 2$, and the brightness above which each binarisation (the paper's
# rank rule and the distinct-label median) calls a pixel foreground. Then retrain LOC for a few epochs with
# $\rho = 2$ and compare with the figure of Section 7. Does $\rho$ change the *binary* masks much?
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
