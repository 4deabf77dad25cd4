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
