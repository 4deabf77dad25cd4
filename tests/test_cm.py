import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from clustutils.papers import ch04_cm as cm
from clustutils.metrics import cluster_acc


pytestmark = pytest.mark.usefixtures("double_precision")


def test_first_three_terms_are_the_soft_kmeans_objective():
    g = torch.Generator().manual_seed(0)
    x, mu = torch.randn(20, 6, generator=g), torch.randn(4, 6, generator=g)
    gamma = torch.softmax(torch.randn(20, 4, generator=g), 1)
    t = cm.cm_loss_terms(x, gamma, mu, alpha=1.0)
    soft_kmeans = (gamma * ((x[:, None] - mu) ** 2).sum(-1)).sum(1).mean()
    assert torch.allclose(t["E1"] + t["E2"] + t["E3"], soft_kmeans)
    assert t["E4"] == 0  # alpha = 1: a flat prior


def test_one_hot_assignments_give_the_kmeans_loss():
    g = torch.Generator().manual_seed(1)
    x, mu = torch.randn(30, 3, generator=g), torch.randn(5, 3, generator=g)
    nearest = ((x[:, None] - mu) ** 2).sum(-1).argmin(1)
    t = cm.cm_loss_terms(x, torch.nn.functional.one_hot(nearest, 5).double(), mu, alpha=1.0)
    assert t["E2"] == 0 and t["E3"] == 0
    assert torch.allclose(t["E1"], ((x - mu[nearest]) ** 2).sum(1).mean())


def test_dirichlet_term_prefers_balanced_clusters():
    balanced = torch.full((8, 2), 0.5)
    skewed = torch.tensor([[0.9, 0.1]] * 8)
    mu, x = torch.zeros(2, 3), torch.zeros(8, 3)
    assert cm.cm_loss_terms(x, balanced, mu, 5.0)["E4"] < cm.cm_loss_terms(x, skewed, mu, 5.0)["E4"]


def test_loss_is_the_authors_tensorflow_loss_summed_over_the_batch():
    # Module/module_CM.py (CM.loss) of github.com/Ahcene-B/clustering-Module @133741d, written out term by term.
    # Broken variants that fail: the loss divided by batch x dimension (the book's earlier scale), E4 once per sample.
    g = torch.Generator().manual_seed(4)
    x = torch.randn(12, 5, generator=g)
    model = cm.ClusteringModule(5, 3, alpha=7.0).double()
    gamma, u = model(x), model.mu
    e1 = ((x - gamma @ u) ** 2).sum()
    e2 = ((gamma * (1 - gamma)).sum(0) * (u**2).sum(1)).sum()
    gu = (gamma.T @ gamma) * (u @ u.T)
    e3 = -(gu - torch.diag(torch.diag(gu))).sum()
    e4 = (torch.log(gamma.mean(0) + 1e-10) * (1 - 7.0)).sum()
    assert torch.allclose(model.loss(x), e1 + e2 + e3 + e4)


def test_kmeanspp_init_assigns_each_centroid_to_itself():
    x = torch.randn(200, 10)
    model = cm.ClusteringModule(10, 4)
    cm.kmeanspp_init(model, x, seed=0)
    assert model.predict(model.mu.detach()).tolist() == [0, 1, 2, 3]


def test_fit_cm_is_the_seeding_then_the_training_and_improves_on_the_seeding():
    # The notebooks' one call for the CM on data: the same module as kmeanspp_init + train_cm by hand, bit for bit,
    # and a lower loss than its k-means++ start.  Broken variants that fail: no training (loss unchanged), another
    # seed for the seeding than for the shuffling (weights differ).
    x, _ = make_blobs(400, n_features=4, centers=3, cluster_std=1.0, random_state=1)
    x = torch.from_numpy((x - x.mean(0)) / x.std())
    fitted = cm.fit_cm(x, 3, alpha=5.0, epochs=5, batch_size=40, lr=1e-2, seed=3)
    start = cm.ClusteringModule(4, 3, alpha=5.0)
    cm.kmeanspp_init(start, x, seed=3)
    by_hand = copy.deepcopy(start)
    cm.train_cm(by_hand, x, epochs=5, batch_size=40, lr=1e-2, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(fitted.state_dict().values(), by_hand.state_dict().values()))
    with torch.no_grad():
        assert fitted.loss(x) < 0.9 * start.loss(x)


def test_training_clusters_separated_blobs_from_a_bad_start():
    # From three centroids inside one blob the CM starts near one cluster; training must find all three.
    # Broken variants that fail: centroids frozen (mu.requires_grad_(False)): ACC stays 0.33-0.67.
    x, y = make_blobs(600, n_features=5, centers=3, cluster_std=0.5, random_state=0)
    x = torch.from_numpy((x - x.mean(0)) / x.std())
    torch.manual_seed(0)
    model = cm.ClusteringModule(5, 3, alpha=2.0)
    inside_one_blob = x[torch.as_tensor(y) == 0][:3]
    cm.isotropic_gmm_init(model, inside_one_blob, variance=1.0)
    before = cluster_acc(y, model.predict(x))
    assert before < 0.7
    history = cm.train_cm(model, x, epochs=30, batch_size=50, lr=1e-2)
    assert len(history) == 31 and history[-1] < 0.5 * history[0]
    assert cluster_acc(y, model.predict(x)) > 0.95


