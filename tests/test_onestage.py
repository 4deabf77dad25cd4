"""Unit tests of clustutils.papers.ch01_onestage (ACRBM, AE + ACRBM, LOC, settings); tiny synthetic data.

Tests of training start from a bad initialisation and check that the optimum is reached, so that a
broken objective fails them (the variants tried are named in each test's docstring).
"""

import dataclasses
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clustutils import metrics
from clustutils.papers import ch01_onestage as os_
from clustutils.kmeans import kmeans


def _blobs(n_per=60, dim=5, k=3, scale=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.randn(n_per, dim, generator=g) + scale * torch.eye(dim)[c] for c in range(k)])
    return x, np.repeat(np.arange(k), n_per)


def test_eta_is_weighted_mean_for_softmax_states():
    torch.manual_seed(0)
    h = torch.softmax(torch.randn(50, 6), dim=1)
    eta = os_.acrbm_eta(h)
    expected = (h**2).sum(0) / h.sum(0)
    assert torch.allclose(eta, expected, atol=1e-6)
    assert bool(((eta > 0) & (eta < 1)).all())


def test_loss_zero_iff_one_hot():
    onehot = torch.eye(4)[torch.tensor([0, 1, 2, 3, 1, 2])]
    assert float(os_.acrbm_loss(onehot)) == pytest.approx(0.0, abs=1e-6)
    soft = 0.9 * onehot + 0.1 / 4
    assert float(os_.acrbm_loss(soft)) > 0.05
    assert os_.offdiagonal_fraction(onehot) == 0.0
    assert os_.offdiagonal_fraction(soft) > 0.0


def test_acrbm_shapes():
    model = os_.ACRBM(5, 3)
    x = torch.randn(7, 5)
    assert model.W.shape == (5, 3) and model(x).shape == (7, 3)
    assert model.reconstruct(model(x)).shape == (7, 5)
    assert os_.count_parameters(model) == 5 * 3 + 3


def test_acrbm_training_from_a_collapsed_start_reaches_the_optimum():
    """From a start that puts every sample in one unit, training reaches the optimum of Eq. 14.

    The optimum is one-hot states with every unit used (a diagonal ``h^T h``); it is not "the
    blobs": any confident partition that uses every unit scores 0, so the test does not ask for them.

    Broken variants tried, each fails here: the sign of Eq. 14 flipped; the softmax over the batch
    (dim 0) instead of the units; eta normalised by the whole Gram matrix (u.sum()) instead of its rows.
    """
    x, _ = _blobs()
    model = os_.ACRBM(5, 3)
    with torch.no_grad():
        model.linear.weight.mul_(0.01)
        model.linear.bias.copy_(torch.tensor([6.0, 0.0, 0.0]))  # every sample in unit 0: a dead-unit start
    first = float(model.loss(x).detach())
    assert len(np.unique(model(x).argmax(1).numpy())) == 1 and first > 3
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(600):
        opt.zero_grad()
        model.loss(x).backward()
        opt.step()
    with torch.no_grad():
        h = model(x)
    assert float(os_.acrbm_loss(h)) < 0.05  # the optimum is 0 (one-hot states, every unit used)
    assert float((h.max(1).values > 0.9).float().mean()) > 0.9  # confident states
    assert np.bincount(h.argmax(1).numpy(), minlength=3).min() >= 1  # no dead unit (sizes are free)
    assert os_.offdiagonal_fraction(h) < 0.02


def test_appendix_b_parameter_counts():
    assert abs(os_.count_parameters(os_.AEACRBM(784, 10, 100, 90, 100)) - 197_000) < 2_000
    assert abs(os_.count_parameters(os_.AEACRBM(784, 30, 300, 300, 300)) - 850_000) < 2_000
    assert abs(os_.count_parameters(os_.AEKMeans()) - 200_000) < 2_000
    model = os_.AEACRBM(20, 4, 8, 6, 8)
    code, h, rec = model(torch.rand(7, 20))
    assert code.shape == (7, 6) and h.shape == (7, 4) and rec.shape == (7, 20)
    assert torch.isfinite(model.loss(torch.rand(7, 20)))


def _grad_norm(loss, params):
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    return sum(0.0 if g is None else float(g.abs().sum()) for g in grads)


