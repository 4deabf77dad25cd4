import pytest
import torch

from clustutils import energy as en



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


def test_tied_autoencoder_losses():
    torch.manual_seed(0)
    x = torch.rand(8, 6)
    cae = en.TiedAutoencoder(6, 4, "sigmoid", contraction_weight=1.0)
    plain = ((cae(x) - x) ** 2).sum(-1).mean()
    assert torch.allclose(cae.loss(x), plain + en.contraction(x, cae.W, cae.b_h).mean())
    dae = en.TiedAutoencoder(6, 4, "modulus", corruption=0.5)
    dae.eval()
    assert torch.allclose(dae.loss(x), ((dae(x) - x) ** 2).sum(-1).mean())  # no noise in eval mode


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


def test_pretrain_and_finetune_separate_two_blobs():
    torch.manual_seed(0)
    x = torch.cat([torch.rand(200, 6) * 0.3, 0.7 + torch.rand(200, 6) * 0.3])
    y = torch.cat([torch.zeros(200), torch.ones(200)]).long()
    aes = en.pretrain_class_autoencoders(x, y, 2, 3, "sigmoid", epochs=3, lr=0.01)
    assert len(aes) == 2 and torch.allclose(aes[1].b_r, x[200:].mean(0), atol=0.2)
    model = en.CSAE.from_autoencoders(aes)
    en.finetune(model, x, y, x, y, epochs=5, lr=0.01)
    assert en.error_rate(model, x, y) < 0.05
