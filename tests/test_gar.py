"""Unit tests for clustutils.papers.ch03_gar (ACOL pooling, GAR terms, transformations, the training loop)."""

import dataclasses

import numpy as np
import pytest
import torch

from clustutils.papers import ch03_gar as gar


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
    outs = [transform(x) for transform in gar.ROTATION_FLIPS]
    assert torch.equal(outs[0], x)
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    assert torch.equal(outs[1], torch.rot90(x, 1, (-2, -1)))


def test_transform_batch_matches_per_example_loop():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 1, 6, 6, generator=g)
    t = torch.randint(0, 8, (50,), generator=g)
    out = gar.transform_batch(x, t)
    expected = torch.stack([gar.ROTATION_FLIPS[int(t[i])](x[i]) for i in range(50)])
    assert torch.equal(out, expected)
    shears = gar.transform_family("shearing")
    out = gar.transform_batch(x, t, shears)
    expected = torch.cat([shears[int(t[i])](x[i:i + 1]) for i in range(50)])
    assert torch.allclose(out, expected, atol=1e-6)
    x_tilde, labels = gar.pseudo_batch(x, 4, torch.Generator().manual_seed(2))
    assert labels.max() < 4 and x_tilde.shape == x.shape


def test_translation_shifts_by_whole_pixels_with_zero_fill():
    x = torch.rand(3, 1, 10, 10, generator=torch.Generator().manual_seed(0))
    shifted = gar.translation(2, -1, 10)(x)  # 2 px right, 1 px up
    expected = torch.zeros_like(x)
    expected[..., 0:9, 2:10] = x[..., 1:10, 0:8]
    assert torch.allclose(shifted, expected, atol=1e-5)


def test_scaling_and_shearing_move_mass_as_named():
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(gar.scaling(1.0)(x), x, atol=1e-5) and torch.allclose(gar.shearing(0.0)(x), x, atol=1e-5)
    block = torch.zeros(1, 1, 16, 16)
    block[..., 6:10, 6:10] = 1.0  # a centred 4x4 square
    assert float(gar.scaling(2.0)(block).sum()) == pytest.approx(4 * 16, rel=0.05)  # side doubles, area x4
    assert float(gar.scaling(0.5)(block).sum()) == pytest.approx(16 / 4, rel=0.05)
    line = torch.zeros(1, 1, 16, 16)
    line[..., :, 8] = 1.0  # a vertical stroke
    sheared = gar.shearing(0.25)(line)[0, 0]
    centre_col = lambda row: float((sheared[row] * torch.arange(16.0)).sum() / sheared[row].sum())  # noqa: E731
    assert centre_col(15) - centre_col(0) == pytest.approx(0.25 * 15, abs=0.3)  # lower rows move right
    with pytest.raises(ValueError, match="positive"):
        gar.scaling(0.0)


def test_pixel_permutation_family_is_reproducible_and_bijective():
    family = gar.transform_family("permutation", image_size=6, seed=3)
    again = gar.transform_family("permutation", image_size=6, seed=3)
    x = torch.arange(2 * 36.0).reshape(2, 1, 6, 6)
    assert len(family) == 8
    for p, q in zip(family, again):
        out = p(x)
        assert torch.equal(out, q(x))
        assert torch.equal(out.flatten(-2).sort(-1).values, x.flatten(-2))  # same pixels, new places
        assert torch.equal(out[1] - out[0], torch.full((1, 6, 6), 36.0))  # same permutation for every image
    assert len({tuple(p(x)[0].flatten().tolist()) for p in family}) == 8
    for name in ("rotation", "scaling", "shearing", "translation"):
        assert len(gar.transform_family(name)) == 8
    with pytest.raises(ValueError, match="unknown transformation family"):
        gar.transform_family("colour")


