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