def test_ae_acrbm_coupling_routes_the_gradients():
    """End to end (the default) every term reaches every part; separate blocks both crossings.

    Broken variant tried: a "joint" that detaches the states at the decoder's input fails the
    reconstruction-reaches-the-ACRBM assertion.
    """
    torch.manual_seed(0)
    x = torch.rand(16, 20)
    joint = os_.AEACRBM(20, 4, 8, 6, 8)
    assert joint.coupling == "joint" and joint.weight == pytest.approx(1 / 20)  # default: 1 / pixels
    separate = os_.AEACRBM(20, 4, 8, 6, 8, coupling="separate")
    separate.load_state_dict(joint.state_dict())
    for model, crosses in ((joint, True), (separate, False)):
        _, h, rec = model(x)
        enc, acrbm = list(model.encoder.parameters()), list(model.acrbm.parameters())
        assert (_grad_norm(os_.acrbm_loss(h), enc) > 0) == crosses  # the ACRBM term reaches the encoder
        assert (_grad_norm(F.mse_loss(rec, x), acrbm) > 0) == crosses  # the reconstruction reaches the ACRBM layer
        assert _grad_norm(F.mse_loss(rec, x), enc) > 0 and _grad_norm(os_.acrbm_loss(h), acrbm) > 0
    assert torch.allclose(joint(x)[1], separate(x)[1])  # same forward pass
    with pytest.raises(ValueError):
        os_.AEACRBM(20, 4, 8, 6, 8, coupling="both")
    with pytest.raises(ValueError):
        os_.AEACRBM(20, 4, 8, 6, 8, weight=-1.0)


def test_joint_training_reduces_both_terms():
    """End-to-end AE + ACRBM from a collapsed ACRBM start (every sample in one unit): both terms fall.

    Broken variants tried, each fails here: the ACRBM term's sign flipped; weight 0 (the ACRBM
    layer then only serves the reconstruction and its states need not be one-hot).
    """
    x, _ = _blobs(n_per=80, dim=12, scale=3.0)
    x = torch.sigmoid(x)  # pixels in [0, 1], as the sigmoid output expects
    torch.manual_seed(0)
    model = os_.AEACRBM(12, 3, 16, 6, 16, weight=0.05)
    with torch.no_grad():
        model.acrbm.linear.bias.copy_(torch.tensor([6.0, 0.0, 0.0]))  # every sample in unit 0
    with torch.no_grad():
        _, h0, rec0 = model(x)
    mse0, acrbm0 = float(F.mse_loss(rec0, x)), float(os_.acrbm_loss(h0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        opt.zero_grad()
        model.loss(x).backward()
        opt.step()
    with torch.no_grad():
        _, h, rec = model(x)
    assert float(F.mse_loss(rec, x)) < 0.7 * mse0
    assert float(os_.acrbm_loss(h)) < 0.1 < acrbm0
    assert np.bincount(h.argmax(1).numpy(), minlength=3).min() >= 0.1 * len(x)  # every unit used


def test_code_spread_is_the_std_of_the_code():
    torch.manual_seed(0)
    model = os_.AEACRBM(20, 4, 8, 6, 8)
    x = torch.rand(30, 20)
    with torch.no_grad():
        expected = float(model.encoder(x).std())
        model.encoder[-1].weight.mul_(10)
        model.encoder[-1].bias.mul_(10)
    assert os_.code_spread(os_.AEACRBM(20, 4, 8, 6, 8), x, batch_size=7) > 0
    assert os_.code_spread(model, x, batch_size=7) == pytest.approx(10 * expected, rel=1e-4)


def test_kmeans_selections_pick_lowest_inertia_and_highest_accuracy():
    """Both selections checked against every restart run on its own.

    Broken variants tried, each fails here: keeping restart 0 for both; selecting by the highest inertia.
    """
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(300, 2)) * [1.6, 1.0]  # a uniform rectangle: k-means has several local optima
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)  # labels: the quadrants
    chosen = os_.kmeans_selections(x, y, 4, n_init=8, seed=5)
    runs = [kmeans(x, 4, n_init=1, seed=5 + j, progress=False) for j in range(8)]
    inertias = [r.inertia for r in runs]
    accuracies = [metrics.majority_acc(y, r.labels) for r in runs]
    assert len(set(np.round(inertias, 6))) > 1 and len(set(accuracies)) > 1  # the restarts differ: the test can fail
    assert chosen["inertia"]["restart"] == int(np.argmin(inertias))
    assert chosen["inertia"]["inertia"] == pytest.approx(min(inertias))
    assert chosen["accuracy"]["restart"] == int(np.argmax(accuracies))
    assert metrics.majority_acc(y, chosen["accuracy"]["labels"]) == max(accuracies)
    assert (chosen["inertia"]["labels"] == runs[int(np.argmin(inertias))].labels).all()
    assert chosen["inertia"]["restart"] != chosen["accuracy"]["restart"]  # here the labels pick another restart
    np.testing.assert_allclose(chosen["per_restart"]["inertia"], inertias)
    np.testing.assert_array_equal(chosen["per_restart"]["majority_acc"], accuracies)
    with pytest.raises(ValueError):
        os_.kmeans_selections(x, y, 3, n_init=0)


