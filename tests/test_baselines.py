import pytest
import torch
from sklearn.datasets import make_blobs

from clustutils import autoencoders
from clustutils.papers import baselines
from clustutils.papers import ch04_cm as cm
from clustutils.metrics import cluster_acc


@pytest.fixture
def blobs():
    x, y = make_blobs(300, n_features=8, centers=3, cluster_std=0.4, random_state=0)
    x = torch.from_numpy((x - x.mean(0)) / x.std()).float()
    return x, y


def _pretrained(x, seed=0):
    torch.manual_seed(seed)
    ae = autoencoders.Autoencoder(x.shape[1], 3, hidden=(16,))
    autoencoders.pretrain_autoencoder(ae, x, epochs=30, batch_size=32, progress=False)
    return ae


def _centroids(z, y):
    return torch.stack([z[torch.as_tensor(y) == k].mean(0) for k in range(3)])


def test_autoencoder_shapes_and_glorot_init():
    ae = autoencoders.Autoencoder(20, 4, hidden=(8, 6))
    z, x_hat = ae(torch.randn(5, 20))
    assert z.shape == (5, 4) and x_hat.shape == (5, 20)
    first = ae.encoder[0]
    bound = (6 / (20 + 8)) ** 0.5
    assert first.weight.abs().max() <= bound and first.bias.abs().max() == 0


def test_pretraining_lowers_the_reconstruction_error(blobs):
    x, _ = blobs
    torch.manual_seed(0)
    ae = autoencoders.Autoencoder(8, 3, hidden=(16,))
    history = autoencoders.pretrain_autoencoder(ae, x, epochs=20, batch_size=32, progress=False)
    assert history[-1] < 0.5 * history[0]



def test_the_first_epochs_of_a_pretraining_are_a_shorter_pretraining(blobs):
    """What ``on_epoch_end`` keeps after epoch n is the autoencoder a run of n epochs ends with."""
    import copy

    x, _ = blobs
    kept = {}
    torch.manual_seed(0)
    long = autoencoders.Autoencoder(8, 3, hidden=(16,))
    autoencoders.pretrain_autoencoder(long, x, epochs=6, batch_size=32, progress=False,
                                      on_epoch_end=lambda epoch, loss: kept.setdefault(epoch + 1, copy.deepcopy(long.state_dict())))
    torch.manual_seed(0)
    short = autoencoders.Autoencoder(8, 3, hidden=(16,))
    autoencoders.pretrain_autoencoder(short, x, epochs=2, batch_size=32, progress=False)
    assert sorted(kept) == list(range(1, 7))
    assert all(torch.equal(kept[2][k], v) for k, v in short.state_dict().items())
    assert not all(torch.equal(kept[6][k], v) for k, v in short.state_dict().items())

def test_orthonormality_penalty_is_zero_exactly_for_orthonormal_rows_and_an_l1_norm():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    assert cm.orthonormality_penalty(q[:3]) < 1e-12
    assert cm.orthonormality_penalty(2 * q[:3]) == pytest.approx(3 * 3)  # |4 - 1| on each diagonal entry
    skewed = torch.tensor([[1.0, 0.0], [0.5, 0.75**0.5]], dtype=torch.float64)  # unit rows, mu mu^T - I = [[0, .5], [.5, 0]]
    assert cm.orthonormality_penalty(skewed) == pytest.approx(1.0)  # the TF code's L1 (squared Frobenius: 0.5)


def test_dec_target_is_sharper_than_q_and_rows_sum_to_one(blobs):
    x, y = blobs
    ae = _pretrained(x)
    model = baselines.DEC(ae, _centroids(autoencoders.encode(ae.encoder, x), y))
    baselines.refresh_target(model, x)
    q = model.soft_assign(x).detach()
    assert torch.allclose(model.target.sum(1), torch.ones(len(x)), atol=1e-5)
    assert (model.target.max(1).values >= q.max(1).values - 1e-6).all()


def _bad_start(ae, x, y):
    """True code centroids each moved 45% of the way to the next one: the nearest-centroid partition is wrong for some points."""
    c = _centroids(autoencoders.encode(ae.encoder, x), y)
    return c + 0.45 * (c.roll(1, 0) - c)


