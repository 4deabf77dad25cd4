import dataclasses
import warnings

import pytest
import torch
import torch.nn.functional as F

from clustutils.papers import ch02_energy as en
from clustutils.settings import PROFILES

pytestmark = pytest.mark.usefixtures("double_precision")


def _params(d=5, h=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(h, d, generator=g) * 0.7, torch.randn(h, generator=g) * 0.3, torch.randn(d, generator=g) * 0.3,
            torch.randn(16, d, generator=g))


@pytest.mark.parametrize("name", list(en.ACTIVATIONS))
def test_energy_gradient_is_the_reconstruction_field(name):
    W, b_h, b_r, x = _params()
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(en.energy(x, W, b_h, b_r, name).sum(), x)
    assert torch.allclose(grad, en.reconstruct(x, W, b_h, b_r, name) - x, atol=1e-10)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "linear", "square"])
def test_laplacian_and_contraction_match_autograd(name):
    W, b_h, b_r, x = _params(d=4, h=3)
    act = en.ACTIVATIONS[name]
    for row in x[:4]:
        hessian = torch.autograd.functional.hessian(lambda v: en.energy(v[None], W, b_h, b_r, name)[0], row)
        assert torch.allclose(torch.trace(hessian), en.laplacian(row[None], W, b_h, name)[0], atol=1e-10)
        jac = torch.autograd.functional.jacobian(lambda v: act.h(W @ v + b_h), row)
        assert torch.allclose((jac**2).sum(), en.contraction(row[None], W, b_h, name)[0], atol=1e-10)


def test_tanh_antiderivative_is_log_cosh():
    u = torch.linspace(-20, 20, 101)
    assert torch.allclose(en.ACTIVATIONS["tanh"].H(u), torch.log(torch.cosh(u)), atol=1e-12)
    assert torch.isfinite(en.ACTIVATIONS["tanh"].H(torch.tensor([1e4, -1e4]))).all()


def test_models_pickle_with_their_activation():
    """A CSAE travels to a worker process and back (pickle) with the same energies; a custom activation refuses."""
    import pickle

    x = torch.rand(5, 6)
    for name in ("sigmoid", "tanh", "linear", "modulus"):
        model = en.CSAE(3, 6, 4, name)
        copy = pickle.loads(pickle.dumps(model))
        assert copy.activation is en.ACTIVATIONS[name] and torch.equal(copy(x), model(x))
    custom = en.Activation("sigmoid", torch.sigmoid, torch.nn.functional.softplus, torch.sigmoid)
    with pytest.raises(TypeError, match="not one of ACTIVATIONS"):
        pickle.dumps(custom)


def test_unknown_activation():
    with pytest.raises(ValueError, match="choose one of sigmoid"):
        en.energy(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1), torch.zeros(2), "swish")


def test_csae_stacks_the_class_autoencoders():
    torch.manual_seed(0)
    aes = [en.TiedAutoencoder(6, 4, "sigmoid") for _ in range(3)]
    model = en.CSAE.from_autoencoders(aes)
    x = torch.rand(5, 6)
    expected = torch.stack([ae.energy(x) for ae in aes], 1)
    assert torch.allclose(model.energies(x), expected) and torch.allclose(model(x), expected)  # C starts at 0


def _recorded_inputs(module, method="forward"):
    """Wrap ``module.<method>`` so that the first argument of every call is recorded."""
    seen, original = [], getattr(module, method)

    def wrapper(x, *args, **kwargs):
        seen.append(x.detach().clone())
        return original(x, *args, **kwargs)

    setattr(module, method, wrapper)
    return seen


