"""Unit tests of clustutils.onestage (ACRBM, AE + ACRBM, LOC); tiny synthetic data."""

import numpy as np
import pytest
import torch

from clustutils import onestage as os_


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


def test_acrbm_shapes_and_training_reduces_loss():
    torch.manual_seed(0)
    x = torch.cat([torch.randn(60, 5) + 4 * torch.eye(5)[k % 3] for k in range(3)])
    model = os_.ACRBM(5, 3)
    assert model.W.shape == (5, 3) and model(x).shape == (180, 3)
    assert model.reconstruct(model(x)).shape == (180, 5)
    assert os_.count_parameters(model) == 5 * 3 + 3
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    first = float(model.loss(x).detach())
    for _ in range(30):
        opt.zero_grad()
        model.loss(x).backward()
        opt.step()
    assert float(model.loss(x).detach()) < 0.5 * first


def test_appendix_b_parameter_counts():
    assert abs(os_.count_parameters(os_.AEACRBM(784, 10, 100, 90, 100)) - 197_000) < 2_000
    assert abs(os_.count_parameters(os_.AEACRBM(784, 30, 300, 300, 300)) - 850_000) < 2_000
    assert abs(os_.count_parameters(os_.AEKMeans()) - 200_000) < 2_000
    model = os_.AEACRBM(20, 4, 8, 6, 8)
    code, h, rec = model(torch.rand(7, 20))
    assert code.shape == (7, 6) and h.shape == (7, 4) and rec.shape == (7, 20)
    assert torch.isfinite(model.loss(torch.rand(7, 20)))


def test_two_way_partition_brute_force():
    # two blocks with positive coupling inside, negative across: the optimum separates them? Check by value.
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    V = A + A.T
    w, value = os_.two_way_partition(V)
    assert set(np.unique(w)) <= {-1.0, 1.0} and w[0] == 1
    for _ in range(50):
        z = rng.choice([-1.0, 1.0], size=6)
        assert z @ V @ z >= value - 1e-12


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


def test_locnet_kernel_shape_and_normalised():
    net = os_.LOCNet().eval()
    G = net(torch.rand(2, 3, 64, 64))
    assert G.shape == (2, 2, 2)
    assert torch.allclose(G.sum(dim=(1, 2)), torch.ones(2), atol=1e-5)
    rec = os_.observer_reconstruction(torch.rand(2, 3, 64, 64), G)
    assert rec.shape == (2, 3, 64, 64)


def test_labels_consecutive_and_median_binary():
    rec = torch.linspace(-2.2, 1.4, 64).reshape(1, 1, 8, 8).expand(1, 3, 8, 8)
    labels = os_.loc_labels(rec)[0].numpy()
    assert labels.min() == 0 and set(np.unique(labels)) == set(range(labels.max() + 1))
    mask = os_.median_binary(labels)
    assert set(np.unique(mask)) == {0, 1}
    assert (mask == (labels > 1)).all()  # labels 0..3: 0, 1 background, 2, 3 foreground
    assert os_.median_binary(np.zeros((3, 3), int)).sum() == 0
    std = os_.standardise_images(torch.rand(2, 3, 5, 5) * 7 + 3)
    assert torch.allclose(std.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5)
