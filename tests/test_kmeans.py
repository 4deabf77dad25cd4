import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from clustutils.kmeans import kmeans
from clustutils.metrics import cluster_acc


def test_recovers_separated_blobs():
    x, y = make_blobs(600, n_features=5, centers=4, cluster_std=0.5, random_state=0)
    result = kmeans(x, 4, n_init=5)
    assert cluster_acc(y, result.labels) == 1.0
    assert result.centers.shape == (4, 5) and result.n_init == 5


def test_inertia_matches_scikit_learn_within_half_a_percent():
    x, _ = make_blobs(2000, n_features=20, centers=10, cluster_std=4.0, random_state=1)
    ours = kmeans(x.astype(np.float32), 10, n_init=10, seed=0).inertia
    reference = KMeans(10, n_init=10, random_state=0).fit(x.astype(np.float32)).inertia_
    assert abs(ours - reference) / reference < 0.005


def test_more_restarts_never_worse_and_accepts_tensors():
    x, _ = make_blobs(500, n_features=3, centers=6, cluster_std=2.0, random_state=2)
    few = kmeans(torch.from_numpy(x), 6, n_init=1, seed=3)
    many = kmeans(torch.from_numpy(x), 6, n_init=8, seed=3)
    assert many.inertia <= few.inertia
    assert kmeans(x, 6, n_init=8, seed=3).inertia == many.inertia  # reproducible


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        kmeans(np.zeros((5, 2)), 0)
    with pytest.raises(ValueError, match="cannot make 10 clusters"):
        kmeans(np.zeros((5, 2)), 10)


def test_raw_mnist_test_pixels_accuracy_in_literature_range(shared_data):
    from clustutils.data import load

    ds = load("mnist", "test", root=shared_data)
    acc = cluster_acc(ds.labels, kmeans(ds.features(), 10, n_init=3, seed=0).labels)
    assert 0.50 <= acc <= 0.60, acc


def test_torch_backend_finds_the_same_partition_as_scikit_learn_on_blobs():
    from sklearn.datasets import make_blobs

    from clustutils.metrics import ari

    x, y = make_blobs(2000, n_features=6, centers=5, cluster_std=1.5, random_state=1)
    x = x.astype(np.float32)
    ours = kmeans(torch.from_numpy(x), 5, n_init=8, seed=0, backend="torch")
    reference = kmeans(x, 5, n_init=8, seed=0, backend="sklearn")
    assert ari(reference.labels, ours.labels) > 0.99
    assert abs(ours.inertia / reference.inertia - 1) < 1e-3
    again = kmeans(torch.from_numpy(x), 5, n_init=8, seed=0, backend="torch")
    assert np.array_equal(again.labels, ours.labels)  # reproducible for a seed


def test_torch_backend_improves_on_its_seeding_and_keeps_the_best_restart():
    from clustutils import kmeans as km

    x = torch.randn(500, 3)
    x_sq = (x**2).sum(1)
    seeded = km._kmeanspp(x, x_sq, 4, 1, torch.Generator().manual_seed(0))
    seeding_inertia = float(km._sq_distances(x, x_sq, seeded).min(2).values.sum())
    one = km.kmeans_torch(x, 4, n_init=1, seed=0)
    assert one.inertia < seeding_inertia  # Lloyd's steps lower the seeding's inertia
    many = km.kmeans_torch(x, 4, n_init=20, seed=0, restarts_per_chunk=7)
    assert many.inertia <= one.inertia + 1e-3
    assert np.allclose(many.inertia, ((x.numpy() - many.centers[many.labels]) ** 2).sum(), rtol=1e-4)


@pytest.mark.data
def test_torch_backend_matches_scikit_learn_inertia_on_mnist(shared_data):
    from clustutils.data import load

    x = load("mnist", "test", root=shared_data).features()[:3000]
    reference = kmeans(x, 10, n_init=5, seed=0, backend="sklearn")
    ours = kmeans(torch.from_numpy(x), 10, n_init=5, seed=0, backend="torch")
    assert abs(ours.inertia / reference.inertia - 1) < 0.005