def test_tied_autoencoder_losses():
    torch.manual_seed(0)
    x = torch.rand(8, 6)
    cae = en.TiedAutoencoder(6, 4, "sigmoid", contraction_weight=1.0)
    plain = ((cae(x) - x) ** 2).sum(-1).mean()
    assert torch.allclose(cae.loss(x), plain + en.contraction(x, cae.W, cae.b_h).mean())
    dae = en.TiedAutoencoder(6, 4, "modulus", corruption=0.5)
    dae.eval()
    assert torch.allclose(dae.loss(x), ((dae(x) - x) ** 2).sum(-1).mean())  # no noise in eval mode


def test_denoising_masks_the_stated_fraction_in_training_mode():
    torch.manual_seed(0)
    x = 0.1 + torch.rand(500, 20)  # no zero pixels: every zero the model sees is masking noise
    dae = en.TiedAutoencoder(20, 8, "modulus", corruption=0.3)
    dae.train()
    seen = _recorded_inputs(dae)
    loss = dae.loss(x)
    assert len(seen) == 1 and seen[0].shape == x.shape
    masked = seen[0] == 0
    assert abs(masked.double().mean() - 0.3) < 0.02  # the corruption level, not 1 - level
    assert torch.equal(seen[0][~masked], x[~masked])  # the other pixels are kept as they are
    assert torch.allclose(loss, ((dae(seen[0]) - x) ** 2).sum(-1).mean())  # the target is the clean x

    factored = en.FactoredCSAE(3, 20, 5, 4)
    y = torch.arange(500) % 3
    seen = _recorded_inputs(factored, "reconstruct")
    factored.denoising_loss(x, y, corruption=0.3)
    assert abs((seen[0] == 0).double().mean() - 0.3) < 0.02


def test_factored_model_is_a_csae_with_factored_weights():
    torch.manual_seed(0)
    model = en.FactoredCSAE(n_classes=3, n_input=6, n_factors=5, n_hidden=4)
    with torch.no_grad():
        model.w_f.normal_()
        model.b_r.normal_()
    x, y = torch.rand(7, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    Wk = model.class_weights()
    plain = torch.stack([en.energy(x, Wk[k], model.b_h[k], model.b_r[k]) for k in range(3)], 1)
    assert torch.allclose(model.energies(x), plain)
    rec = torch.stack([en.reconstruct(x[i:i + 1], Wk[y[i]], model.b_h[y[i]], model.b_r[y[i]])[0] for i in range(7)])
    assert torch.allclose(model.reconstruct(x, y), rec)


def test_rbm_free_energies_match_the_autoencoder_energies():
    W, b_h, b_r, x = _params(d=5, h=6)
    gaussian = en.rbm_negative_free_energy(x, W, b_h, b_r, "gaussian")
    assert torch.allclose(gaussian, en.energy(x, W, b_h, b_r, "sigmoid"), atol=1e-10)
    binary_x = (x > 0).to(x.dtype)
    binary = en.rbm_negative_free_energy(binary_x, W, b_h, b_r, "binary")
    assert torch.allclose(binary, torch.nn.functional.softplus(binary_x @ W.T + b_h).sum(-1) + binary_x @ b_r)
    with pytest.raises(ValueError, match="at most 16"):
        en.rbm_negative_free_energy(x, torch.zeros(17, 5), torch.zeros(17), b_r)


def _blobs(n=200, d=6):
    torch.manual_seed(0)
    x = torch.cat([torch.rand(n, d) * 0.3, 0.7 + torch.rand(n, d) * 0.3])
    return x, torch.cat([torch.zeros(n), torch.ones(n)]).long()


def test_pretraining_lowers_each_class_loss():
    x, y = _blobs()
    aes = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=20, lr=0.01)
    for k in range(2):
        torch.manual_seed(k)  # the initialisation pretraining started from (seed 0: torch.manual_seed(0 * 1000 + k))
        start = en.TiedAutoencoder(6, 3, "sigmoid")
        with torch.no_grad():
            start.b_r.copy_(x[y == k].mean(0))
        rows = x[y == k]
        assert aes[k].loss(rows) < 0.8 * start.loss(rows)


