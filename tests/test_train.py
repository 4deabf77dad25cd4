import numpy as np
import pytest
import torch

from clustutils import train


def _problem():
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return x, y


def _mse(model, x, y):
    return torch.nn.functional.mse_loss(model(x), y)


def test_fit_decreases_loss_and_reports_each_epoch():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    seen = []
    history = train.fit(model, _mse, (x, y), epochs=30, batch_size=32,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), on_epoch_end=lambda e, l: seen.append(e))
    assert len(history) == 30 and seen == list(range(30))
    assert history[-1] < 1e-3 < history[0]


def test_fit_is_reproducible_with_a_seed():
    x, y = _problem()
    runs = []
    for _ in range(2):
        train.seed_everything(1)
        model = torch.nn.Linear(3, 1)
        train.fit(model, _mse, (x, y), epochs=2, batch_size=50, optimizer=torch.optim.SGD(model.parameters(), lr=0.05), seed=4)
        runs.append(model.weight.detach().clone())
    assert torch.equal(runs[0], runs[1])


def test_fit_rejects_bad_arguments():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="same length"):
        train.fit(model, _mse, (x, y[:10]), epochs=1, batch_size=8, optimizer=opt)
    with pytest.raises(ValueError, match="batch_size"):
        train.fit(model, _mse, (x, y), epochs=1, batch_size=0, optimizer=opt)


def test_device_falls_back_to_cpu_with_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="no(ne)? .*available"):
        assert train.get_device("cuda").type == "cpu"
    assert "CPU" in capsys.readouterr().out
    monkeypatch.setenv("CLUSTUTILS_DEVICE", "cpu")
    assert train.get_device().type == "cpu" and train.device_name("cpu") == "cpu"


def test_config_key_ignores_key_order():
    assert train.config_key({"a": 1, "b": [1, 2]}) == train.config_key({"b": [1, 2], "a": 1})
    assert train.config_key({"a": 1}) != train.config_key({"a": 2})


def test_fit_cached_trains_once_then_loads():
    x, y = _problem()
    calls = []

    def do_train(model):
        calls.append(1)
        return train.fit(model, _mse, (x, y), epochs=3, batch_size=64, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))

    config = {"name": "linear", "epochs": 3, "seed": 0}
    first = torch.nn.Linear(3, 1)
    history, cached = train.fit_cached(first, config, do_train)
    assert not cached and len(history) == 3
    second = torch.nn.Linear(3, 1)
    history2, cached2 = train.fit_cached(second, config, do_train)
    assert cached2 and history2 == history and len(calls) == 1
    assert torch.equal(first.weight, second.weight)
    train.fit_cached(torch.nn.Linear(3, 1), {**config, "epochs": 4}, do_train)
    assert len(calls) == 2


def test_select_best_restores_the_best_epoch():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    weights, scores = [], iter([3.0, 1.0, 2.0, 5.0])

    def score(m):
        weights.append(m.weight.detach().clone())
        return next(scores)

    train.fit(model, _mse, (x, y), epochs=4, batch_size=32, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
              select_best=score, progress=False)
    assert torch.equal(model.weight, weights[1])


def test_batch_slices_cover_every_row_once_and_fold_a_single_row_tail():
    for n, b in [(10, 3), (9, 3), (1, 4), (7, 7), (100, 33)]:
        slices = train.batch_slices(n, b)
        rows = [i for s in slices for i in range(n)[s]]
        assert rows == list(range(n))
        assert all(s.stop - s.start >= 2 for s in slices) or n == 1
    assert [s.stop - s.start for s in train.batch_slices(10, 3)] == [3, 3, 4]


def test_a_size_one_last_batch_does_not_reach_batch_norm():
    x = torch.randn(33, 4)  # 33 = 2 * 16 + 1: the tail of one row is folded into the last batch
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    sizes = []
    train.fit(model, lambda m, xb: (sizes.append(len(xb)), m(xb).pow(2).mean())[1], (x,), epochs=2, batch_size=16,
              optimizer=torch.optim.SGD(model.parameters(), lr=0.01), progress=False)
    assert sizes == [16, 17, 16, 17]


