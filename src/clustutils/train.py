"""Devices, seeds, the training engine (:func:`fit` with its hooks), batched inference and a cache of trained weights."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import warnings
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from . import env
from .env import cache_dir

__all__ = ["get_device", "device_name", "host_name", "configure_numerics", "seed_everything", "run_jobs", "batch_slices", "Hook", "WeightAverage", "fit", "batched", "error_rate", "cache_dir", "config_key", "fit_cached"]



def get_device(requested: str | None = None) -> torch.device:
    """``requested`` (or ``$CLUSTUTILS_DEVICE``), default CUDA when present, else CPU.

    Asking for CUDA where there is none falls back to the CPU with a visible warning.
    """
    requested = requested or env.get(env.DEVICE) or ("cuda" if torch.cuda.is_available() else "cpu")
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


def host_name() -> str:
    """The machine that ran, for provenance, e.g. ``AMD EPYC, AVX512 kernels, 2 cores, 1 torch thread``.

    The CPU kernel set PyTorch dispatches to (``torch.backends.cpu.get_cpu_capability``; set by the processor
    or ``$ATEN_CPU_CAPABILITY``), and oneDNN's for convolutions (capped by ``$ONEDNN_MAX_CPU_ISA``), change
    floating-point results in the last bits, which training amplifies: the same code and seed can end
    points apart on two machines (``benchmarks/cpu_kernels.py``, Performance page).
    """
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    threads = torch.get_num_threads()
    onednn = f" (oneDNN capped at {os.environ['ONEDNN_MAX_CPU_ISA']})" if os.environ.get("ONEDNN_MAX_CPU_ISA") else ""
    return (f"{model}, {torch.backends.cpu.get_cpu_capability()} kernels{onednn}, {os.cpu_count()} cores, "
            f"{threads} torch thread{'s' if threads > 1 else ''}")


#: Operations without a deterministic CUDA kernel that this process has run (PyTorch warns about each under
#: ``use_deterministic_algorithms(True, warn_only=True)``); :meth:`clustutils.notebook.Run.record` names them.
NONDETERMINISTIC_OPS: set[str] = set()
#: The words of PyTorch's warning about such an operation.
NONDETERMINISTIC_MESSAGE = " does not have a deterministic implementation"


def _watch_nondeterministic_ops() -> None:
    """Collect the operations PyTorch warns have no deterministic implementation (then show the warning)."""
    show = warnings.showwarning
    if getattr(show, "watches_determinism", False):
        return

    def showwarning(message, category, *args, **kwargs):
        text = str(message)
        if NONDETERMINISTIC_MESSAGE in text:
            NONDETERMINISTIC_OPS.add(text.split(NONDETERMINISTIC_MESSAGE)[0].split()[-1])
        show(message, category, *args, **kwargs)

    showwarning.watches_determinism = True
    warnings.showwarning = showwarning


def configure_numerics(device: torch.device) -> dict:
    """Set the numerics a run uses and return them for its provenance.

    On the CPU, denormal floats are flushed to zero (``torch.set_flush_denormal``): on some processors they
    slow steps late in training (not measurably on the book's CPU; see the Performance page), and flushing
    costs nothing.  On CUDA, deterministic algorithms are requested (cuDNN deterministic, no benchmark
    autotuning, cuBLAS workspace pinned, warnings where an operation has no deterministic version, collected
    in :data:`NONDETERMINISTIC_OPS` for the results' notes) and TF32 is switched off for matrix products and
    convolutions, so float32 means float32.  The returned dict says what was set, and ``compiled_steps`` when
    ``$CLUSTUTILS_COMPILE=1`` makes :func:`fit` compile every training step.
    """
    device = torch.device(device)
    compiled = {"compiled_steps": True} if env.get(env.COMPILE) == "1" else {}  # fit compiles every step
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        torch.use_deterministic_algorithms(True, warn_only=True)
        _watch_nondeterministic_ops()
        return {"deterministic": True, "tf32": False, **compiled}
    return {"flush_denormal": bool(torch.set_flush_denormal(True)), **compiled}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _job_worker() -> None:
    """A :func:`run_jobs` worker: one torch thread and the CPU numerics a notebook sets."""
    torch.set_num_threads(1)
    configure_numerics(torch.device("cpu"))


def run_jobs(fn: Callable, jobs: Sequence[tuple], *, device: torch.device | str, processes: int | None = None,
             desc: str = "jobs") -> list:
    """``[fn(*job) for job in jobs]``, on the CPU in parallel processes, with a progress bar over the jobs.

    On the CPU each job runs in one of ``processes`` worker processes (default: the cores this process may use,
    at most one per job), each with one torch thread and the numerics of :func:`configure_numerics`: a job gives
    what it gives in a one-thread process, bit for bit (tested), and ``k`` cores run about ``k`` jobs at once
    where one process's thread would leave the others idle.  ``fn`` must be importable (a module's function,
    not a notebook's) and so must its arguments and result; tensors travel through shared memory.  Each job
    must seed itself.  On a GPU, or with one process, the jobs run one after another in this process.
    """
    jobs = list(jobs)
    if processes is None:
        processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    processes = min(processes, len(jobs))
    if processes < 1 and jobs:
        raise ValueError(f"run_jobs needs at least one process, got {processes}")
    with tqdm(total=len(jobs), desc=desc, leave=False, disable=len(jobs) < 2) as bar:
        if torch.device(device).type != "cpu" or processes <= 1:
            results = []
            for job in jobs:
                results.append(fn(*job))
                bar.update()
            return results
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_job_worker) as pool:
            futures = [pool.submit(fn, *job) for job in jobs]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            return [future.result() for future in futures]


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """The minibatches of one epoch over ``n`` shuffled rows: ``batch_size`` each, the last one partial.

    A last batch of a single row is folded into the one before it (which then has ``batch_size + 1``
    rows), so that batch-norm layers, which cannot normalise one sample in training mode, never get one.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, starts[1:] + [n])]


