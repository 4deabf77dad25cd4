import pytest
import torch
from sklearn.datasets import make_blobs

from clustutils import deep_clustering as dc
from clustutils.metrics import cluster_acc


@pytest.fixture
def blobs():
    x, y = make_blobs(300, n_features=8, centers=3, cluster_std=0.4, random_state=0)
    x = torch.from_numpy((x - x.mean(0)) / x.std()).float()
    return x, y


def _pretrained(x, seed=0):
    torch.manual_seed(seed)
    ae = dc.Autoencoder(x.shape[1], 3, hidden=(16,))
    dc.pretrain_autoencoder(ae, x, epochs=30, batch_size=32, progress=False)
    return ae


def _centroids(z, y):
    return torch.stack([z[torch.as_tensor(y) == k].mean(0) for k in range(3)])


def test_autoencoder_shapes_and_glorot_init():
    ae = dc.Autoencoder(20, 4, hidden=(8, 6))
    z, x_hat = ae(torch.randn(5, 20))
    assert z.shape == (5, 4) and x_hat.shape == (5, 20)
    first = ae.encoder[0]
    bound = (6 / (20 + 8)) ** 0.5
    assert first.weight.abs().max() <= bound and first.bias.abs().max() == 0


def test_pretraining_lowers_the_reconstruction_error(blobs):
    x, _ = blobs
    torch.manual_seed(0)
    ae = dc.Autoencoder(8, 3, hidden=(16,))
    history = dc.pretrain_autoencoder(ae, x, epochs=20, batch_size=32, progress=False)
    assert history[-1] < 0.5 * history[0]


def test_orthonormality_penalty_is_zero_exactly_for_orthonormal_rows():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    assert dc.orthonormality_penalty(q[:3]) < 1e-20
    assert dc.orthonormality_penalty(2 * q[:3]) == pytest.approx(3 * 9)  # (4 - 1)^2 on each diagonal entry


def test_dec_target_is_sharper_than_q_and_rows_sum_to_one(blobs):
    x, y = blobs
    ae = _pretrained(x)
    model = dc.DEC(ae, _centroids(dc.encode(ae.encoder, x), y))
    dc.refresh_target(model, x)
    q = model.soft_assign(x).detach()
    assert torch.allclose(model.target.sum(1), torch.ones(len(x)), atol=1e-5)
    assert (model.target.max(1).values >= q.max(1).values - 1e-6).all()


@pytest.mark.parametrize("cls", [dc.DEC, dc.IDEC, dc.DCN, dc.DKM])
def test_baselines_keep_separated_blobs_separated(blobs, cls):
    x, y = blobs
    ae = _pretrained(x)
    model = cls(ae, _centroids(dc.encode(ae.encoder, x), y))
    history = dc.train_clustering(model, x, epochs=5, batch_size=32, progress=False)
    assert len(history) == 5 and all(torch.isfinite(torch.tensor(history)))
    assert cluster_acc(y, model.predict(x).numpy()) > 0.95


def test_dcn_centroid_update_is_a_running_mean():
    ae = dc.Autoencoder(4, 2, hidden=(3,))
    model = dc.DCN(ae, torch.zeros(1, 2))
    model._last = (torch.tensor([[2.0, 0.0], [4.0, 0.0]]), torch.tensor([0, 0]))
    model.update_centroids()  # counts start at 1 (the initial centroid): mean of 0, 2, 4
    assert torch.allclose(model.mu[0], torch.tensor([2.0, 0.0]))


def test_aecm_clusters_blobs_and_its_loss_has_three_parts(blobs):
    x, y = blobs
    torch.manual_seed(0)
    model = dc.AECM(8, 3, n_latent=3, alpha=20.0, beta=1.0, lam=0.1, hidden=(16,))  # alpha 1.1 merges two blobs
    terms = model.loss_terms(x)
    assert set(terms) == {"cm", "reconstruction", "orthonormality"}
    assert torch.isclose(model.loss(x), terms["cm"] + 1.0 * terms["reconstruction"] + 0.1 * terms["orthonormality"])
    dc.train_clustering(model, x, epochs=40, batch_size=32, lr=1e-2, progress=False)
    assert cluster_acc(y, model.predict(x).numpy()) > 0.9


def test_rescale_codes_keeps_the_reconstruction():
    torch.manual_seed(0)
    ae = dc.Autoencoder(12, 3, hidden=(8,)).double()
    x = torch.rand(10, 12, dtype=torch.float64)
    z, x_hat = ae(x)
    dc.rescale_codes(ae, 0.25)
    z2, x_hat2 = ae(x)
    assert torch.allclose(z2, 0.25 * z) and torch.allclose(x_hat2, x_hat)


def test_dcn_batched_update_equals_the_sample_by_sample_rule():
    torch.manual_seed(0)
    mu0, z, s = torch.randn(3, 2), torch.randn(20, 2), torch.randint(0, 3, (20,))
    model = dc.DCN(dc.Autoencoder(4, 2, hidden=(3,)), mu0)
    model._last = (z, s)
    model.update_centroids()
    mu, counts = mu0.clone(), torch.ones(3)
    for zi, k in zip(z, s.tolist()):
        counts[k] += 1
        mu[k] += (zi - mu[k]) / counts[k]
    assert torch.allclose(model.mu, mu, atol=1e-6) and torch.equal(model.counts, counts)