def test_max_steps_stops_inside_an_epoch_and_the_callback_sees_step_zero_then_every_step():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    steps, modes = [], []

    def callback(m, step):
        steps.append(step)
        modes.append(m.training)
        m.eval()  # the engine must restore training mode

    history = train.fit(model, _mse, (x, y), epochs=10, max_steps=11, batch_size=64, callback=callback,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.01), progress=False)
    assert steps == list(range(12))
    assert len(history) == 3  # 4 + 4 + 3 steps: the last epoch is partial
    assert all(modes[1:])


def test_hooks_run_in_order_around_epochs_and_steps():
    events = []

    class Spy(train.Hook):
        def epoch_start(self, model, epoch):
            events.append(("start", epoch))

        def step_end(self, model, step):
            events.append(("step", step))

        def epoch_end(self, model, epoch):
            events.append(("end", epoch))

        def train_end(self, model):
            events.append(("done",))

    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    train.fit(model, _mse, (x, y), epochs=2, batch_size=128, hooks=[Spy()],
              optimizer=torch.optim.SGD(model.parameters(), lr=0.01), progress=False)
    assert events == [("start", 0), ("step", 1), ("step", 2), ("end", 0),
                      ("start", 1), ("step", 3), ("step", 4), ("end", 1), ("done",)]


def test_weight_average_ends_at_the_mean_of_the_averaged_steps():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    seen = []

    class Record(train.Hook):
        def epoch_start(self, model, epoch):
            self.epoch = epoch

        def step_end(self, model, step):
            if self.epoch == 2:
                seen.append(model.weight.detach().clone())

    # the average is taken after Record has seen the same steps (hooks run in order)
    train.fit(model, _mse, (x, y), epochs=3, batch_size=32, hooks=[Record(), train.WeightAverage(start_epoch=2)],
              optimizer=torch.optim.SGD(model.parameters(), lr=0.05), progress=False)
    assert len(seen) == 8
    assert torch.allclose(model.weight, torch.stack(seen).mean(0), atol=1e-6)
    assert not torch.allclose(model.weight, seen[-1], atol=1e-4)  # not just the last step's weights


def test_batched_equals_the_whole_computation_for_tensors_and_tuples():
    x = torch.randn(1003, 5)
    layer = torch.nn.Linear(5, 2)
    assert torch.allclose(train.batched(layer, x, 100), layer(x).detach(), atol=1e-6)
    a, b = train.batched(lambda xb: (xb.sum(1), xb[:, :2]), x, 64)
    assert torch.allclose(a, x.sum(1)) and torch.equal(b, x[:, :2])
    assert not train.batched(layer, x, 100).requires_grad


def test_numerics_flush_denormals_on_the_cpu():
    try:
        assert train.configure_numerics("cpu") == {"flush_denormal": True}
        tiny = torch.tensor([1e-40], dtype=torch.float32)  # a float32 denormal
        assert float(tiny * 1.0) == 0.0
    finally:
        torch.set_flush_denormal(False)