def _unequal_classes(sizes=(130, 201, 95), d=12):
    """Three classes of unequal sizes, shuffled; with batch 50: 3, 4 (a last row folded in) and 2 batches."""
    torch.manual_seed(0)
    x = torch.cat([0.2 * k + 0.4 * torch.rand(n, d) for k, n in enumerate(sizes)])
    y = torch.cat([torch.full((n,), k) for k, n in enumerate(sizes)])
    order = torch.randperm(len(x))
    return x[order], y[order]


@pytest.mark.parametrize("name", ["sigmoid", "modulus"])  # contraction penalty; denoising
def test_batched_class_autoencoders_have_the_separate_losses_and_gradients(name):
    x, y = _unequal_classes()
    smooth = en.ACTIVATIONS[name].smooth
    separate = [en.TiedAutoencoder(12, 5, name, contraction_weight=0.5 if smooth else 0.0,
                                   corruption=0.0 if smooth else 0.3) for _ in range(3)]
    for k, ae in enumerate(separate):
        with torch.no_grad():
            ae.b_h.normal_(), ae.b_r.copy_(x[y == k].mean(0))
    stacked = en.ClassAutoencoders.from_autoencoders(separate)
    batches = [x[y == k][: 40 - 7 * k] for k in range(3)]  # unequal batches: padded and masked in the stack
    xs, mask = torch.zeros(3, 40, 12), torch.zeros(3, 40, dtype=torch.bool)
    noise = torch.rand(3, 40, 12)
    for k, batch in enumerate(batches):
        xs[k, : len(batch)], mask[k, : len(batch)] = batch, True
    losses = stacked.losses(xs, mask, noise)
    grads = torch.autograd.grad(losses.sum(), [stacked.W, stacked.b_h, stacked.b_r])
    for k, (ae, batch) in enumerate(zip(separate, batches)):
        ae.train()
        ae.forward = _with_input(ae.forward, batch * (noise[k, : len(batch)] >= 0.3)) if not smooth else ae.forward
        loss = ae.loss(batch)
        assert torch.allclose(losses[k], loss, atol=1e-12), k
        for stacked_grad, own in zip(grads, torch.autograd.grad(loss, [ae.W, ae.b_h, ae.b_r])):
            assert torch.allclose(stacked_grad[k], own, atol=1e-12), k
    assert torch.allclose(stacked.energies(x), torch.stack([ae.energy(x) for ae in separate], 1))
    empty = stacked.losses(xs, torch.zeros_like(mask), noise)  # a class without rows: loss 0 and no gradient
    assert torch.equal(empty, torch.zeros(3))


def _with_input(forward, source):
    """``forward`` called on ``source`` whatever it is given: the separate model sees the stack's corrupted input."""
    return lambda _: forward(source)