@pytest.mark.parametrize("cls", [baselines.DEC, baselines.IDEC, baselines.DCN, baselines.DKM])
def test_baselines_repair_a_bad_start_on_separated_blobs(blobs, cls):
    # Broken variants that fail here: DEC with the KL sign flipped (0.68), IDEC with gamma = 0 (0.94),
    # DCN without its centroid/assignment update (0.91); DKM with its centroids detached fails the last check.
    x, y = blobs
    ae = _pretrained(x)
    start = _bad_start(ae, x, y)
    extra = {"assignments": torch.cdist(autoencoders.encode(ae.encoder, x), start).argmin(1)} if cls is baselines.DCN else {}
    model = cls(ae, start, **extra)
    before = cluster_acc(y, model.predict(x))
    assert before < 0.9  # the method has work to do
    history = autoencoders.train_clustering(model, x, epochs=20, batch_size=32, progress=False)
    assert len(history) == 20 and all(torch.isfinite(torch.tensor(history)))
    assert cluster_acc(y, model.predict(x)) > 0.97
    if cls is baselines.DCN:
        assert cluster_acc(y, model.assignments) > 0.97  # the stored assignments were repaired too
    if cls is baselines.DKM:  # the centroids are trained by the same optimiser, so they move
        assert (model.mu.detach() - start).norm() > 0.1


def test_dkm_loss_interpolates_between_mean_and_min_distance():
    torch.manual_seed(0)
    x = torch.randn(16, 6)
    ae = autoencoders.Autoencoder(6, 2, hidden=(5,))
    mu = torch.randn(4, 2)
    with torch.no_grad():
        z, x_hat = ae(x)
    d = ((z[:, None] - mu) ** 2).sum(-1)
    reconstruction = ((x_hat - x) ** 2).sum(1).mean()
    for alpha, kmeans_term in ((0.0, d.mean(1).mean()), (1e6, d.min(1).values.mean()),
                               (2.0, (torch.softmax(-2.0 * d, 1) * d).sum(1).mean())):
        model = baselines.DKM(ae, mu, lam=0.5, inverse_temperature=alpha)
        with torch.no_grad():
            assert torch.allclose(model.loss(x), reconstruction + 0.5 * kmeans_term, rtol=1e-5)


def test_dkm_inverse_temperature_is_constant_by_default_and_annealed_geometrically_per_epoch(blobs):
    x, y = blobs
    ae = _pretrained(x)
    centroids = _centroids(autoencoders.encode(ae.encoder, x), y)
    trajectories = {}
    for name, model in {"constant": baselines.DKM(ae, centroids),
                        "annealed": baselines.DKM(ae, centroids, inverse_temperature=1.0, anneal=1000.0)}.items():
        seen = []
        autoencoders.train_clustering(model, x, epochs=3, batch_size=100, progress=False,
                            on_epoch_end=lambda e, loss, m=model, seen=seen: seen.append(m.inverse_temperature))
        trajectories[name] = seen
    assert trajectories["constant"] == [1000.0] * 3
    assert trajectories["annealed"] == pytest.approx([10.0, 100.0, 1000.0])


def test_aecm_loss_is_the_authors_tf_loss_and_the_cm_loss_for_orthonormal_centroids(blobs):
    """The joint loss sums E1, E2 without the centroid norms, E4, lambda * L1 orthonormality and beta * the summed
    reconstruction error; for orthonormal centroids its E1 + E2 equal the CM's E1 + E2 + E3 (summed over the batch),
    which the docstring claims.  (Keeping the ||mu_k||^2 weights in E2 breaks the first check; dropping E2 breaks the
    second.)"""
    x, _ = blobs
    torch.manual_seed(0)
    model = cm.AECM(8, 3, n_latent=3, alpha=20.0, beta=0.5, lam=2.0, hidden=(16,)).double()
    x = x.double()
    with torch.no_grad():
        z, x_hat = model.ae(x)
        gamma, mu = model.cm(z), model.cm.mu
        by_hand = (sum(float(((z[i] - gamma[i] @ mu) ** 2).sum()) for i in range(len(x)))
                   + float((gamma * (1 - gamma)).sum()) - 19.0 * float(torch.log(gamma.mean(0) + 1e-10).sum())
                   + 2.0 * float((mu @ mu.T - torch.eye(3, dtype=mu.dtype)).abs().sum())
                   + 0.5 * float(((x - x_hat) ** 2).sum()))
        assert float(model.loss(x)) == pytest.approx(by_hand, rel=1e-10)
        q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
        model.cm.mu.copy_(q)
        terms, cm_terms = model.loss_terms(x), cm.cm_loss_terms(z, model.cm(z), model.cm.mu, model.cm.alpha)
        assert float(terms["orthonormality"]) < 1e-12
        assert float(terms["E1"] + terms["E2"]) == pytest.approx(
            len(x) * float(cm_terms["E1"] + cm_terms["E2"] + cm_terms["E3"]), rel=1e-10)


def test_aecm_clusters_blobs_from_random_initialisation(blobs):
    x, y = blobs
    torch.manual_seed(0)
    model = cm.AECM(8, 3, n_latent=3, alpha=20.0, beta=1.0, lam=1.0, hidden=(16,))
    autoencoders.train_clustering(model, x, epochs=40, batch_size=32, lr=1e-2, progress=False)
    assert cluster_acc(y, model.predict(x)) > 0.9