def test_two_way_partition_is_the_exact_minimum():
    """Compared with every sign vector.  Broken variant tried: enumerating one sign fewer fails."""
    rng = np.random.default_rng(0)
    for n in (5, 7):
        A = rng.normal(size=(n, n))
        V = A + A.T
        w, value = os_.two_way_partition(V)
        assert set(np.unique(w)) <= {-1.0, 1.0} and w[0] == 1
        assert w @ V @ w == pytest.approx(value)
        everything = min(np.array(z) @ V @ np.array(z) for z in itertools.product((-1.0, 1.0), repeat=n))
        assert value == pytest.approx(everything)
    with pytest.raises(ValueError):
        os_.two_way_partition(np.eye(21))


def _direct_observer(v, G):
    """``K(v_i, G_i)`` by explicit sums: zero padding ``k // 2``, top-left crop (the definition in the docstring)."""
    b, c, height, width = v.shape
    k = G.shape[-1]
    p = k // 2
    padded = F.pad(v, (p, p, p, p))
    out = torch.zeros_like(v)
    for i in range(b):
        for a in range(k):
            for d in range(k):
                out[i] += G[i, a, d] * padded[i, :, a : a + height, d : d + width]
    return out


@pytest.mark.parametrize("k", [3, 4])
def test_observer_reconstruction_is_each_image_with_its_own_kernel(k):
    """Asymmetric kernels, one per image, odd and even sides (the cpu profile's kernel is 4x4).

    Broken variants tried, each fails here: the first image's kernel for every image; a transposed
    kernel; the even-side output cropped at the bottom-right instead of the top-left.
    """
    torch.manual_seed(0)
    v = torch.rand(3, 3, 9, 9, dtype=torch.float64)
    G = torch.rand(3, k, k, dtype=torch.float64)
    assert torch.allclose(os_.observer_reconstruction(v, G), _direct_observer(v, G), atol=1e-12)


def test_observer_reconstruction_delta_kernel_is_identity():
    torch.manual_seed(0)
    v = torch.randn(2, 3, 8, 8)
    G = torch.zeros(2, 3, 3)
    G[:, 1, 1] = 1
    assert torch.allclose(os_.observer_reconstruction(v, G), v, atol=1e-6)
    assert float(os_.loc_loss(v, G, rho=0.0)) == pytest.approx(0.0, abs=1e-10)
    blur = torch.full((2, 3, 3), 1 / 9)
    e = os_.loc_loss(v, blur, rho=0.0, per_image=True)
    assert bool((e > 0).all())
    assert float(os_.loc_loss(v, blur, rho=float(e.max()) + 1)) == 0.0


def test_locnet_kernel_shape_raw_and_normalised():
    net = os_.LOCNet().eval()
    G = net(torch.rand(2, 3, 64, 64))
    assert G.shape == (2, 2, 2)
    assert bool(((G > 0) & (G < 1)).all())  # the raw sigmoid map: its mass is free
    rec = os_.observer_reconstruction(torch.rand(2, 3, 64, 64), G)
    assert rec.shape == (2, 3, 64, 64)
    normalised = os_.LOCNet(normalise=True).eval()
    assert torch.allclose(normalised(torch.rand(2, 3, 64, 64)).sum(dim=(1, 2)), torch.ones(2), atol=1e-5)


