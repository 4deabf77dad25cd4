"""Benchmark: clustutils.kmeans (both backends) against scikit-learn (and faiss-cpu when installed).

Workloads of the book: 10,000 x 100 and 70,000 x 784 float32 (MNIST train + test when the data
root has it, else Gaussian blobs), k = 10, with 1, 20 and 500 restarts.  Reports wall time and
inertia as ratios to scikit-learn's ``KMeans(n_init=r)``, measured in one run on one machine, and
writes ``benchmarks/results/kmeans.json`` and the Markdown table the Performance page includes.

A configuration whose estimated scikit-learn time (extrapolated from its 20-restart run) exceeds
``--max-seconds`` is skipped and marked as such rather than run for hours.

Usage: python benchmarks/kmeans_bench.py [--max-seconds 900]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_info

from clustutils.kmeans import kmeans

HERE = Path(__file__).resolve().parent
K = 10


def workloads():
    x_small, _ = make_blobs(10_000, n_features=100, centers=K, cluster_std=6.0, random_state=0)
    yield "blobs 10,000 x 100", x_small.astype(np.float32)
    try:
        from clustutils.data import load

        yield "MNIST 70,000 x 784", load("mnist", "all", download=False).features()
    except (FileNotFoundError, ValueError):
        x_large, _ = make_blobs(70_000, n_features=784, centers=K, cluster_std=8.0, random_state=0)
        yield "blobs 70,000 x 784", x_large.astype(np.float32)


def timed(fn):
    start = time.perf_counter()
    inertia = fn()
    return time.perf_counter() - start, float(inertia)


def contenders(x, restarts):
    yield "scikit-learn KMeans(n_init=r)", lambda: KMeans(K, n_init=restarts, random_state=0).fit(x).inertia_
    yield "clustutils.kmeans (scikit-learn backend)", lambda: kmeans(x, K, n_init=restarts, seed=0, progress=False).inertia
    xt = torch.from_numpy(x)
    yield "clustutils.kmeans (torch backend, CPU)", lambda: kmeans(xt, K, n_init=restarts, seed=0, progress=False,
                                                                    backend="torch").inertia
    if torch.cuda.is_available():
        xc = xt.cuda()
        name = torch.cuda.get_device_name()

        def on_gpu():
            inertia = kmeans(xc, K, n_init=restarts, seed=0, progress=False).inertia  # auto: torch on CUDA
            torch.cuda.synchronize()
            return inertia

        yield f"clustutils.kmeans (torch backend, {name})", on_gpu
    try:
        import faiss

        def run_faiss():
            # faiss trains on 256 points per centroid by default; use every point, as scikit-learn does.
            model = faiss.Kmeans(x.shape[1], K, niter=300, nredo=restarts, seed=0, verbose=False,
                                 max_points_per_centroid=len(x) // K + 1)
            model.train(np.ascontiguousarray(x))
            _, index = model.index.search(np.ascontiguousarray(x), 1)
            return ((x - model.centroids[index[:, 0]]) ** 2).sum()

        yield f"faiss-cpu {faiss.__version__} (random init)", run_faiss
    except ImportError:
        pass


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    blas = ", ".join(sorted({f"{i['internal_api']} {i.get('version') or ''}".strip() for i in threadpool_info()}))
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    return (f"{cpu}, {os.cpu_count()} cores, OMP_NUM_THREADS={threads}; Python {platform.python_version()}, "
            f"scikit-learn {sklearn.__version__}, NumPy {np.__version__}; {blas}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=900.0, help="skip configurations estimated to take longer")
    parser.add_argument("--restarts", type=int, nargs="+", default=[1, 20, 500])
    parser.add_argument("--output", default=str(HERE / "results" / "kmeans.json"), help="where to write the results")
    args = parser.parse_args()
    rows = []
    for name, x in workloads():
        per_restart = None
        for restarts in args.restarts:
            if per_restart is not None and per_restart * restarts > args.max_seconds:
                rows.append({"data": name, "restarts": restarts, "method": "all", "skipped":
                             f"estimated {per_restart * restarts:.0f} s for scikit-learn > {args.max_seconds:.0f} s"})
                print(rows[-1], flush=True)
                continue
            reference = None
            for method, fn in contenders(x, restarts):
                seconds, inertia = timed(fn)
                if reference is None:
                    reference = (seconds, inertia)
                    per_restart = seconds / restarts
                rows.append({"data": name, "restarts": restarts, "method": method, "seconds": round(seconds, 3),
                             "inertia": inertia, "time_ratio": round(seconds / reference[0], 3),
                             "inertia_ratio": round(inertia / reference[1], 5)})
                print(rows[-1], flush=True)
    out = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
