"""One `cpu`-profile result under other CPU kernel sets and thread counts: how far the machine alone moves a number.

Trains chapter 3's GAR on MNIST with the `cpu` profile's settings for one seed, exactly as the notebook
does (one torch thread, denormals flushed), once with this machine's default kernels and once per
variant below, and scores k-means on F of the test images. Only the kernels or the thread count differ
between the runs: PyTorch's own vectorised kernels (``ATEN_CPU_CAPABILITY``) and oneDNN's convolutions
(``ONEDNN_MAX_CPU_ISA``), which a processor without AVX-512 would pick by itself, or two torch threads
instead of one (which splits the sums of a matrix product differently).

    python benchmarks/cpu_kernels.py --seed 2 --jobs 2    # about 25 minutes on 2 cores

Writes ``benchmarks/results/cpu_kernels.json``; ``report.py`` puts it on the Performance page.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clustutils.results import git_commit

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {  # name: (environment, torch threads)
    "this machine's default": ({}, 1),
    "PyTorch kernels capped at AVX2": ({"ATEN_CPU_CAPABILITY": "avx2"}, 1),
    "PyTorch and oneDNN kernels capped at AVX2": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, 1),
    "this machine's default, two torch threads": ({}, 2),
}


def one_run(seed: int, threads: int) -> dict:
    """Chapter 3's cpu GAR MNIST training for ``seed`` on ``threads`` torch threads; its ACC and a digest of
    the trained weights."""
    import torch

    from clustutils.data import load_split
    from clustutils.papers import ch03_gar as gar
    from clustutils.train import configure_numerics, host_name

    torch.set_num_threads(threads)
    configure_numerics(torch.device("cpu"))
    settings = gar.BUDGET.settings("cpu")
    train, test = load_split("mnist", seed=0)
    x_train = train.tensors()[0][:settings.n_train]
    x_test, y_test = test.tensors()[0][:settings.n_test], test.labels[:settings.n_test]
    settings = settings.for_dataset("mnist", len(x_train))
    config = gar.GarConfig(epochs=settings.epochs, widths=settings.widths, d_f=settings.d_f)
    started = time.time()
    model = gar.fit(x_train, config, seed=seed, progress=False)
    weights = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16]
    scores = gar.evaluate(gar.embed(model, x_test)[0], y_test, k=10, n_init=settings.restarts, seed=seed)
    return {"host": host_name(), "acc": scores["acc"], "weights_sha256": weights, "steps": config.total_steps(len(x_train)),
            "seconds": round(time.time() - started, 1), "torch": torch.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (each on its variant's threads)")
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(one_run(args.seed, args.threads)))
        return 0

    def launch(name: str) -> dict:
        environment, threads = VARIANTS[name]
        done = subprocess.run([sys.executable, __file__, "--worker", "--seed", str(args.seed), "--threads", str(threads)],
                              env={**os.environ, **environment}, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the run with {name} failed:\n{done.stderr[-2000:]}")
        print(f"{name}: done", flush=True)
        return {"kernels": name, "environment": environment, "threads": threads, **json.loads(done.stdout.splitlines()[-1])}

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(launch, VARIANTS))
    commit = git_commit(ROOT)  # "+dirty" when the checkout has uncommitted changes
    out = ROOT / "benchmarks" / "results" / "cpu_kernels.json"
    out.write_text(json.dumps({"experiment": "chapter 3, GAR on MNIST, cpu profile", "seed": args.seed, "commit": commit,
                               "date": time.strftime("%Y-%m-%d", time.gmtime()), "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