def test_loc_gate_is_on_the_batch_mean():
    torch.manual_seed(0)
    v = torch.rand(4, 3, 8, 8)
    G = torch.full((4, 3, 3), 2 / 9, requires_grad=True)
    e = os_.loc_mse(v, G).detach()
    assert float(os_.loc_loss(v, G, rho=0.0).detach()) == pytest.approx(float(e.mean()), rel=1e-6)
    rho = float((e.min() + e.mean()) / 2)  # some images below rho, the batch mean above it
    (grad,) = torch.autograd.grad(os_.loc_loss(v, G, rho=rho), G)
    assert bool((grad.abs().sum(dim=(1, 2)) > 0).all())  # every image contributes, also those below rho
    assert float(os_.loc_loss(v, G, rho=float(e.mean()) + 1e-3).detach()) == 0.0


def test_stopping_mass_matches_gated_descent_and_grows_with_rho():
    grid = torch.linspace(0, 3, 12)
    v = (0.5 + 0.4 * torch.sin(grid[:, None] + 2 * grid[None, :])).expand(1, 3, 12, 12)  # smooth image
    shape = torch.full((1, 3, 3), 1 / 9)
    masses = []
    for rho in (0.05, 0.2, 0.5):
        c = torch.tensor(6.0, requires_grad=True)
        for _ in range(5000):  # plain gradient descent on the mass, small steps, until the gate closes
            loss = os_.loc_loss(v, c * shape, rho)
            if float(loss.detach()) == 0.0:
                break
            (g,) = torch.autograd.grad(loss, c)
            c = (c - 1e-2 * g).detach().requires_grad_(True)
        predicted = float(os_.loc_stopping_mass(v, shape, rho)[0])
        assert float(c.detach()) == pytest.approx(predicted, abs=0.01)
        masses.append(predicted)
    assert masses[0] < masses[1] < masses[2]


def test_labels_are_consecutive():
    rec = torch.linspace(-2.2, 1.4, 64).reshape(1, 1, 8, 8).expand(1, 3, 8, 8)
    labels = os_.loc_labels(rec)[0].numpy()
    assert labels.min() == 0 and set(np.unique(labels)) == set(range(labels.max() + 1))
    std = os_.standardise_images(torch.rand(2, 3, 5, 5) * 7 + 3)
    assert torch.allclose(std.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5)


def test_rank_binary_is_the_lower_half_of_the_pixels():
    """Section 3.2 read literally, with whole clusters and the stated tie rule.

    Broken variants tried, each fails here: the distinct-label median (marks only label 2 below);
    ties sent to the upper cut; a cut chosen by label value instead of by pixel count.
    """
    labels = np.repeat([0, 1, 2], [40, 35, 25]).reshape(10, 10)  # 40 % / 35 % / 25 % of the pixels
    assert (os_.rank_binary(labels) == (labels >= 1)).all()  # background 40 %: the cut closest to 50 %
    assert (os_.distinct_median_binary(labels) == (labels == 2)).all()  # the variant: top label only
    tie = np.repeat([0, 1, 2], [2, 2, 2]).reshape(2, 3)  # cuts at 1/3 and 2/3 are equally far from 1/2
    assert (os_.rank_binary(tie) == (tie >= 1)).all()  # the lower cut: less background
    skewed = np.repeat([0, 1, 2, 3], [5, 5, 10, 80]).reshape(10, 10)
    assert (os_.rank_binary(skewed) == (skewed == 3)).all()  # background 20 %, the closest a whole cut gets
    assert os_.rank_binary(np.full((3, 3), 4)).sum() == 0  # one label: all background
    rng = np.random.default_rng(0)
    for _ in range(20):  # against every whole-label cut
        maps = rng.integers(0, rng.integers(2, 6), size=(9, 11))
        mask = os_.rank_binary(maps)
        present = np.unique(maps)
        if len(present) == 1:
            continue
        distance = [abs(2 * int((maps <= t).sum()) - maps.size) for t in present[:-1]]  # integers: ties exact
        best = present[:-1][int(np.argmin(distance))]
        assert (mask == (maps > best)).all() and 0 < mask.mean() < 1


def test_distinct_median_binary():
    labels = np.arange(4).repeat(16).reshape(8, 8)
    assert (os_.distinct_median_binary(labels) == (labels > 1)).all()  # labels 0..3: 0, 1 background
    assert os_.distinct_median_binary(np.zeros((3, 3), int)).sum() == 0