def test_class_batches_follow_each_class_schedule():
    x, y = _unequal_classes()
    index, mask, steps = en.class_batches(y, 3, epochs=2, batch_size=50, seeds=[5, 6, 7])
    assert steps == [6, 8, 4] and index.shape == (8, 3, 51)  # 3, 4 and 2 batches a epoch; the fold makes one of 51
    for k in range(3):
        rows = torch.nonzero(y == k)[:, 0]
        for epoch in range(2):
            seen = torch.cat([index[t, k][mask[t, k]] for t in range(epoch * steps[k] // 2, (epoch + 1) * steps[k] // 2)])
            assert torch.equal(seen.sort().values, rows)  # every epoch: each row of the class once, no other row
        assert not mask[steps[k]:, k].any()  # then the class idles
    with pytest.raises(ValueError, match="class 3 has no rows"):
        en.class_batches(y, 4, epochs=1, batch_size=50, seeds=[0, 1, 2, 3])


@pytest.mark.parametrize("name", ["sigmoid", "modulus"])
def test_batched_pretraining_equals_the_sequential_one(name):
    """Same initial weights, batches, noise and optimiser per class: the same autoencoders, to float rounding."""
    x, y = _unequal_classes()
    options = dict(epochs=3, lr=0.01, seed=2, batch_size=50, progress=False)
    torch.manual_seed(123)
    sequential = en.pretrain_class_autoencoders(x, y, 3, 5, name, batched=False, **options)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    batched = en.pretrain_class_autoencoders(x, y, 3, 5, name, batched=True, **options)
    assert torch.equal(torch.get_rng_state(), state)  # the batched path draws from its own generators only
    for k, (a, b) in enumerate(zip(sequential, batched)):
        for p, q in ((a.W, b.W), (a.b_h, b.b_h), (a.b_r, b.b_r)):
            assert torch.allclose(p, q, atol=1e-12), (name, k)
        assert not b.training and torch.allclose(a.energy(x), b.energy(x), atol=1e-10)


@pytest.mark.parametrize("name", ["sigmoid", "modulus"])
def test_batched_pretraining_lowers_each_class_reconstruction_error(name):
    x, y = _unequal_classes()
    start = en.ClassAutoencoders(3, 12, 5, name, generators=[torch.Generator().manual_seed(k) for k in range(3)])
    with torch.no_grad():
        start.b_r.copy_(torch.stack([x[y == k].mean(0) for k in range(3)]))
    trained = en.pretrain_class_autoencoders(x, y, 3, 5, name, epochs=30, lr=0.01, batch_size=50, progress=False)

    def errors(autoencoders):  # each class's squared reconstruction error on its own rows, clean input
        with torch.no_grad():
            return torch.stack([((ae(x[y == k]) - x[y == k]) ** 2).sum(-1).mean() for k, ae in enumerate(autoencoders)])

    assert (errors(trained) < 0.8 * errors(start.autoencoders())).all(), (errors(start.autoencoders()), errors(trained))


def test_finetuning_repairs_swapped_autoencoders():
    """Start from the worst pretrained model: each class scored by the other class's autoencoder."""
    x, y = _blobs()
    aes = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=10, lr=0.01)
    model = en.CSAE.from_autoencoders(aes[::-1])
    assert en.error_rate(model, x, y) > 0.8  # the swap makes the energies point to the wrong class
    history = en.finetune(model, x, y, x, y, epochs=10, lr=0.05, desc="test")
    assert history[-1] < 0.1 * history[0]
    assert en.error_rate(model, x, y) < 0.02


def test_weight_decay_shrinks_the_finetuned_weights():
    """The L2 penalty the paper validated: the same fine-tuning ends with smaller weights, and fits less well."""
    x, y = _blobs()
    aes = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=10, lr=0.01)
    plain, decayed = en.CSAE.from_autoencoders(aes[::-1]), en.CSAE.from_autoencoders(aes[::-1])
    loss = en.finetune(plain, x, y, None, None, epochs=5, lr=0.05, progress=False)
    decayed_loss = en.finetune(decayed, x, y, None, None, epochs=5, lr=0.05, weight_decay=0.5, progress=False)
    assert decayed.W.norm() < 0.7 * plain.W.norm(), (decayed.W.norm(), plain.W.norm())
    assert decayed_loss[-1] > loss[-1]


def test_equal_filter_norms_equalise_each_class_and_keep_training():
    """The paper's "normalizing filters to have equal norm after each gradient step": after pretraining and after
    fine-tuning every class's filters share one norm (they do not without it), and fine-tuning still fits."""
    x, y = _blobs()

    def spread(W):  # the largest relative deviation of a filter norm from its class's mean
        norms = W.detach().norm(dim=-1)
        return float(((norms - norms.mean(1, keepdim=True)).abs() / norms.mean(1, keepdim=True)).max())

    plain = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=10, lr=0.01, progress=False)
    equal = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=10, lr=0.01, equal_filter_norms=True,
                                           progress=False)
    assert spread(torch.stack([ae.W for ae in plain])) > 0.05
    assert spread(torch.stack([ae.W for ae in equal])) < 1e-5
    model = en.CSAE.from_autoencoders(plain[::-1])  # starts wrong: fine-tuning has work to do
    before = en.error_rate(model, x, y)
    en.finetune(model, x, y, None, None, epochs=6, lr=0.05, equal_filter_norms=True, progress=False)
    assert spread(model.W) < 1e-5 and en.error_rate(model, x, y) < before
    with pytest.raises(ValueError, match="batched"):
        en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=1, lr=0.01, batched=False, equal_filter_norms=True)


