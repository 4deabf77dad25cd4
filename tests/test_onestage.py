"""Unit tests of clustutils.onestage (ACRBM, AE + ACRBM, LOC); tiny synthetic data."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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


def test_ae_acrbm_coupling_routes_the_gradients():
    torch.manual_seed(0)
    x = torch.rand(16, 20)
    separate = os_.AEACRBM(20, 4, 8, 6, 8)
    joint = os_.AEACRBM(20, 4, 8, 6, 8, coupling="joint")
    joint.load_state_dict(separate.state_dict())
    _, h, rec = separate(x)
    enc = list(separate.encoder.parameters())
    # the ACRBM objective does not reach the encoder, the reconstruction does not reach the ACRBM layer
    assert all(g is None or float(g.abs().sum()) == 0 for g in torch.autograd.grad(os_.acrbm_loss(h), enc, allow_unused=True))
    assert all(g is None or float(g.abs().sum()) == 0
               for g in torch.autograd.grad(F.mse_loss(rec, x), list(separate.acrbm.parameters()), allow_unused=True))
    assert float(torch.autograd.grad(F.mse_loss(rec, x), enc[0])[0].abs().sum()) > 0
    _, h_joint, _ = joint(x)
    assert torch.allclose(h, h_joint)  # same forward pass
    assert float(torch.autograd.grad(os_.acrbm_loss(h_joint), list(joint.encoder.parameters()))[0].abs().sum()) > 0
    with pytest.raises(ValueError):
        os_.AEACRBM(20, 4, 8, 6, 8, coupling="both")


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