def test_an_epoch_is_m_over_b_steps_each_example_once_under_a_random_transformation(monkeypatch):
    m, n_parents = 24, 4
    x = torch.zeros(m, 1, 8, 8)
    x[:, 0, 0, 0] = torch.arange(m, dtype=torch.float32)  # each example carries its index
    seen = []
    real = gar.transform_batch

    def spy(batch, t, transforms):
        seen.extend(zip(batch[:, 0, 0, 0].long().tolist(), t.tolist()))
        return real(batch, t, transforms)

    monkeypatch.setattr(gar, "transform_batch", spy)
    config = gar.GarConfig(n_parents=n_parents, k_s=2, epochs=40, batch_size=10, widths=(2, 2), d_f=4)
    assert config.steps_per_epoch(m) == 3  # m / b rounded up: batches of 10, 10 and 4
    steps = []
    model = gar.GarCNN(image_size=8, n_parents=n_parents, k_s=2, widths=(2, 2), d_f=4)
    modes = []

    def on_step(net, step):
        steps.append(step)
        modes.append(net.training)
        net.eval()  # a learning-curve measurement; training mode must come back

    history = gar.train_gar(model, x, config, on_step=on_step, progress=False)
    assert len(history) == 40 and steps == list(range(0, 40 * 3 + 1))
    assert all(modes[1:]) and not model.training
    for epoch in range(40):
        assert sorted(i for i, _ in seen[epoch * m:(epoch + 1) * m]) == list(range(m))  # every example once
    counts = torch.bincount(torch.tensor([t for _, t in seen]), minlength=n_parents)
    assert counts.min() > 0.8 * len(seen) / n_parents  # transformations drawn uniformly (960 draws)
    pairs = {(i, t) for i, t in seen[:m]}
    assert len({t for _, t in pairs}) > 1  # an epoch mixes transformations
    steps.clear()
    history = gar.train_gar(model, x, dataclasses.replace(config, max_steps=4), on_step=on_step, progress=False)
    assert steps[-1] == 4 and len(history) == 2  # one full epoch of 3 steps, then 1 step of the next
    with pytest.raises(ValueError, match="need as many transformations"):
        gar.train_gar(model, x, gar.GarConfig(n_parents=4, transforms=gar.ROTATION_FLIPS[:2]), progress=False)


def test_gar_cnn_keeps_map_size_and_starts_from_glorot():
    model = gar.GarCNN(image_size=28, n_parents=8, k_s=20, widths=(4, 6), d_f=32)
    f, z = model(torch.zeros(3, 1, 28, 28))
    assert f.shape == (3, 32) and z.shape == (3, 160)
    assert model.fc[0].in_features == 6 * 7 * 7  # "same" padding: 28 -> 14 -> 7
    assert gar.GarCNN(image_size=16, widths=(4, 6), d_f=8).fc[0].in_features == 6 * 4 * 4
    bound = (6 / (32 + 160)) ** 0.5  # Glorot-uniform limit of the output layer
    assert model.out.weight.abs().max() <= bound and model.out.weight.abs().max() > 0.8 * bound
    assert torch.count_nonzero(model.out.bias) == 0 and torch.count_nonzero(model.conv[0].bias) == 0
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(5)
    eight = gar.GarCNN(n_parents=8, k_s=20, widths=(4, 6), d_f=32)
    torch.manual_seed(5)
    two = gar.GarCNN(n_parents=2, k_s=3, widths=(4, 6), d_f=32)
    assert torch.equal(eight.eval().features(x), two.eval().features(x))  # same seed, same F, whatever the head


def test_training_reduces_loss_and_embeds():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 16, 16)
    config = gar.GarConfig(n_parents=4, k_s=3, epochs=3, batch_size=32, widths=(4, 4), d_f=16, lr=3e-3)
    model = gar.GarCNN(image_size=16, n_parents=4, k_s=3, widths=(4, 4), d_f=16)
    history = gar.train_gar(model, x, config, progress=False)
    assert len(history) == 3 and all(np.isfinite(history)) and history[-1] < history[0]
    f, z = gar.embed(model, x)
    assert f.shape == (64, 16) and z.shape == (64, 12)
    scores = gar.evaluate(f + np.random.default_rng(0).normal(size=f.shape) * 1e-3, np.arange(64) % 2, k=2, n_init=1)
    assert 0.5 <= scores["acc"] <= 1 and scores["majority_acc"] >= scores["acc"]


