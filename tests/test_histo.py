"""clustutils.papers.ch05_histo (chapter 5) and the flowers17_patches stand-in dataset."""

import numpy as np
import pytest
import torch
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from clustutils import metrics
from clustutils.papers import ch05_histo as histo
from clustutils.data import load


MODELS = [
    (lambda: histo.FCAutoencoder(64, widths=(32, 16, 8)), 64),
    (lambda: histo.ConvAutoencoder(256, width=0.05), 256),
    (lambda: histo.ConvAutoencoderNoPool(192, width=0.05), 192),
    (lambda: histo.AlexNetAutoencoder(512, input_size=64, fc_width=32, width=0.1), 512),
    (lambda: histo.ResNetAutoencoder(256, input_size=32, width=0.1), 256),
]


@pytest.mark.parametrize("make, latent", MODELS)
def test_autoencoders_reconstruct_patches_and_expose_the_paper_latent(make, latent):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.rand(3, 3, 50, 50)
    assert model(x).shape == x.shape
    assert histo.encode(model, x).shape == (3, latent)
    with torch.no_grad():
        out = model(x)
    assert 0 <= float(out.min()) and float(out.max()) <= 1  # sigmoid output


def test_densenet_has_five_blocks_and_two_outputs():
    model = histo.densenet_classifier(2, growth_rate=4, block_config=(1, 1, 1, 1, 1), num_init_features=8)
    assert model(torch.rand(2, 3, 50, 50)).shape == (2, 2)
    assert sum(name.startswith("denseblock") for name, _ in model.net.features.named_children()) == 5


def test_summed_squared_error_is_a_sum_not_a_mean():
    identity = torch.nn.Identity()
    x = torch.rand(4, 3, 5, 5)
    assert float(histo.summed_squared_error(lambda v: v + 0.5, x)) == pytest.approx(4 * 75 * 0.25)
    assert float(histo.summed_squared_error(identity, x)) == 0.0


@pytest.mark.parametrize("stride, padding, size", [(1, 0, 9), (2, 1, 10), (2, 2, 11)])
def test_conv_transpose_is_the_adjoint_of_conv(double_precision, stride, padding, size):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, 3, 3, generator=g)
    x = torch.randn(2, 3, size, size, generator=g)
    y = torch.randn_like(torch.nn.functional.conv2d(x, w, stride=stride, padding=padding))
    assert histo.conv_adjoint_gap(x, y, w, stride, padding) < 1e-12
    assert histo.conv_adjoint_gap(x, y, w, stride, padding, transpose_weight=w.flip(-1)) > 1e-3  # a wrong adjoint is caught


def test_minibatch_kmeans_running_update_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    truth = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    x = np.concatenate([c + rng.normal(size=(300, 2)) for c in truth])
    centers, labels = histo.minibatch_kmeans(x, 3, batch_size=50, n_steps=100, seed=1, init=x[[0, 300, 600]])
    ref = MiniBatchKMeans(3, batch_size=50, init=x[[0, 300, 600]], n_init=1, random_state=1).fit(x)
    order = np.argsort(centers[:, 0] + 10 * centers[:, 1])
    ref_order = np.argsort(ref.cluster_centers_[:, 0] + 10 * ref.cluster_centers_[:, 1])
    assert np.abs(centers[order] - ref.cluster_centers_[ref_order]).max() < 0.2
    assert adjusted_rand_score(labels, ref.labels_) > 0.98
    with pytest.raises(ValueError):
        histo.minibatch_kmeans(x, 3, 10, 1, update="other")


def test_running_update_is_the_mean_of_all_points_seen():
    x = np.arange(12, dtype=float).reshape(-1, 1)
    centers, _ = histo.minibatch_kmeans(x, 1, batch_size=12, n_steps=3, seed=0, init=[[100.0]])
    assert centers[0, 0] == pytest.approx(x.mean())
    batch_centers, _ = histo.minibatch_kmeans(x, 1, batch_size=4, n_steps=1, seed=0, init=[[100.0]], update="batch")
    assert batch_centers[0, 0] != pytest.approx(x.mean())  # Eq. 10 as printed keeps only the last batch


def test_proportion_mapping_differs_from_hungarian_on_a_small_pure_cluster():
    # cluster 0: 10 points, 9 positive (90%); cluster 1: 1000 points, 600 positive (60%)
    y = np.array([1] * 9 + [0] + [1] * 600 + [0] * 400)
    c = np.array([0] * 10 + [1] * 1000)
    assert metrics.proportion_mapping(y, c) == {0: 1, 1: 0}
    assert metrics.hungarian_mapping(y, c) == {0: 0, 1: 1}
    paper = metrics.binary_scores(y, metrics.apply_mapping(metrics.proportion_mapping(y, c), c))
    best = metrics.binary_scores(y, metrics.apply_mapping(metrics.hungarian_mapping(y, c), c))
    assert paper["acc"] == pytest.approx(409 / 1010) and best["acc"] == pytest.approx(601 / 1010)
    with pytest.raises(ValueError):
        metrics.proportion_mapping([0, 1, 1], [0, 1, 2])


def test_all_negative_scores_the_negative_share_with_f1_zero():
    y = np.array([1] * 28 + [0] * 72)
    assert metrics.binary_scores(y, np.zeros(100, int)) == {"acc": 0.72, "f1": 0.0}


