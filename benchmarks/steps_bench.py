"""Benchmark: milliseconds per optimiser step of every training loop of the book, on one device.

Each loop is a model of its chapter at the ``cpu`` profile's size (``--full`` for the paper's sizes) with
its loss, Adam and one random batch; after warm-up steps, ``--steps`` steps are timed (CUDA synchronised).
``--compare-pretraining`` also times chapter 2's pretraining of its ten class autoencoders (contraction
penalty, sigmoid units, SGD, batch 100 per class, ``--pretrain-rows`` random rows of 784 pixels split into
ten classes of MNIST's unequal proportions), in ms per epoch, one autoencoder after another
(``sequential``) and as one batched model (``batched``), through
:func:`clustutils.papers.ch02_energy.pretrain_class_autoencoders`.
``--compare-denormals`` (CPU) also trains chapter 2's CSAE for ``--warm-steps`` steps on MNIST digits, where
its saturated sigmoid units start producing denormal floats, and times it with denormals kept and flushed
to zero (what :func:`clustutils.train.configure_numerics` sets).  Writes JSON for the Performance page.

``--compare-layout`` (CPU) also times every convolutional loop with its weights in PyTorch's default layout
instead of the channels-last layout the training engine uses on the CPU (:func:`clustutils.train.cpu_layout`).

Usage: python benchmarks/steps_bench.py [--device cuda] [--steps 30] [--compile] [--compare-pretraining] [--compare-denormals]
       [--compare-layout] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from clustutils import autoencoders
from clustutils.papers import baselines
from clustutils.papers import ch01_onestage as onestage
from clustutils.papers import ch02_energy as energy
from clustutils.papers import ch03_gar as gar
from clustutils.papers import ch04_cm as cm
from clustutils.papers import ch05_histo as histo
from clustutils.train import cpu_layout, device_name

HERE = Path(__file__).resolve().parent


def loops(device, full: bool):
    """(name, model, loss of one step) for every training loop of the book."""
    g = torch.Generator().manual_seed(0)
    mnist = torch.rand(1000, 784, generator=g).to(device)
    images = torch.rand(400, 1, 28, 28, generator=g).to(device)
    labels = torch.randint(0, 10, (1000,), generator=g).to(device)
    widths, d_f = ((32, 64), 2048) if full else ((16, 32), 1024)
    config = gar.GarConfig(widths=widths, d_f=d_f)
    net = gar.GarCNN(widths=widths, d_f=d_f).to(device)
    t = torch.randint(0, 8, (400,), generator=g).to(device)
    yield "ch3 GAR step (batch 400)", net, lambda: gar.gar_loss(net, gar.transform_batch(images, t, gar.ROTATION_FLIPS), t, config)
    ae = autoencoders.Autoencoder(784, 10).to(device)
    yield "ch3/4 autoencoder 784-500-500-2000-10 (batch 256)", ae, lambda: ae.loss(mnist[:256])
    model = cm.ClusteringModule(784, 10, alpha=1587.0).to(device)
    yield "ch4 CM (batch 1,000)", model, lambda: model.loss(mnist)
    aecm = cm.AECM(784, 10, alpha=230.0).to(device)
    yield "ch4 AE-CM (batch 500)", aecm, lambda: aecm.loss(mnist[:500])
    index = torch.arange(256, device=device)
    for cls, extra in ((baselines.DEC, {}), (baselines.IDEC, {}), (baselines.DCN, {"assignments": labels}), (baselines.DKM, {})):
        base = autoencoders.Autoencoder(784, 10).to(device)
        m = cls(base, torch.randn(10, 10, generator=g), **extra).to(device)
        if cls in (baselines.DEC, baselines.IDEC):
            baselines.refresh_target(m, mnist)
        yield f"ch4 {cls.__name__} (batch 256)", m, (lambda m=m: m.loss(mnist[:256], index))
    csae = energy.CSAE(10, 784, 300 if full else 100).to(device)
    yield "ch2 CSAE, 10 class autoencoders (batch 100)", csae, lambda: torch.nn.functional.cross_entropy(csae(mnist[:100]), labels[:100])
    acrbm = onestage.AEACRBM(784, 10).to(device)
    yield "ch1 AE + ACRBM(10) (batch 256)", acrbm, lambda: acrbm.loss(mnist[:256])
    patches = torch.rand(64, 3, 50, 50, generator=g).to(device)
    fc = histo.FCAutoencoder(64, widths=(2000, 1000, 500) if full else (500, 250, 125)).to(device)
    yield "ch5 FC autoencoder (batch 64)", fc, lambda: histo.summed_squared_error(fc, patches)
    conv = histo.ConvAutoencoder(width=1.0 if full else 0.125).to(device)
    yield "ch5 CNN autoencoder (batch 64)", conv, lambda: histo.summed_squared_error(conv, patches)
    side = 256 if full else 128
    loc_images = torch.rand(64, 3, side, side, generator=g).to(device)
    loc = onestage.LOCNet().to(device)
    yield f"ch1 LOC network ({side} px, batch 64)", loc, lambda: onestage.loc_loss(loc_images, loc(loc_images), rho=0.0)


def time_steps(model, loss_fn, steps: int, device, optimizer=None, warmup: int = 5, layout: bool = True) -> float:
    """Milliseconds per step; ``layout``: the memory layout the engine trains in (:func:`clustutils.train.cpu_layout`),
    else PyTorch's default (contiguous) layout."""
    if layout:
        cpu_layout(model, device)
    else:
        model.to(memory_format=torch.contiguous_format)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    after = getattr(model, "update_centroids", lambda: None)  # DCN's per-step work
    model.train()
    for i in range(steps + warmup):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
        optimizer.step()
        after()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start) / steps