def test_gar_penalty_gradient_finite_and_frobenius_on_z():
    z = torch.randn(16, 8, dtype=torch.float64, requires_grad=True)
    p = gar.gar_penalty(z, 2, c_alpha=0, c_beta=0, c_f=1.0)
    assert p.detach().item() == pytest.approx(float((z * z).sum().detach()))
    p = gar.gar_penalty(z, 2)
    (grad,) = torch.autograd.grad(p, z)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("side, map_side", [(8, 2), (15, 3), (16, 4), (28, 7)])
def test_gar_cnn_takes_any_square_side_from_four(side, map_side):
    """digits 8x8, USPS 16x16, MNIST 28x28 (and odd sides): the map before F is side // 4 square."""
    torch.manual_seed(0)
    model = gar.GarCNN(image_size=side, n_parents=8, k_s=3, widths=(4, 6), d_f=16)
    assert model.fc[0].in_features == 6 * map_side * map_side
    f, z = model(torch.rand(5, 1, side, side))
    assert f.shape == (5, 16) and z.shape == (5, 24)
    colour = gar.GarCNN(in_channels=3, image_size=side, n_parents=2, k_s=2, widths=(4, 6), d_f=8)
    assert colour(torch.rand(2, 3, side, side))[1].shape == (2, 4)


def test_gar_cnn_and_fit_reject_sizes_they_cannot_take():
    with pytest.raises(ValueError, match="at least 4 pixels"):
        gar.GarCNN(image_size=3)
    config = gar.GarConfig(n_parents=2, k_s=2, epochs=1, batch_size=4, widths=(2, 2), d_f=4)
    with pytest.raises(ValueError, match="square images"):
        gar.fit(torch.rand(8, 1, 16, 12), config, progress=False)
    with pytest.raises(ValueError, match="at least 4 pixels"):
        gar.fit(torch.rand(8, 1, 2, 2), config, progress=False)


def test_mnist_network_is_unchanged_by_the_size_check():
    """The same seed gives the same MNIST weights as building Table 2's layers by hand in the same order."""
    torch.manual_seed(3)
    model = gar.GarCNN(widths=(4, 6), d_f=32)
    torch.manual_seed(3)
    convs = [torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1),
             torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.Conv2d(6, 6, 3, padding=1)]
    fc = torch.nn.Linear(6 * 7 * 7, 32)
    gar._glorot(*convs, fc)
    out = torch.nn.Linear(32, 160)
    gar._glorot(out)
    mine = [p for layer in (*convs, fc, out) for p in layer.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), mine)) and len(mine) == len(list(model.parameters()))