def test_cv_folds_partition_and_keep_groups_together():
    groups = np.repeat(np.arange(20), 5)
    for folds in (histo.cv_folds(100, 5, seed=0), histo.cv_folds(100, 5, groups=groups, seed=0)):
        assert len(folds) == 5
        assert np.array_equal(np.sort(np.concatenate([f.test for f in folds])), np.arange(100))
        for f in folds:
            assert np.array_equal(np.sort(np.concatenate([f.train, f.val, f.test])), np.arange(100))
    for f in histo.cv_folds(100, 5, groups=groups, seed=0):
        assert not set(groups[f.test]) & set(groups[f.train]) and not set(groups[f.val]) & set(groups[f.train])
    leaky = histo.cv_folds(100, 5, seed=0)[0]
    assert set(groups[leaky.test]) & set(groups[leaky.train])  # patch-level folds share images


def test_cluster_and_score_fits_on_the_training_fold_and_scores_the_test_fold():
    rng = np.random.default_rng(0)
    y_train = np.array([0] * 70 + [1] * 30)
    z_train = rng.normal(size=(100, 3)) + 8 * y_train[:, None]
    y_test = np.ones(40, dtype=int)  # a test fold of positives only, drawn anew
    z_test = rng.normal(size=(40, 3)) + 8
    scores = histo.cluster_and_score(z_train, y_train, z_test, y_test, n_init=2)
    # k-means and the mapping come from the training fold: every test point lands in the positive cluster.
    # Fitting k-means or the mapping on the test fold instead would split these positives (acc about 0.5).
    assert scores["acc"] == scores["f1"] == 1.0
    train_scores = histo.cluster_and_score(z_train, y_train, z_train, y_train, n_init=2)
    assert train_scores["acc"] == train_scores["cluster_acc"] == train_scores["nmi"] == 1.0


def _smooth_patches(n=48):
    """Patches whose colours are linear ramps: compressible, so an autoencoder has something to learn."""
    coef = torch.rand(n, 3, 2)
    grid = torch.stack(torch.meshgrid(torch.linspace(0, 1, 50), torch.linspace(0, 1, 50), indexing="ij"))
    return (coef[:, :, :, None, None] * grid[None, None]).sum(2).clamp(0, 1)


@pytest.mark.parametrize("make", [m for m, _ in MODELS], ids=["fc", "cnn", "cnn_nopool", "alexnet", "resnet"])
def test_every_autoencoder_learns_to_reconstruct(make):
    # An untrained network outputs about 0.5 everywhere; training must remove a quarter of that error at least.
    torch.manual_seed(0)
    x = _smooth_patches()
    model = make()
    with torch.no_grad():
        before = float(histo.summed_squared_error(model.eval(), x))
    histo.train_autoencoder(model, x, x[:16], epochs=10, batch_size=8, lr=3e-3, progress=False)
    with torch.no_grad():
        after = float(histo.summed_squared_error(model.eval(), x))
    assert after < 0.75 * before
    # and better than the best constant output (the mean patch), which a decoder that ignores its code
    # cannot beat: the code carries information about the patch
    assert after < float(((x - x.mean(0)) ** 2).sum())


def test_flowers17_patches_are_labelled_grouped_and_imbalanced(shared_data):
    ds = load("flowers17_patches", root=shared_data, image_size=100, patch_size=50)
    assert ds.images.shape == (846 * 4, 50, 50, 3) and ds.labels.shape == ds.groups.shape == (846 * 4,)
    assert set(np.unique(ds.labels)) == {0, 1} and 0.05 < ds.labels.mean() < 0.5  # 2x2 grid: 7.6% flower
    assert np.array_equal(np.unique(np.bincount(ds.groups)[np.unique(ds.groups)]), [4])  # 4 patches per image
    whole = load("flowers17_seg", root=shared_data, image_size=100)
    assert np.array_equal(ds.images[1], whole.images[0, :50, 50:])  # row-major grid of the first image
    with pytest.raises(ValueError):
        load("flowers17_patches", root=shared_data, image_size=100, patch_size=30)


def test_sample_groups_keeps_whole_groups():
    groups = np.repeat(np.arange(10), 4)
    index = histo.sample_groups(groups, 10, seed=0)
    assert len(index) == 12 and np.all(np.bincount(groups[index])[np.unique(groups[index])] == 4)
    assert np.array_equal(histo.sample_groups(groups, None), np.arange(40))


def test_sample_groups_caps_large_groups_so_many_groups_are_drawn():
    groups = np.repeat(np.arange(6), [100, 100, 100, 100, 100, 3])
    index = histo.sample_groups(groups, 40, seed=1, max_per_group=10)
    counts = np.bincount(groups[index], minlength=6)
    assert 40 <= len(index) <= 49 and counts.max() <= 10 and np.count_nonzero(counts) >= 4
    assert np.array_equal(histo.sample_groups(groups, 40, seed=1, max_per_group=10), index)  # seeded
    uncapped = histo.sample_groups(np.repeat(np.arange(10), 4), 10, seed=0, max_per_group=4)
    assert np.array_equal(uncapped, histo.sample_groups(np.repeat(np.arange(10), 4), 10, seed=0))
