import numpy as np
import pytest

from clustutils import metrics as m


def test_cluster_acc_is_invariant_to_label_permutation():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert m.cluster_acc(y, np.array([2, 2, 0, 0, 1, 1])) == 1.0


def test_cluster_acc_hand_computed():
    # clusters: a={0,0,1}, b={1,1,0}: best one-to-one map a->0, b->1 gives 4/6
    y = [0, 0, 1, 1, 1, 0]
    c = ["a", "a", "a", "b", "b", "b"]
    assert m.cluster_acc(y, c) == pytest.approx(4 / 6)


def test_more_clusters_than_classes_hungarian_vs_majority():
    y = [0, 0, 0, 0, 1, 1]
    c = [0, 0, 1, 1, 2, 2]
    # Hungarian: only two clusters can be matched -> 4/6; majority: every cluster its class -> 6/6
    assert m.cluster_acc(y, c) == pytest.approx(4 / 6)
    assert m.majority_acc(y, c) == 1.0
    mapping = m.hungarian_mapping(y, c)
    assert sorted(v for v in mapping.values() if v is not None) == [0, 1] and list(mapping.values()).count(None) == 1


def test_fewer_clusters_than_classes():
    assert m.cluster_acc([0, 1, 2, 2], [0, 0, 1, 1]) == pytest.approx(3 / 4)


def test_nmi_ari_perfect_and_independent():
    y = np.repeat(np.arange(4), 25)
    assert m.nmi(y, (y + 1) % 4) == pytest.approx(1.0)
    assert m.ari(y, (y + 1) % 4) == pytest.approx(1.0)
    assert m.ari(y, np.tile(np.arange(4), 25)) < 0.05


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="labels"):
        m.cluster_acc([0, 1], [0])


def test_f1_after_mapping():
    y = np.array([1, 1, 0, 0, 0, 0])
    clusters = np.array([7, 7, 7, 3, 3, 3])
    # cluster 7 -> 1 (two of three are positive): tp=2, fp=1, fn=0 -> F1 = 0.8
    assert m.f1(y, clusters) == pytest.approx(0.8)
    assert m.f1(y, clusters, mapping="majority") == pytest.approx(0.8)
    assert m.f1(y, np.zeros(6, int), mapping="none") == 0.0  # "all negative": F1 = 0
    with pytest.raises(ValueError, match="mapping"):
        m.f1(y, clusters, mapping="best")


def test_mask_metrics_with_ignore_label():
    target = np.array([[1, 1, 0, 255]])
    pred = np.array([[1, 0, 0, 1]])
    assert m.pixel_accuracy(pred, target) == pytest.approx(2 / 3)
    assert m.iou(pred, target) == pytest.approx(1 / 2)
    assert m.dice(pred, target) == pytest.approx(2 * 1 / (1 + 2))
    assert m.iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    with pytest.raises(ValueError, match="shape"):
        m.iou(pred, target[:, :3])


def test_clustering_scores_are_acc_nmi_ari_and_ignore_cluster_names():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert m.clustering_scores(y, np.array([2, 2, 0, 0, 1, 1])) == {"acc": 1.0, "nmi": 1.0, "ari": 1.0}
    merged = m.clustering_scores(y, np.array([0, 0, 0, 0, 1, 1]))
    assert merged["acc"] == pytest.approx(4 / 6) and 0 < merged["nmi"] < 1 and 0 < merged["ari"] < 1