def test_compiled_steps_train_as_eager_ones():
    """`compile=True` (torch.compile of the loss, forward and backward) trains to the same weights as eager steps."""
    def run(compile):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        x, y = torch.randn(130, 20), torch.randn(130, 1)  # 4 batches of 32, the last with 34 rows
        history = train.fit(model, lambda m, xb, yb: ((m(xb) - yb) ** 2).mean(), (x, y), epochs=3, batch_size=32,
                      optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), seed=0, progress=False, compile=compile)
        return model, history

    (eager, h_eager), (compiled, h_compiled) = run(False), run(True)
    assert "compiled_steps" not in train.configure_numerics(torch.device("cpu"))
    assert h_compiled[-1] < h_compiled[0] and np.allclose(h_eager, h_compiled, rtol=1e-5)
    for p, q in zip(eager.parameters(), compiled.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def test_a_run_asks_for_compiled_steps_through_the_environment(monkeypatch):
    """$CLUSTUTILS_COMPILE=1 turns compile on for every fit that does not say otherwise, and the provenance says so."""
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(kw) or fn)
    model = torch.nn.Linear(3, 1)
    args = dict(epochs=1, batch_size=4, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    loss = lambda m, xb: m(xb).pow(2).mean()  # noqa: E731
    train.fit(model, loss, (torch.randn(8, 3),), **args)
    assert calls == []
    monkeypatch.setenv("CLUSTUTILS_COMPILE", "1")
    train.fit(model, loss, (torch.randn(8, 3),), **args)
    train.fit(model, loss, (torch.randn(8, 3),), compile=False, **args)
    assert calls == [{"mode": None, "dynamic": False}]
    assert train.configure_numerics(torch.device("cpu"))["compiled_steps"] is True


def test_a_rehearsal_stops_every_fit_after_its_steps_and_records_nothing(monkeypatch):
    """$CLUSTUTILS_MAX_STEPS cuts every fit short (whatever its epochs or max_steps), a notebook run says
    REHEARSAL and refuses to record into the book's results; a bad value is a clear error."""
    from clustutils import notebook

    model = torch.nn.Linear(3, 1)
    args = dict(epochs=5, batch_size=2, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    loss = lambda m, xb: m(xb).pow(2).mean()  # noqa: E731
    steps = []
    train.fit(model, loss, (torch.randn(10, 3),), callback=lambda m, s: steps.append(s), **args)
    assert steps[-1] == 25
    monkeypatch.setenv("CLUSTUTILS_MAX_STEPS", "4")
    steps.clear()
    train.fit(model, loss, (torch.randn(10, 3),), callback=lambda m, s: steps.append(s), max_steps=7, **args)
    assert steps[-1] == 4
    monkeypatch.setenv("CLUSTUTILS_DEVICE", "cpu")
    monkeypatch.delenv("CLUSTUTILS_ROOT", raising=False)
    run = notebook.start("00_x", "smoke")
    assert "REHEARSAL: every training loop cut to 4 steps" in run.provenance()
    with pytest.raises(RuntimeError, match="rehearsal"):
        run.record("fit", "toy", "loss", 0.0)
    monkeypatch.setenv("CLUSTUTILS_MAX_STEPS", "two")
    with pytest.raises(ValueError, match="positive number of steps, got 'two'"):
        train.fit(model, loss, (torch.randn(10, 3),), **args)


def test_the_engine_trains_convolutions_channels_last_on_the_cpu():
    torch.manual_seed(0)
    x, y = torch.rand(64, 3, 12, 12), torch.randint(0, 2, (64,))

    def net():
        torch.manual_seed(1)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(800, 2))

    model = net()
    weight = model[0].weight
    assert weight.is_contiguous() and not weight.is_contiguous(memory_format=torch.channels_last)
    history = train.fit(model, lambda m, xb, yb: torch.nn.functional.cross_entropy(m(xb), yb), (x, y), epochs=5,
                        batch_size=32, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert model[0].weight is weight  # the same parameter: an optimiser built before fit keeps working
    assert weight.is_contiguous(memory_format=torch.channels_last) and history[-1] < history[0]
    plain = net()
    assert torch.allclose(train.cpu_layout(net(), "cpu")(x), plain(x), atol=1e-5)  # a layout, not another function
    assert train.cpu_layout(plain, "meta") is plain and plain[0].weight.is_contiguous()  # other devices: untouched


def test_run_jobs_gives_each_job_what_a_one_thread_process_gives_in_order():
    """Two GAR models of different seeds trained in two worker processes: each result is bit for bit its own
    seed's in-process one-thread training, in the jobs' order (a pool that returned results as they finish, or
    mixed the seeds, would fail); with one process the jobs run here, one after another."""
    from clustutils.papers import ch03_gar as gar

    x = torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    config = gar.GarConfig(n_parents=4, k_s=2, epochs=2, batch_size=16, widths=(2, 4), d_f=8)
    jobs = [(x, config, seed, x[:10]) for seed in (3, 0)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = [gar.fit_features(*job) for job in jobs]
        in_process = train.run_jobs(gar.fit_features, jobs, device="cpu", processes=1)
    finally:
        torch.set_num_threads(threads)
    assert not np.array_equal(expected[0], expected[1])  # the seeds differ, so order matters
    assert all(np.array_equal(a, b) for a, b in zip(in_process, expected))
    parallel = train.run_jobs(gar.fit_features, jobs, device="cpu", processes=2)
    assert all(np.array_equal(a, b) for a, b in zip(parallel, expected))
    with pytest.raises(ValueError, match="at least one process"):
        train.run_jobs(gar.fit_features, jobs, device="cpu", processes=0)
