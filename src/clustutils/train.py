"""Devices, seeds, a minimal training loop and a cache of trained weights."""

from __future__ import annotations

import hashlib
import json
import os
import random
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

__all__ = ["get_device", "device_name", "seed_everything", "fit", "error_rate", "cache_dir", "config_key", "fit_cached"]

ENV_DEVICE = "CLUSTUTILS_DEVICE"
ENV_CACHE = "CLUSTUTILS_CACHE"


def get_device(requested: str | None = None) -> torch.device:
    """``requested`` (or ``$CLUSTUTILS_DEVICE``), default CUDA when present, else CPU.

    Asking for CUDA where there is none falls back to the CPU with a visible warning.
    """
    requested = requested or os.environ.get(ENV_DEVICE) or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn("A GPU was requested but none is available: running on the CPU (slower).", stacklevel=2)
        device = torch.device("cpu")
    if device.type == "cpu":
        print("Note: no GPU in use, running on the CPU.")
    return device


def device_name(device: torch.device | str) -> str:
    """A readable name for provenance, e.g. ``cpu`` or ``cuda (NVIDIA H100 80GB HBM3)``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    tensors: tuple[torch.Tensor, ...],
    *,
    epochs: int,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    seed: int = 0,
    scheduler=None,
    on_epoch_end: Callable[[int, float], None] | None = None,
    on_step_end: Callable[[], None] | None = None,
    select_best: Callable[[torch.nn.Module], float] | None = None,
    desc: str = "training",
    progress: bool = True,
) -> list[float]:
    """Train ``model`` on tensors that already sit on its device; return the mean loss per epoch.

    Each step calls ``loss_fn(model, *batch)`` on a shuffled minibatch, slicing the
    tensors by index (no DataLoader, no per-sample Python work).  ``on_epoch_end``
    receives ``(epoch, mean_loss)``, e.g. to evaluate or log; ``on_step_end`` is called
    after every optimiser step (e.g. to average weights).  With ``select_best``
    (a score to minimise, e.g. the validation error, computed after every epoch) the
    model ends with the weights of its best epoch (early stopping without stopping).
    ``progress=False`` hides the progress bar (for many short runs).
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all tensors must have the same length")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    history = []
    best_score, best_state = float("inf"), None
    bar = tqdm(range(epochs), desc=desc, leave=False, disable=not progress, mininterval=2.0)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator).to(tensors[0].device)
        total = 0.0
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            loss = loss_fn(model, *(t[index] for t in tensors))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if on_step_end is not None:
                on_step_end()
            total += loss.detach() * len(index)
        if scheduler is not None:
            scheduler.step()
        history.append(float(total) / n)
        bar.set_postfix(loss=f"{history[-1]:.4g}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history[-1])
        if select_best is not None:
            model.eval()
            with torch.no_grad():
                score = float(select_best(model))
            if score < best_score:
                best_score = score
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def error_rate(model: torch.nn.Module, x, y, batch_size: int = 5000) -> float:
    """Fraction of rows of ``x`` whose argmax logit differs from ``y``."""
    model.eval()
    wrong = sum(int((model(x[i:i + batch_size]).argmax(1) != y[i:i + batch_size]).sum()) for i in range(0, len(x), batch_size))
    return wrong / len(x)


def cache_dir() -> Path:
    """Folder of cached weights: ``$CLUSTUTILS_CACHE`` or ``~/.cache/clustutils/weights``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "clustutils" / "weights"


def config_key(config: dict) -> str:
    """A stable hash of a JSON-serialisable configuration (order of keys does not matter)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fit_cached(model: torch.nn.Module, config: dict, train: Callable[[torch.nn.Module], list[float]]) -> tuple[list[float], bool]:
    """Load ``model``'s weights for ``config`` from the cache, or train and store them.

    ``config`` must describe everything that determines the weights (data,
    architecture, schedule, seed, profile).  ``train(model)`` trains in place and
    returns the loss history.  Returns ``(history, loaded_from_cache)``.
    """
    path = cache_dir() / f"{config.get('name', 'model')}-{config_key(config)}.pt"
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state"])
        return list(saved["history"]), True
    history = train(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state": model.state_dict(), "history": list(history), "config": json.dumps(config, sort_keys=True, default=str)}, tmp)
    os.replace(tmp, path)
    return history, False
