"""Chapter 1 on the paper's schedule: does training for 500 epochs close the gap to Table 1?

The `cpu` profile trains AE + ACRBM (10 clusters) and the autoencoder for k-means for 15 epochs, the paper
for 500.  This script trains one seed of each on the paper's settings (``BUDGET.settings("full")``: all
60,000 training digits, Table 3's optimiser, the paper's 500 epochs), exactly as the notebook does (one
torch thread, denormals flushed, ``seed_everything`` then :func:`osa.train`), and scores the 10,000 test
digits at a few epochs along the way: AE + ACRBM by its hidden units' argmax, the autoencoder by
Appendix B's 500 k-means restarts on its codes, kept by the lowest inertia and, as the paper does, by
the highest accuracy (which looks at the test labels).  Scoring does not touch the training's random
streams, so each checkpoint is the model a run of that many epochs would end with.

    python benchmarks/long_schedule.py    # about 20 minutes on 2 cores (the two models side by side)

Writes ``benchmarks/results/ch01_long_schedule.json``; chapter 1 shows it beside its own run.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clustutils.results import git_commit

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "results" / "ch01_long_schedule.json"
MODELS = ("ae_acrbm_10", "ae_kmeans")  # the notebook's row names


def one_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Train ``model_name`` for ``max(checkpoints)`` epochs and score it after each checkpoint epoch."""
    import numpy as np
    import torch

    from clustutils import metrics
    from clustutils.data import load_split
    from clustutils.papers import ch01_onestage as osa
    from clustutils.train import configure_numerics, host_name, seed_everything

    torch.set_num_threads(1)
    configure_numerics(torch.device("cpu"))
    settings = osa.BUDGET.settings("full")
    train_set, test_set = load_split("mnist", seed=seed)
    x_train = torch.tensor(train_set.features()[:settings.n_train])
    x_test, y_test = torch.tensor(test_set.features()[:settings.n_test]), test_set.labels[:settings.n_test]

    def scores(labels) -> dict:
        return {"majority_acc": metrics.majority_acc(y_test, labels), "acc": metrics.cluster_acc(y_test, labels),
                "nmi": metrics.nmi(y_test, labels)}

    seed_everything(seed)
    if model_name == "ae_acrbm_10":
        model = osa.AEACRBM(784, 10, encoder=100, latent=90, decoder=100, weight=settings.acrbm_weight,
                            coupling=settings.coupling)
    else:
        model = osa.AEKMeans(784, extra=10)
    rows, started = [], time.time()

    def score(epoch: int, loss: float) -> None:
        if epoch + 1 not in checkpoints:
            return
        with torch.no_grad():
            out = model(x_test)
        if model_name == "ae_acrbm_10":
            row = scores(out[1].argmax(1).numpy())
        else:
            chosen = osa.kmeans_selections(out[0].numpy(), y_test, 10, n_init=settings.restarts, seed=seed)
            row = {**scores(chosen["accuracy"]["labels"]),
                   **{f"{k}_by_inertia": v for k, v in scores(chosen["inertia"]["labels"]).items()}}
        rows.append({"epoch": epoch + 1, "loss": loss, **row, "seconds": round(time.time() - started, 1)})
        print(f"{model_name} epoch {epoch + 1}: {row}", file=sys.stderr, flush=True)

    osa.train(model, x_train, settings, row=10, seed=seed, epochs=max(checkpoints), on_epoch_end=score, progress=False)
    return {"model": model_name, "host": host_name(), "torch": torch.__version__, "numpy": np.__version__,
            "checkpoints": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the cpu run's first seed (0)")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[15, 50, 100, 200, 500],
                        help="epochs after which to score (the last is the training's length)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.checkpoints) < 1:
        parser.error(f"checkpoints must be epochs >= 1, got {args.checkpoints}")
    checkpoints = sorted(set(args.checkpoints))
    if args.worker:
        print(json.dumps(one_model(args.worker, args.seed, checkpoints)))
        return 0

    def launch(name: str) -> dict:
        done = subprocess.run([sys.executable, __file__, "--worker", name, "--seed", str(args.seed), "--checkpoints",
                               *map(str, checkpoints)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                              stdout=subprocess.PIPE, text=True)
        if done.returncode:
            raise SystemExit(f"{name} failed (exit {done.returncode}); its log is above")
        return json.loads(done.stdout.splitlines()[-1])

    commit = git_commit(ROOT)  # "+dirty" when the checkout has uncommitted changes
    started = time.time()
    with ThreadPoolExecutor(len(MODELS)) as pool:
        models = list(pool.map(launch, MODELS))
    args.output.write_text(json.dumps({
        "experiment": "chapter 1, AE + ACRBM (10 clusters) and AE + k-means on MNIST, the paper's settings, one seed",
        "seed": args.seed, "commit": commit, "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "seconds": round(time.time() - started), "models": models}, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