def test_finetuning_ends_on_the_best_validation_epoch_and_reports_every_epoch():
    """``on_epoch_end`` sees each epoch's model; the model returned is the one of lowest validation error."""
    x, y = _blobs()
    aes = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=10, lr=0.01)
    model = en.CSAE.from_autoencoders(aes[::-1])  # starts wrong: the validation error moves
    torch.manual_seed(1)
    x_val = x + 0.8 * torch.randn_like(x)
    seen = []
    en.finetune(model, x, y, x_val, y, epochs=6, lr=0.05, progress=False,
                on_epoch_end=lambda epoch, loss: seen.append((epoch, en.error_rate(model, x_val, y))))
    assert [epoch for epoch, _ in seen] == list(range(6))
    assert len({error for _, error in seen}) > 1  # the choice matters
    assert en.error_rate(model, x_val, y) == min(error for _, error in seen)
    last = en.CSAE.from_autoencoders(aes[::-1])
    en.finetune(last, x, y, None, None, epochs=6, lr=0.05, progress=False)  # no validation digits: the last epoch
    assert en.error_rate(last, x_val, y) == seen[-1][1] != min(error for _, error in seen)


def test_the_validated_rate_is_the_one_that_repairs_the_model():
    """From swapped autoencoders (every digit scored by the wrong class) a tiny rate cannot repair the model in a few
    epochs and a sound one can: the validation digits must pick the sound one, whichever order the rates come in,
    and the model returned is that rate's."""
    x, y = _blobs()
    aes = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=10, lr=0.01, progress=False)[::-1]
    torch.manual_seed(1)
    x_val = x + 0.3 * torch.randn_like(x)
    for rates in ((1e-6, 0.05), (0.05, 1e-6)):
        with pytest.warns(UserWarning, match="largest"):  # the sound rate is the grid's edge: say so
            rate, model, val_errors = en.pick_finetune_rate(aes, x, y, x_val, y, rates=rates, epochs=4)
        assert rate == 0.05 and val_errors[1e-6] > 0.5 > 0.1 > val_errors[0.05], val_errors
        assert en.error_rate(model, x_val, y) == val_errors[0.05]
    assert en.error_rate(en.CSAE.from_autoencoders(aes), x_val, y) > 0.5  # the autoencoders were not touched
    with pytest.raises(ValueError, match="at least one"):
        en.pick_finetune_rate(aes, x, y, x_val, y, rates=(), epochs=1)