MNIST_CLASS_SIZES = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)  # the training set's digits 0-9


def pretraining_per_epoch(device, full: bool, rows: int, epochs: int = 2) -> list[dict]:
    """ms per epoch of chapter 2's class-autoencoder pretraining, ``sequential`` and ``batched``."""
    g = torch.Generator().manual_seed(0)
    counts = torch.tensor(MNIST_CLASS_SIZES, dtype=torch.float64)
    y = torch.multinomial(counts / counts.sum(), rows, replacement=True, generator=g).to(device)
    x = torch.rand(rows, 784, generator=g).to(device)
    n_hidden = 300 if full else 100
    out = []
    for mode in ("sequential", "batched"):
        energy.pretrain_class_autoencoders(x, y, 10, n_hidden, "sigmoid", epochs=1, lr=0.01, batch_size=100,
                                           batched=mode == "batched", progress=False)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        energy.pretrain_class_autoencoders(x, y, 10, n_hidden, "sigmoid", epochs=epochs, lr=0.01, batch_size=100,
                                           batched=mode == "batched", progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        ms = 1000 * (time.perf_counter() - start) / epochs
        out.append({"loop": f"ch2 pretraining of 10 class autoencoders 784-{n_hidden}, {mode} "
                            f"({rows:,} rows, batch 100 per class), ms per epoch", "ms": round(ms, 1)})
    return out


def denormal_effect(warm_steps: int, steps: int) -> dict:
    """ms/step of the CSAE trained ``warm_steps`` steps on MNIST, denormals kept and flushed (CPU)."""
    from clustutils.data import load

    x, y = load("mnist", "train").tensors()
    x = x.flatten(1)[:10_000]
    y = y[:10_000]
    torch.manual_seed(0)
    csae = energy.CSAE(10, 784, 100)
    optimizer = torch.optim.Adam(csae.parameters(), lr=1e-3)
    batches = torch.randint(0, len(x), (warm_steps + 2 * steps + 10, 100))
    it = iter(batches)

    def loss():
        rows = next(it)
        return torch.nn.functional.cross_entropy(csae(x[rows]), y[rows])

    torch.set_flush_denormal(True)
    time_steps(csae, loss, warm_steps, torch.device("cpu"), optimizer, warmup=0)  # training, not timed
    out = {"loop": f"ch2 CSAE after {warm_steps} training steps (batch 100)"}
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        out["ms_keep" if not flush else "ms"] = round(time_steps(csae, loss, steps, torch.device("cpu"), optimizer, warmup=2), 2)
    torch.set_flush_denormal(True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--full", action="store_true", help="the paper's model sizes (default: the cpu profile's)")
    parser.add_argument("--compare-pretraining", action="store_true",
                        help="chapter 2's class-autoencoder pretraining, sequential and batched (ms per epoch)")
    parser.add_argument("--pretrain-rows", type=int, default=50_000, help="rows for --compare-pretraining "
                        "(50,000: the cpu profile's MNIST training digits)")
    parser.add_argument("--compare-denormals", action="store_true")
    parser.add_argument("--compare-layout", action="store_true", help="(CPU) also time each loop with convolution "
                        "weights in the default layout instead of channels-last (clustutils.train.cpu_layout)")
    parser.add_argument("--compile", action="store_true", help="also time each loop with its loss compiled "
                        "(torch.compile; mode reduce-overhead, i.e. CUDA graphs, on CUDA): fit(..., compile=True)")
    parser.add_argument("--warm-steps", type=int, default=600, help="CSAE training steps before the denormal comparison")
    parser.add_argument("--output", help="JSON to write (default benchmarks/results/steps_<device>.json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # as the notebooks run (configure_numerics)
    for name, model, loss_fn in loops(device, args.full):
        rows.append({"loop": name, "ms": round(time_steps(model, loss_fn, args.steps, device), 2)})
        if args.compare_layout and device.type == "cpu" and any(p.ndim == 4 for p in model.parameters()):
            rows[-1]["ms_default_layout"] = round(time_steps(model, loss_fn, args.steps, device, layout=False), 2)
            cpu_layout(model, device)
        if args.compile:  # warm-up steps include the compilation
            compiled = torch.compile(loss_fn, mode="reduce-overhead" if device.type == "cuda" else None, dynamic=False)
            try:
                rows[-1]["ms_compiled"] = round(time_steps(model, compiled, args.steps, device, warmup=10), 2)
            except Exception as error:  # noqa: BLE001  (a missing compiler toolchain: say so, keep measuring)
                rows[-1]["compile_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        print(rows[-1], flush=True)
    if args.compare_pretraining:
        for row in pretraining_per_epoch(device, args.full, args.pretrain_rows):
            rows.append(row)
            print(row, flush=True)
    if args.compare_denormals and device.type == "cpu":
        rows.append(denormal_effect(args.warm_steps, args.steps))
        print(rows[-1], flush=True)
    out = {"device": device_name(device), "threads": torch.get_num_threads(), "full_size": args.full,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores", "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%d"), "rows": rows}
    path = Path(args.output or HERE / "results" / f"steps_{device.type}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