def test_uniform_kernels_keep_side_and_mass():
    torch.manual_seed(0)
    G = torch.rand(3, 4, 4)
    box = os_.uniform_kernels(G)
    assert box.shape == G.shape
    assert torch.allclose(box.sum(dim=(1, 2)), G.sum(dim=(1, 2)))
    assert torch.allclose(box, box[:, :1, :1].expand_as(box))


def test_budget_profiles():
    paper = os_.BUDGET.settings("full")
    assert paper == os_.Settings()
    assert paper.ae_epochs == {10: 500, 30: 500} and paper.restarts == 500 and paper.shallow_epochs == 20
    assert paper.coupling == "joint" and paper.acrbm_weight == pytest.approx(1 / 784)
    cpu, gpu, smoke = (os_.BUDGET.settings(p) for p in ("cpu", "gpu", "smoke"))
    assert cpu.ae_epochs == {10: 15, 30: 6} and cpu.seeds == paper.seeds and cpu.restarts == 500
    assert cpu.sweep_sizes == (10, 30, 100, 300, 1000)
    # gpu: what the GPU makes cheap at the paper's values (k-means restarts, the sweep's sizes, t-SNE points),
    # the launch-bound AE + ACRBM at cpu's epochs, on 3 of its 5 seeds
    assert (gpu.restarts, gpu.pixel_restarts, gpu.sweep_sizes, gpu.tsne_points) == (500, 100, paper.sweep_sizes, 3000)
    assert (gpu.ae_epochs, gpu.seeds, gpu.sweep_epochs) == (cpu.ae_epochs, (0, 1, 2), 5)
    assert smoke.n_train == 3000
    for profile in ("smoke", "cpu", "gpu"):
        assert all(row["reason"].strip() for row in os_.BUDGET.deviations(profile))


def test_loc_budget_profiles():
    paper = os_.LOC_BUDGET.settings("full")
    assert paper == os_.LocSettings()
    assert paper.rho == 0.5 and paper.loc_epochs == 50 and paper.loc_batch == 64 and paper.image_size == 256
    cpu, gpu, smoke = (os_.LOC_BUDGET.settings(p) for p in ("cpu", "gpu", "smoke"))
    assert cpu.image_size == 128 and cpu.loc_epochs == 30
    assert gpu.image_size == cpu.image_size and gpu.loc_epochs == paper.loc_epochs  # the paper's 50 epochs
    assert smoke.image_size == 96 and smoke.n_flowers == 120 and smoke.loc_epochs == 2
    for profile in ("smoke", "cpu", "gpu"):
        assert all(row["reason"].strip() for row in os_.LOC_BUDGET.deviations(profile))


def test_each_part_of_the_chapter_has_its_own_settings():
    """Each notebook's deviations table shows only its own settings: the two budgets share no field."""
    acrbm = {f.name for f in dataclasses.fields(os_.Settings)}
    loc = {f.name for f in dataclasses.fields(os_.LocSettings)}
    assert not acrbm & loc and {"rho", "image_size", "loc_epochs"} <= loc and {"seeds", "ae_epochs"} <= acrbm
    from clustutils import weights

    assert {"ch01_onestage", "ch01_onestage.LOC_BUDGET"} <= set(weights.budgets())


def test_train_is_table_3s_recipe_for_each_model():
    """`train` picks Table 3's optimiser per model: from a dead-unit start the shallow ACRBM must use every unit."""
    x, _ = _blobs()
    model = os_.ACRBM(5, 3)
    with torch.no_grad():
        model.linear.weight.mul_(0.01)
        model.linear.bias.copy_(torch.tensor([6.0, 0.0, 0.0]))  # every sample in unit 0
    history = os_.train(model, x, os_.Settings(batch_size=60), seed=0, epochs=100, progress=False)
    assert len(history) == 100 and history[-1] < 0.3 * history[0]
    assert np.bincount(model(x).argmax(1).numpy(), minlength=3).min() >= 1
    pixels = (x - x.min()) / (x.max() - x.min())  # the autoencoder's sigmoid output reconstructs [0, 1]
    ae = os_.AEKMeans(5, extra=3)
    before = float(ae.loss(pixels).detach())
    os_.train(ae, pixels, os_.Settings(batch_size=60, ae_kmeans_epochs=30), seed=0, progress=False)
    assert float(ae.loss(pixels).detach()) < 0.5 * before
    with pytest.raises(TypeError, match="ACRBM, AEACRBM or AEKMeans"):
        os_.train(torch.nn.Linear(5, 3), x)