def test_rescale_codes_keeps_the_reconstruction():
    torch.manual_seed(0)
    ae = autoencoders.Autoencoder(12, 3, hidden=(8,)).double()
    x = torch.rand(10, 12, dtype=torch.float64)
    z, x_hat = ae(x)
    autoencoders.rescale_codes(ae, 0.25)
    z2, x_hat2 = ae(x)
    assert torch.allclose(z2, 0.25 * z) and torch.allclose(x_hat2, x_hat)


def test_aecm_start_keeps_the_kmeans_partition_and_the_pretrained_codes(blobs):
    from clustutils.metrics import ari

    x, y = blobs
    ae = _pretrained(x)
    codes = autoencoders.encode(ae.encoder, x)
    from sklearn.cluster import KMeans

    reference = KMeans(3, n_init=5, random_state=0).fit(codes.numpy()).labels_
    model = cm.aecm_start(ae, codes, 3, alpha=2.0, beta=1.0, lam=1.0, cm_epochs=0, batch_size=32, kmeans_restarts=5)
    assert ari(reference, model.predict(x)) > 0.99  # the CM starts as the isotropic GMM of k-means
    with torch.no_grad():
        assert torch.equal(model.ae(x)[0], ae(x)[0])  # the codes as pretrained (the authors do not rescale them)


def test_train_deep_jobs_train_each_method_and_give_in_workers_what_they_give_here(blobs):
    """Notebook 04b's deep models as :func:`~clustutils.train.run_jobs` runs them, from a k-means start that puts
    some blobs' points in the wrong clusters: every method trains (the encoder moves away from the pretrained one's),
    and two worker processes return bit for bit the predictions of the same jobs run here on one thread, in order
    (a job that did not seed itself, or a pool that mixed the jobs up, would fail)."""
    from types import SimpleNamespace

    from clustutils.train import run_jobs

    x, y = blobs
    ae = _pretrained(x)
    start = _bad_start(ae, x, y)
    kmeans_start = SimpleNamespace(cluster_centers_=start.numpy(),
                                   labels_=torch.cdist(autoencoders.encode(ae.encoder, x), start).argmin(1).numpy())
    spec = {"n_clusters": 3, "alpha": 2.0, "beta": 1.0, "lam": 0.1, "batch": 32, "cm_epochs": 2, "kmeans_restarts": 3,
            "epochs": dict.fromkeys(cm.DEEP_METHODS, 3), "options": {"idec": {"gamma": 0.1}}}
    jobs = [(method, x, ae, kmeans_start, spec, 0) for method in cm.DEEP_METHODS]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = [cm.train_deep(*job) for job in jobs]
    finally:
        torch.set_num_threads(threads)
    for method, (model, seconds) in zip(cm.DEEP_METHODS, here):
        assert seconds > 0
        if method != "aecm_rand":  # the others start from ae: training moved the encoder
            assert not torch.equal(model.ae.encoder[0].weight, ae.encoder[0].weight), method
    predictions = [model.predict(x) for model, _ in here]
    workers = run_jobs(cm.train_deep, jobs, device="cpu", processes=2)
    assert all(torch.equal(model.predict(x), p) for (model, _), p in zip(workers, predictions))
    assert len({tuple(p.tolist()) for p in predictions}) > 1  # the methods differ, so the order is checked
    with pytest.raises(ValueError, match="unknown deep method"):
        cm.train_deep("kmeans", x, ae, kmeans_start, spec, 0)


def test_deep_spec_takes_each_data_sets_settings_and_every_method_its_epochs():
    """The spec notebook 04b and its seed study train from: USPS's own AE-CM values and epochs in ``cpu``, MNIST's
    for another data set, an epoch count for every deep method and the baselines' options."""
    cpu = cm.DEEP_BUDGET.settings("cpu")
    usps, other = cm.deep_spec("usps", cpu, 10), cm.deep_spec("svhn", cpu, 7)
    authors = cm.dataset_settings("usps")
    assert (usps["alpha"], usps["beta"], usps["batch"]) == (authors.aecm_alpha, authors.aecm_beta, authors.aecm_batch)
    assert set(usps["epochs"]) == set(cm.DEEP_METHODS)
    assert usps["epochs"]["aecm_pre"] == cm.for_dataset(cpu.joint_epochs, "usps") != cm.for_dataset(cpu.joint_epochs, "mnist")
    assert usps["epochs"]["idec"] == cm.for_dataset(cpu.baseline_epochs, "usps")
    assert other["epochs"] == cm.deep_spec("mnist", cpu, 7)["epochs"] and other["n_clusters"] == 7
    assert other["alpha"] == cm.dataset_settings("mnist").aecm_alpha
    assert usps["options"]["idec"] == {"gamma": 0.1} and set(usps["options"]) == set(cm.DEEP_METHODS) - {"aecm_pre", "aecm_rand"}