def test_isotropic_gmm_init_reproduces_nearest_centroid_assignments():
    x, mu = torch.randn(300, 4), torch.randn(6, 4) * 3
    model = cm.ClusteringModule(4, 6)
    cm.isotropic_gmm_init(model, mu, variance=0.5)
    assert torch.equal(model.predict(x), torch.cdist(x, mu).argmin(1))
    assert torch.equal(model.mu.detach(), mu)


def test_supervised_cm_loss_is_two_times_one_minus_gamma_y_with_orthonormal_centroids():
    g = torch.Generator().manual_seed(3)
    logits, labels = torch.randn(40, 10, generator=g), torch.randint(0, 10, (40,), generator=g)
    gamma_y = torch.softmax(logits, 1)[torch.arange(40), labels]
    assert torch.allclose(cm.supervised_cm_loss(logits, labels), (2 * (1 - gamma_y)).mean())
    q, _ = torch.linalg.qr(torch.randn(10, 10, generator=g))  # any orthonormal centroids give the same loss
    assert torch.allclose(cm.supervised_cm_loss(logits, labels, q), (2 * (1 - gamma_y)).mean())
    shifted = q + 0.3  # E1+E2+E3 = sum_k gamma_k ||mu_y - mu_k||^2 ignores a common shift ...
    assert torch.allclose(cm.supervised_cm_loss(logits, labels, shifted), (2 * (1 - gamma_y)).mean())
    scaled = torch.eye(10) * torch.arange(1.0, 11.0)[:, None]  # ... but not unequal distances
    assert not torch.allclose(cm.supervised_cm_loss(logits, labels, scaled), (2 * (1 - gamma_y)).mean())


def test_train_supervised_learns_separable_classes_and_error_counts_mistakes():
    x, y = make_blobs(n_samples=600, centers=4, n_features=5, cluster_std=0.5, random_state=0)
    x, y = torch.from_numpy((x - x.mean(0)) / x.std(0)), torch.from_numpy(y)
    torch.manual_seed(0)
    net = torch.nn.Linear(5, 4).double()
    assert cm.classification_error(net, x, y) > 0.3
    history = cm.train_supervised(net, x, y, epochs=30, batch_size=64, lr=1e-2, progress=False)
    assert history[-1] < history[0]
    assert cm.classification_error(net, x, y, batch_size=50) < 0.02
    wrong = torch.nn.Linear(5, 4).double()
    with torch.no_grad():
        wrong.weight.zero_()
        wrong.bias.copy_(torch.tensor([1.0, 0, 0, 0]))  # always predicts class 0
    assert cm.classification_error(wrong, x, y) == pytest.approx(float((y != 0).double().mean()))


def test_dataset_settings_are_the_authors_values_rescaled_to_the_batch():
    mnist = cm.dataset_settings("mnist")
    assert (mnist.source, mnist.cm_batch, mnist.cm_alpha) == ("mnist", 111, 177.0)
    assert (mnist.aecm_n_latent, mnist.aecm_alpha, mnist.aecm_batch) == (10, 230.0, 500)
    assert (mnist.aecm_beta, mnist.aecm_lam) == (5.0, 1.0)  # Tuned_Param.py and AECM.py at 133741d
    usps = cm.dataset_settings("usps", batch=1000)
    assert usps.source == "usps" and usps.cm_batch == 1000
    assert usps.cm_alpha == pytest.approx(cm.scaled_alpha(40.0, 150, 1000))
    assert (usps.aecm_n_latent, usps.aecm_alpha, usps.aecm_batch, usps.aecm_beta, usps.aecm_lam) == (30, 3.0, 45, 0.04, 1.0)


def test_fashion_mnist_gets_the_authors_own_settings():
    fashion = cm.dataset_settings("fashion_mnist")  # Tuned_Param.py at 133741d: CM 80 / 35, AE-CM 10, 47, 13, 175
    assert (fashion.source, fashion.cm_alpha, fashion.cm_batch) == ("fashion_mnist", 80.0, 35)
    assert (fashion.aecm_n_latent, fashion.aecm_beta, fashion.aecm_alpha, fashion.aecm_batch) == (10, 47.0, 13.0, 175)


def test_dataset_settings_fall_back_to_mnist_with_alpha_rescaled_from_its_batch():
    digits = cm.dataset_settings("digits", batch=500)
    assert digits.name == "digits" and digits.source == "mnist"
    assert digits.cm_alpha == pytest.approx(1 + 176 * 500 / 111)
    assert (digits.aecm_n_latent, digits.aecm_alpha, digits.aecm_batch) == (10, 230.0, 500)
    assert cm.dataset_settings("digits").cm_alpha == 177.0  # at MNIST's own batch, MNIST's alpha
    assert cm.dataset_settings("digits", aecm_batch=250).aecm_alpha == pytest.approx(1 + 229 / 2)
    halved = cm.dataset_settings("usps", aecm_batch=90)  # lambda weighs a per-batch term, as E4: scaled; beta is not
    assert (halved.aecm_lam, halved.aecm_beta) == (pytest.approx(2.0), 0.04)


def test_per_dataset_settings_fall_back_to_mnist():
    epochs = cm.BUDGET.settings("cpu").cm_epochs
    assert cm.for_dataset(epochs, "usps") == 150 and cm.for_dataset(epochs, "digits") == epochs["mnist"]
    assert cm.for_dataset(7, "digits") == 7