class Hook:
    """Work that :func:`fit` runs inside training; a subclass overrides what it needs.

    ``epoch_start(model, epoch)`` runs before an epoch's first step (e.g. DEC's target refresh),
    ``step_end(model, step)`` after every optimiser step (e.g. DCN's centroid update),
    ``epoch_end(model, epoch)`` after an epoch's last step (e.g. DKM's annealing) and
    ``train_end(model)`` once, when training stops.  A model of this package hands its own hooks
    to :func:`fit` through its ``hooks(x, epochs)`` method.
    """

    def epoch_start(self, model: torch.nn.Module, epoch: int) -> None:
        pass

    def step_end(self, model: torch.nn.Module, step: int) -> None:
        pass

    def epoch_end(self, model: torch.nn.Module, epoch: int) -> None:
        pass

    def train_end(self, model: torch.nn.Module) -> None:
        pass


class WeightAverage(Hook):
    """At the end of training, set the weights to their mean over every step from epoch ``start_epoch`` on.

    The mean is a running mean updated in place after each step: no copy of the weights is kept per step.
    """

    def __init__(self, start_epoch: int):
        self.start_epoch, self.epoch, self.mean, self.count = start_epoch, -1, None, 0

    def epoch_start(self, model, epoch):
        self.epoch = epoch

    @torch.no_grad()
    def step_end(self, model, step):
        if self.epoch < self.start_epoch:
            return
        params = [p.detach() for p in model.parameters()]
        self.count += 1
        if self.mean is None:
            self.mean = [p.clone() for p in params]
        else:
            torch._foreach_lerp_(self.mean, params, 1.0 / self.count)

    @torch.no_grad()
    def train_end(self, model):
        if self.mean is not None:
            for p, m in zip(model.parameters(), self.mean):
                p.copy_(m)