def test_a_pick_at_the_grids_edge_extends_the_grid_beyond_that_edge():
    """``extend`` continues the grid geometrically past the edge the pick sits on, and stops once the pick is inside:
    above (0.05 is the best of the grid; 2.5 is worse, so 0.05 is inside and nothing more is tried) and below (at 10
    and 30 the model barely repairs; 10 * 10 / 30 does, and with no extension left it is the edge: warned)."""
    x, y = _blobs()
    aes = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=10, lr=0.01, progress=False)[::-1]
    torch.manual_seed(1)
    x_val = x + 0.3 * torch.randn_like(x)
    with pytest.warns(UserWarning, match="largest"):
        rate, _, val_errors = en.pick_finetune_rate(aes, x, y, x_val, y, rates=(1e-4, 1e-3, 0.05), epochs=4)
    assert rate == 0.05 and list(val_errors) == [1e-4, 1e-3, 0.05]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the extended grid: no warning
        rate, model, val_errors = en.pick_finetune_rate(aes, x, y, x_val, y, rates=(1e-4, 1e-3, 0.05), epochs=4, extend=2)
    assert rate == 0.05 and list(val_errors) == [1e-4, 1e-3, 0.05, 2.5] and val_errors[2.5] > val_errors[0.05]
    with pytest.warns(UserWarning, match="^blobs: .* smallest"):  # named: two validations' warnings both show
        rate, model, val_errors = en.pick_finetune_rate(aes, x, y, x_val, y, rates=(10.0, 30.0), epochs=4, extend=1,
                                                        desc="blobs")
    assert list(val_errors) == [10.0, 30.0, 3.33] and rate == 3.33, val_errors
    assert val_errors[3.33] < 0.05 < val_errors[10.0] and en.error_rate(model, x_val, y) == val_errors[3.33]
    with pytest.raises(ValueError, match="extend"):
        en.pick_finetune_rate(aes, x, y, x_val, y, rates=(0.01,), epochs=1, extend=-1)


def test_factored_pretraining_lowers_the_denoising_loss():
    x, y = _blobs()
    torch.manual_seed(0)
    model = en.FactoredCSAE(2, 6, 4, 3)
    history = en.pretrain_factored(model, x, y, epochs=10, lr=0.01, corruption=0.2)
    assert torch.allclose(model.b_r[0], x[y == 0].mean(0), atol=0.3)
    assert len(history) == 10 and history[-1] < 0.5 * history[0]


def test_kmeans_energy_is_the_potential_of_the_max_autoencoder_across_cells():
    g = torch.Generator().manual_seed(1)
    centres = F.normalize(torch.randn(4, 3, generator=g), dim=1)
    start, end = torch.randn(2, 20, 3, generator=g) * 2
    cells = lambda v: (v @ centres.T).argmax(-1)  # noqa: E731
    assert (cells(start) != cells(end)).sum() >= 10  # most segments cross a boundary

    def gap(w, energy_fn):
        work = en.line_integral(lambda v: en.kmeans_reconstruct(v, w) - v, start, end, steps=20000)
        return float((energy_fn(end, w) - energy_fn(start, w) - work).abs().max())

    assert gap(centres, en.kmeans_energy) < 1e-3
    assert gap(centres, lambda v, w: -en.kmeans_energy(v, w)) > 0.1  # wrong sign
    assert gap(centres, lambda v, w: 2 * en.kmeans_energy(v, w)) > 0.1  # wrong scale (the printed one has both)
    assert gap(centres * torch.tensor([[0.5], [1.0], [1.0], [1.5]]), en.kmeans_energy) > 0.1  # unequal norms


def test_kmeans_reconstruction_is_the_nearest_unit_centre():
    g = torch.Generator().manual_seed(2)
    centres = F.normalize(torch.randn(5, 4, generator=g), dim=1)
    x = torch.randn(100, 4, generator=g)
    nearest = centres[torch.cdist(x, centres).argmin(1)]
    assert torch.equal(en.kmeans_reconstruct(x, centres), nearest)


def test_divergence_of_the_field_is_the_closed_form_laplacian():
    W, b_h, b_r, x = _params(d=5, h=7)
    for name in ("sigmoid", "tanh", "linear", "square"):
        field = lambda v: en.reconstruct(v, W, b_h, b_r, name) - v  # noqa: E731
        assert torch.allclose(en.divergence(field, x), en.laplacian(x, W, b_h, name), atol=1e-5), name
        energy = lambda v: en.energy(v, W, b_h, b_r, name)  # noqa: E731
        assert torch.allclose(en.fd_laplacian(energy, x), en.laplacian(x, W, b_h, name), atol=1e-3), name
    centres = F.normalize(torch.randn(4, 5), dim=1)
    kmeans = en.fd_laplacian(lambda v: en.kmeans_energy(v, centres), x)
    assert torch.allclose(kmeans, torch.full_like(kmeans, -5.0), atol=1e-4)  # Eq. 44


