"""Unit tests for clustutils.gar (ACOL pooling, GAR terms, transformations, the training loop)."""

import numpy as np
import pytest
import torch

from clustutils import gar


def one_hot_rows(m, n, generator=None):
    """B with one positive entry per row, columns used equally (m divisible by n)."""
    cols = torch.arange(m) % n
    b = torch.zeros(m, n, dtype=torch.float64)
    b[torch.arange(m), cols] = 1.0
    return b


def test_pooling_matrix_and_acol_pool_sum_duplicates():
    w = gar.pooling_matrix(3, 4)
    assert w.shape == (12, 3)
    assert torch.equal(w.sum(0), torch.full((3,), 4.0))
    z = torch.randn(5, 12, dtype=torch.float64)
    y = gar.acol_pool(z, 3)
    assert torch.allclose(y, torch.softmax(z, 1) @ w.double())
    assert torch.allclose(y.sum(1), torch.ones(5, dtype=torch.float64))


def test_affinity_zero_iff_one_hot_and_balance_one_iff_equal_use():
    b = one_hot_rows(40, 8)
    assert gar.affinity(b) == pytest.approx(0.0, abs=1e-14)
    assert gar.balance(b) == pytest.approx(1.0, abs=1e-14)
    b2 = b.clone()
    b2[0, 1] = 0.5  # one example activates two nodes
    assert gar.affinity(b2) > 1e-4
    b3 = b.clone()
    b3[:, 0] *= 2  # node 0 used more
    assert gar.balance(b3) < 1 - 1e-3
    constant = torch.ones(10, 4, dtype=torch.float64)  # every example everywhere: affinity 1
    assert gar.affinity(constant) == pytest.approx(1.0)


def test_parent_terms_equal_slice_formulas():
    g = torch.Generator().manual_seed(0)
    b = torch.rand(30, 12, generator=g, dtype=torch.float64)
    n_p = 3
    slices = [b[:, k::n_p] for k in range(n_p)]
    assert gar.parent_affinity(b, n_p) == pytest.approx(float(np.mean([gar.affinity(s) for s in slices])))
    assert gar.parent_balance(b, n_p) == pytest.approx(float(np.mean([gar.balance(s) for s in slices])))


def test_transforms_are_the_eight_symmetries_of_the_square():
    x = torch.arange(16.0).reshape(1, 4, 4)
    outs = [gar.apply_transform(x, r, f) for r, f in gar.ROTATION_FLIPS]
    assert torch.equal(outs[0], x)
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    assert torch.equal(outs[1], torch.rot90(x, 1, (-2, -1)))


def test_transform_batch_matches_per_example_loop():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 1, 6, 6, generator=g)
    t = torch.randint(0, 8, (50,), generator=g)
    out = gar.transform_batch(x, t)
    expected = torch.stack([gar.apply_transform(x[i], *gar.ROTATION_FLIPS[int(t[i])]) for i in range(50)])
    assert torch.equal(out, expected)
    x_tilde, labels = gar.pseudo_batch(x, 4, torch.Generator().manual_seed(2))
    assert labels.max() < 4 and x_tilde.shape == x.shape


def test_gar_cnn_keeps_map_size_and_starts_from_glorot():
    model = gar.GarCNN(image_size=28, n_parents=8, k_s=20, widths=(4, 6), d_f=32)
    f, z = model(torch.zeros(3, 1, 28, 28))
    assert f.shape == (3, 32) and z.shape == (3, 160)
    assert model.fc[0].in_features == 6 * 7 * 7  # "same" padding: 28 -> 14 -> 7
    assert gar.GarCNN(image_size=16, widths=(4, 6), d_f=8).fc[0].in_features == 6 * 4 * 4
    bound = (6 / (32 + 160)) ** 0.5  # Glorot-uniform limit of the output layer
    assert model.out.weight.abs().max() <= bound and model.out.weight.abs().max() > 0.8 * bound
    assert torch.count_nonzero(model.out.bias) == 0 and torch.count_nonzero(model.conv[0].bias) == 0


def test_training_reduces_loss_and_embeds():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 16, 16)
    config = gar.GarConfig(n_parents=4, k_s=3, epochs=3, batch_size=32, widths=(4, 4), d_f=16, lr=3e-3)
    model = gar.GarCNN(image_size=16, n_parents=4, k_s=3, widths=(4, 4), d_f=16)
    history = gar.train_gar(model, x, config, progress=False)
    assert len(history) == 3 and all(np.isfinite(history))
    f, z = gar.embed(model, x)
    assert f.shape == (64, 16) and z.shape == (64, 12)
    scores = gar.evaluate(f + np.random.default_rng(0).normal(size=f.shape) * 1e-3, np.arange(64) % 2, k=2, n_init=1)
    assert 0.5 <= scores["acc"] <= 1 and scores["majority_acc"] >= scores["acc"]


def test_gar_penalty_gradient_finite_and_frobenius_on_z():
    z = torch.randn(16, 8, dtype=torch.float64, requires_grad=True)
    p = gar.gar_penalty(z, 2, c_alpha=0, c_beta=0, c_f=1.0)
    assert p.item() == pytest.approx(float((z * z).sum()))
    p = gar.gar_penalty(z, 2)
    (grad,) = torch.autograd.grad(p, z)
    assert torch.isfinite(grad).all()