@pytest.mark.parametrize("side", [8, 16, 28])
def test_transformations_work_on_every_side(side):
    x = torch.zeros(2, 1, side, side)
    x[:, :, side // 4: side - side // 4, side // 3: side // 2 + 1] = 1.0  # an off-centre bar, zero margin
    x[:, :, side // 4, side // 3: side - side // 4] = 1.0  # with a top stroke: no symmetry
    t = torch.arange(2) * 3
    assert gar.transform_batch(x, t).shape == x.shape
    assert len({tuple(T(x[:1]).flatten().tolist()) for T in gar.ROTATION_FLIPS}) == 8
    shifts = gar.translation_shifts(side)
    assert len(set(shifts)) == 8 and max(abs(d) for s in shifts for d in s) == {8: 1, 16: 2, 28: 3}[side]
    for name in ("scaling", "shearing", "translation", "permutation"):
        family = gar.transform_family(name, image_size=side, seed=0)
        outputs = torch.cat([T(x[:1]) for T in family])
        assert outputs.shape == (8, 1, side, side), name
        assert len({tuple(o.flatten().round(decimals=4).tolist()) for o in outputs}) == 8, name
    dx, dy = shifts[1]
    assert torch.allclose(gar.transform_family("translation", side)[1](x)[..., dy:, dx:], x[..., :-dy, :-dx], atol=1e-5)
    assert gar.translation_shifts(28) == gar.FAMILY_VALUES["translation"]  # MNIST's values unchanged


def test_fit_runs_on_small_images():
    torch.manual_seed(0)
    x = torch.rand(40, 1, 8, 8)
    config = gar.GarConfig(n_parents=8, k_s=2, epochs=2, batch_size=20, widths=(2, 4), d_f=8)
    model = gar.fit(x, config, progress=False)
    f, z = gar.embed(model, x)
    assert f.shape == (40, 8) and z.shape == (40, 16) and np.isfinite(f).all()


def test_settings_for_dataset_mnist_usps_and_the_fallback():
    paper = gar.Settings()
    assert paper.for_dataset("mnist", 60_000) is paper
    usps = paper.for_dataset("usps", 7_291)
    assert usps.epochs == paper.usps_epochs and usps.curve_epochs == paper.curve_epochs
    digits = paper.for_dataset("digits", 1_540)  # 4 steps an epoch: MNIST's 60,000 steps are 15,000 epochs
    assert digits.epochs == 15_000 and digits.curve_epochs[0] == 0 and digits.curve_epochs[-1] == 15_000
    cpu = gar.BUDGET.settings("cpu")
    small = cpu.for_dataset("digits", 1_540)
    steps = cpu.epochs * 150  # MNIST's steps at this budget
    assert small.epochs * 4 >= steps > (small.epochs - 1) * 4
    assert list(small.curve_epochs) == sorted(set(small.curve_epochs)) and small.curve_epochs[-1] == small.epochs
    assert small.study_epochs == round(cpu.study_epochs * small.epochs / cpu.epochs)
    on_usps = cpu.for_dataset("usps", 2_000)
    assert on_usps.epochs == cpu.usps_epochs and on_usps.curve_epochs[-1] == cpu.usps_epochs
    smoke = dataclasses.replace(paper, n_train=2_000, epochs=2, curve_epochs=(0, 1, 2), study_epochs=1, usps_epochs=1)
    assert smoke.for_dataset("digits", 1_540).epochs * 4 >= 2 * 5  # 2 epochs of 5 steps on 2,000 MNIST digits
    assert smoke.for_dataset("usps", 2_000).curve_epochs == (0, 1)


def test_pretext_accuracy_rises_from_chance_when_the_task_is_learned():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 8, 8, generator=g) * 0.2
    x[:, :, 0, :] += 1.0  # a bright top row: each rotation puts it on another side, so the task is learnable
    config = gar.GarConfig(n_parents=4, k_s=2, epochs=40, batch_size=50, widths=(4, 8), d_f=16, lr=3e-3)
    torch.manual_seed(0)
    untrained = gar.GarCNN(image_size=8, n_parents=4, k_s=2, widths=(4, 8), d_f=16)
    before = gar.pretext_accuracy(untrained, x, config, seed=1)
    trained = gar.fit(x, config, seed=0, progress=False)
    after = gar.pretext_accuracy(trained, x, config, seed=1)
    assert before < 0.5 < 0.9 < after  # chance is 1/4
    assert not trained.training  # evaluated in eval mode (dropout off)


def test_upsample_small_only_enlarges_images_below_the_side():
    x = torch.rand(3, 1, 8, 8)
    up = gar.upsample_small(x)
    assert up.shape == (3, 1, gar.MIN_SIDE, gar.MIN_SIDE)
    assert torch.allclose(up.mean((2, 3)), x.mean((2, 3)), atol=0.05)  # the same picture, more pixels
    big = torch.rand(2, 1, 28, 28)
    assert gar.upsample_small(big) is big and gar.upsample_small(up) is up
    with pytest.raises(ValueError, match="square"):
        gar.upsample_small(torch.rand(2, 1, 8, 10))