def test_fixed_points_and_their_kinds():
    field = lambda t: t - t**3  # noqa: E731  (zeros -1, 0, 1, two of them on the grid)
    energy = lambda t: t**2 / 2 - t**4 / 4  # noqa: E731  (dE/dt = field)
    for n in (4001, 400, 7):
        points, crossing = en.fixed_points_1d(field, -2.0, 2.0, n=n)
        assert torch.allclose(points, torch.tensor([-1.0, 0.0, 1.0]), atol=1e-12), n
        assert crossing.tolist() == [1, -1, 1]
    assert en.stationary_kind(energy, points).tolist() == [1, -1, 1]  # maxima at the attractors
    assert en.stationary_kind(lambda t: -energy(t), points).tolist() == [-1, 1, -1]
    assert en.stationary_kind(lambda t: energy(t) + 0.1 * t, points).tolist() == [0, 0, 0]  # not stationary there
    points, crossing = en.fixed_points_1d(lambda t: 0.3 - t, -1.0, 1.0, n=10)
    assert torch.allclose(points, torch.tensor([0.3])) and crossing.tolist() == [1]


def test_fit_constants_reaches_the_convex_optimum():
    g = torch.Generator().manual_seed(3)
    energies = torch.randn(600, 5, generator=g) * 3 + torch.tensor([0.0, 4.0, -2.0, 1.0, 8.0])
    y = (energies + torch.randn(600, 5, generator=g) * 4).argmax(1)
    C, loss, gradient_norm = en.fit_constants(energies, y)
    assert gradient_norm < 1e-6 and abs(float(C.sum())) < 1e-6
    C = C.clone().requires_grad_(True)
    objective = F.cross_entropy(energies + C, y)
    (gradient,) = torch.autograd.grad(objective, C)
    assert float(gradient.norm()) < 1e-6 and abs(objective.item() - loss) < 1e-10  # autograd agrees: a stationary point
    # class frequencies are matched: the optimality condition of the constants
    assert torch.allclose(F.softmax(energies + C.detach(), 1).mean(0), torch.bincount(y, minlength=5) / 600.0, atol=1e-6)
    for _ in range(20):  # convex: no nearby point is lower
        assert float(F.cross_entropy(energies + C.detach() + 0.05 * torch.randn(5, generator=g), y)) > loss
    model = en.EnergyOffsets(5)
    history = en.finetune(model, energies, y, energies, y, epochs=3, lr=0.01, desc="test")
    assert F.cross_entropy(model(energies), y).item() > loss and len(history) == 3


def test_settings_profiles_are_stated_changes_from_the_full_profile():
    assert en.BUDGET.settings("full") == en.Settings()
    cpu, smoke, gpu = (en.BUDGET.settings(p) for p in ("cpu", "smoke", "gpu"))
    assert (cpu.n_hidden, cpu.n_factors, cpu.pretrain_epochs, cpu.finetune_epochs) == (100, 200, 10, 10)
    assert cpu.seeds == (0, 1, 2) and cpu.n_train is None and cpu.factored_pretrain_lr == 0.01
    assert en.Settings().factored_pretrain_lr == 0.003 and en.Settings().n_factors == 300
    assert (gpu.n_hidden, gpu.n_factors, gpu.factored_pretrain_lr) == (300, 300, 0.003)  # the paper's sizes
    assert (gpu.pretrain_epochs, gpu.finetune_epochs, gpu.seeds) == (cpu.pretrain_epochs, cpu.finetune_epochs, cpu.seeds)
    assert smoke.n_train == 2000 and smoke.n_val == 500 and smoke.toy_1d_epochs == 150
    for profile in PROFILES:
        for row in en.BUDGET.deviations(profile):
            assert row["reason"].strip() and row["value"] != row["paper"]