def cpu_layout(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """On the CPU, store ``model``'s 4-D weights (convolution kernels) channels-last; return ``model``.

    oneDNN, which runs PyTorch's CPU convolutions, computes in this layout and otherwise converts the
    weights at every call.  Measured on one thread of the book's 2-core machine
    (``benchmarks/steps_bench.py --compare-layout``, Performance page), a step of chapter 3's GAR network, chapter 5's
    CNN autoencoder and chapter 1's LOC network gets about 1.3 times faster.  The parameters stay the same objects
    (an optimiser built on them keeps working), results equal the default layout's up to floating-point
    reordering, and models without 4-D weights are untouched.  On other devices nothing changes (the GPU
    times of the book were measured in the default layout).
    """
    if torch.device(device).type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    tensors: tuple[torch.Tensor, ...],
    *,
    epochs: int,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    seed: int = 0,
    max_steps: int | None = None,
    scheduler=None,
    hooks: Sequence[Hook] = (),
    callback: Callable[[torch.nn.Module, int], None] | None = None,
    on_epoch_end: Callable[[int, float], None] | None = None,
    select_best: Callable[[torch.nn.Module], float] | None = None,
    desc: str = "training",
    progress: bool = True,
    compile: bool | None = None,
) -> list[float]:
    """The training engine: train ``model`` on tensors that sit on its device; return the mean loss per epoch.

    Each step calls ``loss_fn(model, *batch)`` on a minibatch of rows, shuffled anew every epoch by a
    generator seeded with ``seed`` and sliced by :func:`batch_slices` (no DataLoader, no per-sample
    Python work); on the CPU the model's convolution weights are first stored channels-last
    (:func:`cpu_layout`).  Training runs ``epochs`` epochs, or stops after ``max_steps`` optimiser steps if
    that comes first (the last epoch is then partial and its loss is the mean over the rows it saw).

    - ``hooks``: :class:`Hook` objects for once-per-epoch and per-step work;
    - ``callback(model, step)``: called with step 0 before training and after every step, e.g. to
      measure a learning curve (it may switch the model to eval mode; training mode is restored);
    - ``on_epoch_end(epoch, mean_loss)``: after every epoch, e.g. to log;
    - ``select_best``: a score to minimise (e.g. the validation error) computed after every epoch;
      the model ends with the weights of its best epoch (early stopping without stopping);
    - ``scheduler``: stepped once per epoch.

    ``progress=False`` hides the progress bar (one bar over the steps).

    In a rehearsal (``$CLUSTUTILS_MAX_STEPS``, set by ``clustutils run --rehearse``) every call stops after
    that many steps.

    ``compile=True`` (opt-in; ``None``: on when ``$CLUSTUTILS_COMPILE`` is ``1``, so a whole run can ask for it) compiles the loss with :func:`torch.compile` (forward and backward graphs), on
    CUDA in ``mode="reduce-overhead"``, which replays each step's kernels as one CUDA graph: for the book's
    small models a step is otherwise mostly kernel-launch overhead.  Batches keep one shape except the last
    of an epoch (one more graph).  The result equals eager training up to floating-point reordering; use a
    fused or capturable optimiser (``torch.optim.Adam(..., fused=True)``) on CUDA for the update as well.
    """
    if epochs < 0 or batch_size < 1 or (max_steps is not None and max_steps < 0):
        raise ValueError(f"epochs and max_steps must be >= 0 and batch_size >= 1, got {epochs}, {max_steps}, {batch_size}")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all tensors must have the same length")
    slices = batch_slices(n, batch_size)
    cpu_layout(model, tensors[0].device)
    step_loss = loss_fn
    if compile is None:
        compile = env.get(env.COMPILE) == "1"
    if compile:
        cuda = tensors[0].device.type == "cuda"
        step_loss = torch.compile(loss_fn, mode="reduce-overhead" if cuda else None, dynamic=False)
    total = epochs * len(slices) if max_steps is None else min(max_steps, epochs * len(slices))
    if env.rehearsal_steps() is not None:  # a rehearsal: every loop cut short (clustutils run --rehearse)
        total = min(total, env.rehearsal_steps())
    generator = torch.Generator(device="cpu").manual_seed(seed)
    history, step = [], 0
    best_score, best_state = float("inf"), None
    if callback is not None:
        callback(model, 0)
    with tqdm(total=total, desc=desc, leave=False, disable=not progress, mininterval=2.0) as bar:
        for epoch in range(epochs):
            if step == total:
                break
            model.train()
            for hook in hooks:
                hook.epoch_start(model, epoch)
            order = torch.randperm(n, generator=generator).to(tensors[0].device)
            running, seen = torch.zeros((), device=tensors[0].device), 0
            for batch in slices:
                if step == total:
                    break
                index = order[batch]
                loss = step_loss(model, *(t[index] for t in tensors))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                running += loss.detach() * len(index)
                seen += len(index)
                for hook in hooks:
                    hook.step_end(model, step)
                if callback is not None:
                    callback(model, step)
                    model.train()
                bar.update(1)
            for hook in hooks:
                hook.epoch_end(model, epoch)
            if scheduler is not None:
                scheduler.step()
            history.append(float(running) / seen)
            bar.set_postfix(loss=f"{history[-1]:.4g}", refresh=False)
            if on_epoch_end is not None:
                on_epoch_end(epoch, history[-1])
            if select_best is not None:
                model.eval()
                with torch.no_grad():
                    score = float(select_best(model))
                if score < best_score:
                    best_score = score
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for hook in hooks:
        hook.train_end(model)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor | tuple], x: torch.Tensor, batch_size: int = 10000):
    """``fn(x)`` computed on chunks of ``batch_size`` rows without gradients, the outputs concatenated.

    The one inference helper of the package (encode, predict, embed over a whole data set).  ``fn``
    may return a tensor or a tuple of tensors; the result has the same shape.  Outputs stay torch
    tensors on ``fn``'s device: convert with ``.cpu().numpy()`` only at a NumPy/scikit-learn boundary.
    """
    chunks = [fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    if chunks and isinstance(chunks[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*chunks))
    return torch.cat(chunks) if chunks else fn(x)


@torch.no_grad()
def error_rate(model: torch.nn.Module, x, y, batch_size: int = 5000) -> float:
    """Fraction of rows of ``x`` whose argmax logit differs from ``y``."""
    model.eval()
    return int((batched(lambda xb: model(xb).argmax(1), x, batch_size) != y).sum()) / len(x)


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
