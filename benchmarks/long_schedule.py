"""Chapters on the paper's schedule and choices, one seed: how much of a gap to the paper do they close?

A profile trains for fewer epochs (and with smaller models) than the paper; this script trains one seed of a
chapter's headline models on the paper's settings (``BUDGET.settings("full")``), exactly as the chapter's
notebook does (one torch thread, denormals flushed, the notebook's functions and seeds), and scores the test set
at a few epochs along the way.  Scoring does not touch the training's random streams, so each checkpoint is the
model a run of that many epochs would end with.  The models of a chapter train side by side, one process each.

``ch01`` (about 20 minutes on 2 cores): AE + ACRBM (10 clusters) and the autoencoder for k-means, 500 epochs;
AE + ACRBM scored by its hidden units' argmax, the autoencoder by Appendix B's 500 k-means restarts on its codes,
kept by the lowest inertia and, as the paper does, by the highest accuracy (which looks at the test labels).

``ch02`` (about 25 minutes on 2 cores): the sigmoid CSAE of Table 2 on the paper's sizes (300 hidden units per
class, 30 pretraining and 100 fine-tuning epochs) and on the ``cpu`` profile's (100 units, 10 pretraining epochs)
fine-tuned for the paper's 100 epochs.  Both keep the epoch of lowest validation error, as the notebook does;
checkpoint N is the test error of the epoch the validation digits pick among the first N (the model a run of N
fine-tuning epochs ends with).  Every epoch's validation and test errors are kept too.

``ch02_validation`` (about 15 minutes on 2 cores): two choices the paper made and we fixed.  The sigmoid CSAE on the
``cpu`` profile's sizes with each contraction weight the paper validated (0.2, 0.5, 1.0), fine-tuned for 30 epochs
with the epoch picked on the validation digits; then, as the paper does, each retrained from scratch on all 60,000
training digits for its picked number of epochs.  The validation error, not the test error, says which weight wins.

``ch02_tuning`` (about 45 minutes on 2 cores): the paper's fine-tuning validation, which we fixed.  The sigmoid CSAE
pretrained as the ``full`` profile does (30 epochs), on a grid of hidden units per class (300, 100), learning rates
(0.003, 0.01, 0.03) and weight decays (0, 0.0001), each point fine-tuned for 30 epochs with the epoch picked on the
validation digits; then the point of lowest validation error retrained on all training digits for its picked epochs
and scored on the test digits, as the paper does with its chosen setting.

``ch02_rates`` (about 12 minutes on 2 cores): the fine-tuning rate, which the paper validated and does not give.  The
CSAE of each activation of Table 2 as the ``cpu`` profile trains it (its sizes, pretraining and 10 fine-tuning epochs),
fine-tuned from the same pretrained autoencoders at 0.001, 0.003, 0.01 and 0.03, the epoch picked on the validation
digits.  The validation errors choose each activation's fine-tuning rate (``Settings.finetune_learning_rate``).

``ch02_units`` (about 20 minutes on 2 cores): the two sizes of the paper's validation that ``ch02_tuning`` leaves out,
200 and 500 hidden units per class, each as a point of that grid at its picked rate (0.01) and weight decay (0).

``ch02_filter_norms`` (about 15 minutes on 2 cores): the filter normalisation the paper says "can help stabilize
the learning" (Section 4.3) and used in its Table 5 runs.  The sigmoid CSAE as the ``cpu`` profile trains it, with each
autoencoder's filters rescaled to their mean norm after every step in neither phase, in pretraining, in fine-tuning or
in both; fine-tuned for 30 epochs, the epoch picked on the validation digits (also among the first 10, the profile's).

``ch02_pretraining`` (about 20 minutes on 2 cores): the pretraining the paper chose "by visual inspection" of the
filters and gives no rate or length for.  The sigmoid CSAE on the ``cpu`` profile's sizes, its autoencoders pretrained at
0.01 (the profile's), 0.03 and 0.1 for 10 (the profile's), 30 and 100 epochs, each fine-tuned for 30 epochs at the
profile's rate with the epoch picked on the validation digits (also among the first 10, the profile's); then the point
of lowest validation error pretrained again on all training digits, validation digits included, as the paper did.
Each keeps the range of its pretrained weights (the paper's Figure 5: -4.72 to 4.67).

``ch03`` (about 45 minutes on one core): the GAR network of notebook 03 on the ``cpu`` profile's widths, its first
seed trained for the ``gpu`` profile's 50 epochs (7,500 steps; the paper shows "high accuracy after only 50 epochs"
of its 400) instead of the ``cpu`` profile's 8, scored as the notebook scores its learning curve (k-means on F of
the 10,000 test digits) at the ``cpu`` curve's epochs and the paper's up to 50.  Its first 8 epochs are the
notebook's first seed.

``ch03_rotations`` (about 20 minutes on 2 cores): the same network and schedule with the two pairs of
transformations of the paper's Section 4.6, {T1, T2} (identity and 90 degrees) and {T1, T3} (identity and 180
degrees), for 20 epochs (the notebook's study trains each for 4): does the paper's ranking (96.84 % for the
180-degree pair, 72.52 % for the 90-degree one, after 400 epochs) appear with training?  Each checkpoint also keeps
the pretext accuracy, the share of F's silent units and the share of the digits in k-means' largest cluster.

``ch04``: notebook 04b's MNIST autoencoder (all 70,000 digits) pretrained for 5 (the ``cpu`` profile's
until ac58010), 30 (the ``cpu`` and ``gpu`` profiles') and 100 epochs (the authors'); from each, k-means on the codes (20 restarts) and DEC and IDEC from its
centroids, as the notebook trains them, scored after the ``cpu`` and ``gpu`` profiles' 4 and 20 clustering epochs.  The first
epochs of a pretraining are a shorter pretraining (Adam without a schedule; tested).  On one core a pretraining epoch
takes about 19 s and each checkpoint's DEC and IDEC about 12 minutes: about 70 minutes in all.

``ch04_cm_rates`` (about 4 minutes on 2 cores): notebook 04's CM on MNIST and USPS at the ``cpu`` profile's batch
(1,000) and epochs with learning rates 0.001 (the authors'), 0.01 and 0.05, the profile's three seeds, and once on the
authors' schedule (batch 111 on MNIST, 150 on USPS; lr 0.001; 150 epochs).  The lowest training objective, not the
labels, picks the profile's rate (``cm_lr``); the authors' run says how far the profile's training is from theirs.

``ch04_pretraining`` (about 10 minutes on 2 cores): the authors' autoencoder pretraining (``AE.py``: SGD with a
step schedule, and the first layer's weights never trained) against the book's (Adam, every layer) on USPS, for the
authors' 100 epochs, each with and without the first layer trained; k-means on the codes along the way.

``ch04_pretraining_mnist`` (about 35 minutes on 2 cores): the same on MNIST, where the first layer narrows 784 -> 500
so that a frozen random layer loses part of each image: Adam with and without the first layer trained, 100 epochs.

``ch04_aecm_seeds`` (about 5 minutes on 2 cores): notebook 04b's AE-CM+pre on USPS as the ``cpu`` profile trains it,
from the notebook's first pretrained autoencoder, with five seeds for what follows the pretraining (k-means, the CM
on the codes, the joint epochs), scored after every joint epoch: how far one run's score is its seed's.

``ch04_aecm_seeds_mnist`` (about 5 minutes on 2 cores, the pretrained autoencoder cached): the same on MNIST, 4 joint
epochs.

``ch04_cm_prior`` (about 10 minutes on 2 cores, the pretrained autoencoders cached): AE-CM+pre's start on MNIST and
USPS (the CM trained on the frozen codes) with the authors' alpha and with alpha = 1, five seeds: how much of the
start's lead over k-means on the codes is the Dirichlet prior on cluster sizes.

``ch04_deep_seeds_mnist`` (about 45 minutes on 2 cores, seed 0's autoencoder cached): notebook 04b's MNIST deep rows
as the ``cpu`` profile trains them, seeds 0-4 with the pretraining included (k-means on the codes, AE-CM+pre, DEC,
IDEC, DCN and DKM, 4 clustering epochs each): each row's spread over seeds.

    python benchmarks/long_schedule.py          # chapter 1 (the default)
    python benchmarks/long_schedule.py ch02
    python benchmarks/long_schedule.py ch02_validation
    python benchmarks/long_schedule.py ch02_tuning
    python benchmarks/long_schedule.py ch02_rates
    python benchmarks/long_schedule.py ch02_filter_norms
    python benchmarks/long_schedule.py ch02_units
    python benchmarks/long_schedule.py ch02_pretraining
    python benchmarks/long_schedule.py ch03
    python benchmarks/long_schedule.py ch03_rotations
    python benchmarks/long_schedule.py ch04
    python benchmarks/long_schedule.py ch04_cm_rates
    python benchmarks/long_schedule.py ch04_pretraining
    python benchmarks/long_schedule.py ch04_pretraining_mnist
    python benchmarks/long_schedule.py ch04_aecm_seeds
    python benchmarks/long_schedule.py ch04_aecm_seeds_mnist
    python benchmarks/long_schedule.py ch04_cm_prior
    python benchmarks/long_schedule.py ch04_deep_seeds_mnist

Writes ``benchmarks/results/<chapter>_long_schedule.json``; the chapter shows it beside its own run.
"""

import argparse
import json
import functools
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clustutils.results import git_commit

ROOT = Path(__file__).resolve().parents[1]


def _setup():
    """One torch thread and the notebooks' CPU numerics; returns torch."""
    import torch

    from clustutils.train import configure_numerics

    torch.set_num_threads(1)
    configure_numerics(torch.device("cpu"))
    return torch


def _provenance(torch) -> dict:
    import numpy as np

    from clustutils.train import host_name

    return {"host": host_name(), "device": "cpu", "torch": torch.__version__, "numpy": np.__version__}  # as _setup


def ch01_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Train chapter 1's ``model_name`` for ``max(checkpoints)`` epochs and score it after each checkpoint epoch."""
    from clustutils import metrics
    from clustutils.data import load_split
    from clustutils.papers import ch01_onestage as osa
    from clustutils.train import seed_everything

    torch = _setup()
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
    return {"model": model_name, **_provenance(torch), "checkpoints": rows}


def _ch02_start(settings, seed: int, on_all_digits: bool = False, activation: str = "sigmoid",
                equal_filter_norms: bool = False) -> dict:
    """Chapter 2's MNIST split as the notebook makes it, and a CSAE of ``activation`` units pretrained on it with
    ``settings`` (at its pretraining rate; ``equal_filter_norms``: filters rescaled after every step)."""
    from clustutils.data import load_split
    from clustutils.papers import ch02_energy as en

    train_set, test_set = load_split("mnist", seed=seed)
    x_all, y_all = train_set.tensors()
    x_all, (x_test, y_test) = x_all.flatten(1), test_set.tensors()
    n_fit = len(x_all) - settings.n_val  # as the notebook: the last n_val training digits validate
    split = {"x_fit": x_all[:n_fit], "y_fit": y_all[:n_fit], "x_val": x_all[n_fit:], "y_val": y_all[n_fit:],
             "x_all": x_all, "y_all": y_all, "x_test": x_test.flatten(1), "y_test": y_test}
    x, y = (x_all, y_all) if on_all_digits else (split["x_fit"], split["y_fit"])
    autoencoders = en.pretrain_class_autoencoders(
        x, y, 10, settings.n_hidden, activation, epochs=settings.pretrain_epochs, lr=settings.learning_rate[activation],
        seed=seed, contraction_weight=settings.contraction_weight, corruption=settings.corruption,
        batch_size=settings.batch_size, equal_filter_norms=equal_filter_norms, progress=False)
    return {**split, "model": en.CSAE.from_autoencoders(autoencoders)}


def _ch02_finetune(name: str, start: dict, settings, seed: int, epochs: int, report: list[int], lr: float | None = None,
                   weight_decay: float = 0.0, equal_filter_norms: bool = False) -> list[dict]:
    """Fine-tune ``start['model']`` as the notebook does (the epoch of lowest validation error kept), scoring
    the validation and test digits after every epoch; returns those scores.  ``lr`` (default: the settings' sigmoid
    fine-tuning rate) and ``weight_decay`` are the fine-tuning's."""
    from clustutils.papers import ch02_energy as en

    model, scores, started = start["model"], [], time.time()

    def score(epoch: int, loss: float) -> None:
        scores.append({"epoch": epoch + 1, "loss": loss, "val_error": en.error_rate(model, start["x_val"], start["y_val"]),
                       "test_error": en.error_rate(model, start["x_test"], start["y_test"]),
                       "seconds": round(time.time() - started, 1)})
        if epoch + 1 in report:
            print(f"{name} fine-tuning epoch {scores[-1]}", file=sys.stderr, flush=True)

    en.finetune(model, start["x_fit"], start["y_fit"], start["x_val"], start["y_val"], epochs=epochs,
                lr=settings.finetune_learning_rate["sigmoid"] if lr is None else lr, weight_decay=weight_decay, seed=seed,
                equal_filter_norms=equal_filter_norms, on_epoch_end=score, progress=False)
    return scores


def ch02_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Pretrain and fine-tune chapter 2's sigmoid CSAE for ``max(checkpoints)`` epochs, scoring every epoch."""
    from clustutils.papers import ch02_energy as en

    torch = _setup()
    settings = en.BUDGET.settings("full" if model_name == "csae_sigmoid_paper_sizes" else "cpu")
    started = time.time()
    start = _ch02_start(settings, seed)
    pretrain_seconds = time.time() - started
    epochs = _ch02_finetune(model_name, start, settings, seed, max(checkpoints), checkpoints)
    model, x_test, y_test = start["model"], start["x_test"], start["y_test"]
    rows = []
    for n in checkpoints:
        best = min(epochs[:n], key=lambda e: e["val_error"])  # the first epoch of lowest validation error
        rows.append({"epoch": n, "best_epoch": best["epoch"], "val_error": best["val_error"],
                     "test_error": best["test_error"]})
    if en.error_rate(model, x_test, y_test) != rows[-1]["test_error"]:
        raise SystemExit("the fine-tuned model is not the epoch of lowest validation error: the scoring is wrong")
    return {"model": model_name, "n_hidden": settings.n_hidden, "pretrain_epochs": settings.pretrain_epochs,
            "learning_rate": settings.finetune_learning_rate["sigmoid"], **_provenance(torch), "pretrain_seconds": round(pretrain_seconds, 1),
            "checkpoints": rows, "epochs": epochs}


def ch02_validation_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Chapter 2's sigmoid CSAE on the ``cpu`` profile's sizes with the contraction weight ``model_name`` names
    (``contraction_0.2``, one the paper validated), fine-tuned for ``max(checkpoints)`` epochs with the epoch picked
    on the validation digits; then, as the paper does, retrained from scratch on all training digits (validation
    digits included) for that many epochs and scored on the test digits."""
    import dataclasses

    from clustutils.papers import ch02_energy as en

    torch = _setup()
    settings = dataclasses.replace(en.BUDGET.settings("cpu"), contraction_weight=float(model_name.split("_")[1]))
    start = _ch02_start(settings, seed)
    epochs = _ch02_finetune(model_name, start, settings, seed, max(checkpoints), checkpoints)
    best = min(epochs, key=lambda e: e["val_error"])  # the first epoch of lowest validation error
    started = time.time()
    again = _ch02_start(settings, seed, on_all_digits=True)
    en.finetune(again["model"], again["x_all"], again["y_all"], None, None, epochs=best["epoch"],
                lr=settings.finetune_learning_rate["sigmoid"], seed=seed, progress=False)
    retrained = en.error_rate(again["model"], again["x_test"], again["y_test"])
    print(f"{model_name}: epoch {best['epoch']} picked, retrained on all digits: test error {retrained:.4f}",
          file=sys.stderr, flush=True)
    return {"model": model_name, "contraction_weight": settings.contraction_weight, "n_hidden": settings.n_hidden,
            "pretrain_epochs": settings.pretrain_epochs, **_provenance(torch), "best_epoch": best["epoch"],
            "val_error": best["val_error"], "test_error": best["test_error"], "retrained_test_error": retrained,
            "retrain_seconds": round(time.time() - started, 1), "epochs": epochs}


def ch02_filter_norms_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Chapter 2's sigmoid CSAE as the ``cpu`` profile trains it, with the filters rescaled to equal norms after every
    step (:class:`~clustutils.papers.ch02_energy.EqualFilterNorms`) in the phases ``model_name`` names (``none``,
    ``pretraining``, ``finetuning``, ``both``); fine-tuned for ``max(checkpoints)`` epochs, the epoch picked on the
    validation digits among the first N for each checkpoint N.  Keeps the weights' range after pretraining and
    after fine-tuning (the paper's Figure 5: about +-4.7 pretrained, +-0.64 fine-tuned)."""
    from clustutils.papers import ch02_energy as en

    torch = _setup()
    settings = en.BUDGET.settings("cpu")
    start = _ch02_start(settings, seed, equal_filter_norms=model_name in ("pretraining", "both"))
    pretrained_range = float(start["model"].W.detach().abs().max())
    epochs = _ch02_finetune(model_name, start, settings, seed, max(checkpoints), checkpoints,
                            equal_filter_norms=model_name in ("finetuning", "both"))
    return {"model": model_name, "n_hidden": settings.n_hidden, "pretrain_epochs": settings.pretrain_epochs,
            "learning_rate": settings.finetune_learning_rate["sigmoid"], **_provenance(torch),
            "pretrained_max_abs_weight": pretrained_range,
            "finetuned_max_abs_weight": float(start["model"].W.detach().abs().max()),
            "checkpoints": _ch02_picks(epochs, checkpoints), "epochs": epochs}


def _ch02_picks(epochs: list[dict], checkpoints: list[int]) -> list[dict]:
    """For each checkpoint N, the epoch the validation digits pick among the first N fine-tuning ``epochs`` (the first
    of lowest validation error: the model a run of N epochs ends with) and its validation and test errors."""
    rows = []
    for n in checkpoints:
        best = min(epochs[:n], key=lambda e: e["val_error"])
        rows.append({"epoch": n, "best_epoch": best["epoch"], "val_error": best["val_error"],
                     "test_error": best["test_error"]})
    return rows


#: The pretraining grid of ``ch02_pretraining``: the sigmoid autoencoders' pretraining rate and length, which the
#: paper chose "by visual inspection" of the filters and gives neither of (Section 4.3).
CH02_PRETRAINING = [f"lr{lr:g}_e{epochs}" for lr in (0.01, 0.03, 0.1) for epochs in (10, 30, 100)]


def ch02_pretraining_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Chapter 2's sigmoid CSAE as the ``cpu`` profile trains it, but pretrained at the rate and for the epochs of one
    point of ``CH02_PRETRAINING``; fine-tuned for ``max(checkpoints)`` epochs at the profile's rate, the epoch picked
    on the validation digits among the first N for each checkpoint N.  ``retrain_<point>`` pretrains on all training
    digits, the validation digits included, as the paper did ("to improve the quality of the learned filters"), and
    fine-tunes as the point does.  Keeps the weights' range after pretraining and after fine-tuning (the paper's
    Figure 5: -4.72 to 4.67 pretrained, -0.64 to 0.63 fine-tuned) and the share of the pretrained hidden units whose
    output stays below 0.01 or above 0.99 on every validation digit of their class (a unit that no longer responds)."""
    import dataclasses

    from clustutils.papers import ch02_energy as en

    torch = _setup()
    rate, length = model_name.removeprefix("retrain_").split("_")  # e.g. lr0.03_e30
    lr, pretrain_epochs = float(rate.removeprefix("lr")), int(length.removeprefix("e"))
    cpu = en.BUDGET.settings("cpu")
    settings = dataclasses.replace(cpu, pretrain_epochs=pretrain_epochs,
                                   learning_rate={**cpu.learning_rate, "sigmoid": lr})
    started = time.time()
    start = _ch02_start(settings, seed, on_all_digits=model_name.startswith("retrain_"))
    weights, pretrain_seconds = start["model"].W.detach(), round(time.time() - started, 1)
    with torch.no_grad():  # a unit that gives (nearly) the same output on every validation digit of its class
        hidden = [torch.sigmoid(start["x_val"][start["y_val"] == k] @ weights[k].T + start["model"].b_h[k])
                  for k in range(len(weights))]
        constant = sum(int(((h.max(0).values < 0.01) | (h.min(0).values > 0.99)).sum()) for h in hidden)
    pretrained = {"pretrained_min_weight": float(weights.min()), "pretrained_max_weight": float(weights.max()),
                  "pretrained_constant_units": constant / weights.shape[:2].numel()}
    print(f"{model_name}: pretrained in {pretrain_seconds} s, {pretrained}", file=sys.stderr, flush=True)
    epochs = _ch02_finetune(model_name, start, settings, seed, max(checkpoints), checkpoints)
    return {"model": model_name, "n_hidden": settings.n_hidden, "pretrain_learning_rate": lr,
            "pretrain_epochs": settings.pretrain_epochs, "on_all_digits": model_name.startswith("retrain_"),
            "learning_rate": settings.finetune_learning_rate["sigmoid"], **_provenance(torch), **pretrained,
            "finetuned_max_abs_weight": float(start["model"].W.detach().abs().max()),
            "pretrain_seconds": pretrain_seconds, "seconds": round(time.time() - started, 1),
            "checkpoints": _ch02_picks(epochs, checkpoints), "epochs": epochs}


def ch02_pretraining_then(models: list[dict]) -> list[tuple[str, list[int]]]:
    """The second round of ``ch02_pretraining``: the point of lowest validation error after the last checkpoint (the
    first in grid order on a tie), pretrained again on all training digits as the paper did."""
    best = min(models, key=lambda m: m["checkpoints"][-1]["val_error"])
    return [("retrain_" + best["model"], [c["epoch"] for c in best["checkpoints"]])]


def ch02_rates_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Chapter 2's CSAE of ``model_name`` units (an activation of Table 2) as the ``cpu`` profile trains it, fine-tuned
    from the same pretrained autoencoders at each rate of ``Settings.finetune_rate_grid`` (the paper validated the
    rate and gives none) for ``max(checkpoints)`` epochs, the epoch picked
    on the validation digits."""
    import copy

    from clustutils.papers import ch02_energy as en

    torch = _setup()
    settings = en.BUDGET.settings("cpu")
    start = _ch02_start(settings, seed, activation=model_name)
    rates = []
    for lr in settings.finetune_rate_grid:
        started = time.time()
        epochs = _ch02_finetune(f"{model_name} at {lr:g}", {**start, "model": copy.deepcopy(start["model"])}, settings,
                                seed, max(checkpoints), checkpoints, lr=lr)
        best = min(epochs, key=lambda e: e["val_error"])  # the first epoch of lowest validation error
        rates.append({"learning_rate": lr, "best_epoch": best["epoch"], "val_error": best["val_error"],
                      "test_error": best["test_error"], "seconds": round(time.time() - started, 1), "epochs": epochs})
    return {"model": model_name, "n_hidden": settings.n_hidden, "pretrain_epochs": settings.pretrain_epochs,
            "pretrain_learning_rate": settings.learning_rate[model_name], **_provenance(torch), "rates": rates}


#: The fine-tuning grid of ``ch02_tuning``: hidden units per class, learning rate, weight decay (the paper validated
#: all three, Section 4.4, and gives none of the values it picked; 200 and 500 units, which it also tried, are
#: ``ch02_units``, at the rate and weight decay this grid picks).
CH02_GRID = [f"h{h}_lr{lr:g}_wd{wd:g}" for h in (300, 100) for lr in (0.003, 0.01, 0.03) for wd in (0, 1e-4)]


def _ch02_grid_point(name: str):
    """``(n_hidden, learning rate, weight decay)`` of a ``CH02_GRID`` name such as ``h300_lr0.01_wd0.0001``."""
    hidden, lr, wd = name.removeprefix("retrain_").split("_")
    return int(hidden[1:]), float(lr[2:]), float(wd[2:])


def ch02_tuning_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Chapter 2's sigmoid CSAE with one point of ``CH02_GRID``: pretrained as the ``full`` profile does (30 epochs)
    with that many hidden units, fine-tuned for ``max(checkpoints)`` epochs at that rate and weight decay with the
    epoch of lowest validation error kept.  ``retrain_<point>`` instead pretrains and fine-tunes on all training
    digits (validation digits included) for ``max(checkpoints)`` epochs, as the paper retrains its chosen setting,
    and scores the test digits."""
    import dataclasses

    from clustutils.papers import ch02_energy as en

    torch = _setup()
    n_hidden, lr, weight_decay = _ch02_grid_point(model_name)
    settings = dataclasses.replace(en.BUDGET.settings("full"), n_hidden=n_hidden)
    point = {"model": model_name, "n_hidden": n_hidden, "learning_rate": lr, "weight_decay": weight_decay,
             "pretrain_epochs": settings.pretrain_epochs, "pretrain_learning_rate": settings.learning_rate["sigmoid"],
             **_provenance(torch)}
    started = time.time()
    if model_name.startswith("retrain_"):
        again = _ch02_start(settings, seed, on_all_digits=True)
        en.finetune(again["model"], again["x_all"], again["y_all"], None, None, epochs=max(checkpoints), lr=lr,
                    weight_decay=weight_decay, seed=seed, progress=False)
        error = en.error_rate(again["model"], again["x_test"], again["y_test"])
        print(f"{model_name}: {max(checkpoints)} epochs on all digits, test error {error:.4f}", file=sys.stderr, flush=True)
        return {**point, "epochs_trained": max(checkpoints), "test_error": error,
                "seconds": round(time.time() - started, 1)}
    start = _ch02_start(settings, seed)
    epochs = _ch02_finetune(model_name, start, settings, seed, max(checkpoints), checkpoints, lr=lr,
                            weight_decay=weight_decay)
    best = min(epochs, key=lambda e: e["val_error"])  # the first epoch of lowest validation error
    return {**point, "best_epoch": best["epoch"], "val_error": best["val_error"], "test_error": best["test_error"],
            "seconds": round(time.time() - started, 1), "epochs": epochs}


def ch02_tuning_then(models: list[dict]) -> list[tuple[str, list[int]]]:
    """The second round of ``ch02_tuning``: the grid point of lowest validation error (the first in grid order on a
    tie), retrained on all training digits for its picked number of epochs."""
    best = min(models, key=lambda m: m["val_error"])
    return [("retrain_" + best["model"], [best["best_epoch"]])]


def ch03_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Train chapter 3's GAR network on MNIST with the ``cpu`` profile's widths for ``max(checkpoints)`` epochs
    (Algorithm 1's, 150 steps of 400), as notebook 03 trains its first seed (``gar_acol``: all eight transformations
    of Eq. 15) or a run of its transformation study (``rot_t1_t2``, ``rot_t1_t3``: the pairs of Section 4.6); k-means
    on F of the 10,000 test digits (the notebook's evaluation) before training and after each checkpoint epoch.
    Each checkpoint also keeps the pretext accuracy on the test digits (:func:`~clustutils.papers.ch03_gar.pretext_accuracy`),
    the share of F's units silent on every test digit and the share of the digits in k-means' largest cluster."""
    from clustutils.data import load_split
    from clustutils.papers import ch03_gar as gar

    torch = _setup()
    settings = gar.BUDGET.settings("cpu")
    train, test = load_split("mnist", seed=seed)
    x_train, x_test, y_test = train.tensors()[0], test.tensors()[0], test.labels
    transforms = gar.ROTATION_FLIPS[CH03_SETS[model_name]]
    config = gar.GarConfig(epochs=max(checkpoints), widths=settings.widths, d_f=settings.d_f,
                           n_parents=len(transforms), transforms=transforms)
    per_epoch, rows, started = config.steps_per_epoch(len(x_train)), [], time.time()

    def score(model, step: int) -> None:
        if step % per_epoch == 0 and step // per_epoch in {0, *checkpoints}:
            features = gar.embed(model, x_test)[0]
            scores = gar.evaluate(features, y_test, k=10, n_init=settings.restarts, seed=seed)
            sizes = [int((scores["clusters"] == c).sum()) for c in range(10)]
            rows.append({"epoch": step // per_epoch, "step": step, "seconds": round(time.time() - started, 1),
                         **{k: scores[k] for k in ("acc", "majority_acc", "nmi")},
                         "pretext_acc": gar.pretext_accuracy(model, x_test, config, seed=seed),
                         "silent_f_units": float((features.max(0) <= 0).mean()),
                         "largest_cluster": max(sizes) / len(y_test)})
            print(f"{model_name}: {rows[-1]}", file=sys.stderr, flush=True)

    gar.fit(x_train, config, seed=seed, on_step=score, progress=False)
    return {"model": model_name, "transforms": len(transforms), "widths": list(settings.widths), "d_f": settings.d_f,
            "restarts": settings.restarts, "steps_per_epoch": per_epoch, **_provenance(torch), "checkpoints": rows}


#: The transformations of each ``ch03`` / ``ch03_rotations`` model, a slice of Eq. 15's (notebook 03, Sections 5, 11).
CH03_SETS = {"gar_acol": slice(None), "rot_t1_t2": slice(0, 2), "rot_t1_t3": slice(0, 3, 2)}


def ch04_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Pretrain chapter 4's MNIST autoencoder for ``max(checkpoints)`` epochs; from each checkpoint, as notebook 04b
    does from its pretrained autoencoder: k-means on the codes, then DEC and IDEC from those centroids, each scored
    after the ``cpu`` and ``gpu`` profiles' clustering epochs."""
    import copy

    from sklearn.cluster import KMeans

    from clustutils import autoencoders, metrics
    from clustutils.data import load
    from clustutils.papers import baselines, ch04_cm as cm

    torch = _setup()
    full = cm.DEEP_BUDGET.settings("full")
    cluster_epochs = sorted({cm.for_dataset(cm.DEEP_BUDGET.settings(p).baseline_epochs, "mnist") for p in ("cpu", "gpu")})
    data = load("mnist", "all")
    x, y = torch.from_numpy(data.features()), data.labels
    n_latent, started, kept = cm.dataset_settings("mnist").aecm_n_latent, time.time(), {}
    torch.manual_seed(seed)  # as autoencoders.pretrained_autoencoder
    ae = autoencoders.Autoencoder(x.shape[1], n_latent)

    def keep(epoch: int, loss: float) -> None:
        if epoch + 1 in checkpoints:
            kept[epoch + 1] = (copy.deepcopy(ae.state_dict()), loss, round(time.time() - started, 1))
            print(f"{model_name}: pretraining epoch {epoch + 1}, MSE {loss:.4f}", file=sys.stderr, flush=True)

    autoencoders.pretrain_autoencoder(ae, x, epochs=max(checkpoints), seed=seed, progress=False, on_epoch_end=keep)
    rows = []
    for epoch, (state, loss, seconds) in sorted(kept.items()):
        ae.load_state_dict(state)
        codes = autoencoders.encode(ae.encoder, x).numpy()
        km = KMeans(10, n_init=full.kmeans_restarts, random_state=seed).fit(codes)
        row = {"epoch": epoch, "mse": loss, "pretrain_seconds": seconds,
               "ae_kmeans": metrics.clustering_scores(y, km.labels_)}
        for name in ("dec", "idec"):  # notebook 04b's settings
            start = autoencoders.Autoencoder(x.shape[1], n_latent)
            start.load_state_dict(state)
            model, scores, t0 = getattr(baselines, name.upper())(start, km.cluster_centers_,
                                                                 **cm.BASELINE_OPTIONS[name]), [], time.time()

            def score(e: int, _loss: float) -> None:
                if e + 1 in cluster_epochs:
                    scores.append({"epoch": e + 1, **metrics.clustering_scores(y, model.predict(x).numpy()),
                                   "seconds": round(time.time() - t0, 1)})

            autoencoders.train_clustering(model, x, epochs=max(cluster_epochs), batch_size=256, seed=seed,
                                          progress=False, on_epoch_end=score)
            row[name] = scores
        rows.append(row)
        print(f"{model_name}: from pretraining epoch {epoch}: {row}", file=sys.stderr, flush=True)
    return {"model": model_name, "n_latent": n_latent, "kmeans_restarts": full.kmeans_restarts,
            "cluster_epochs": cluster_epochs, **_provenance(torch), "checkpoints": rows}


#: The learning rates ``ch04_cm_rates`` compares at the ``cpu`` profile's CM batch and epochs (the authors' is 1e-3).
CH04_CM_RATES = (1e-3, 1e-2, 5e-2)


def ch04_cm_rates_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """Notebook 04's CM on data set ``model_name`` as the ``cpu`` profile trains it (batch, alpha, epochs, k-means++
    start, averaging epoch), at each rate of :data:`CH04_CM_RATES`, for the profile's seeds from ``seed``; then once on
    the authors' schedule (their batch and alpha, lr 1e-3) for ``max(checkpoints)`` epochs.  Each run keeps its final
    training objective per sample on all images (E1 + E2 + E3 averaged, plus E4 at the strength it has per sample of a
    training batch, so that runs at different batches compare) and, for reading only, its scores."""
    import numpy as np

    from clustutils import metrics
    from clustutils.data import load
    from clustutils.papers import ch04_cm as cm

    torch = _setup()
    data = load(model_name, "all")
    x, y = torch.from_numpy(data.features()), data.labels
    k = len(np.unique(y))

    def one_run(batch: int, epochs: int, lr: float, run_seed: int) -> dict:
        alpha, started = cm.dataset_settings(model_name, batch=batch).cm_alpha, time.time()
        model = cm.fit_cm(x, k, alpha=alpha, epochs=epochs, batch_size=batch, lr=lr, seed=run_seed)  # as notebook 04
        with torch.no_grad():
            t = cm.cm_loss_terms(x, model(x), model.mu, model.alpha)
        row = {"lr": lr, "seed": run_seed, "batch": batch, "alpha": alpha, "epochs": epochs,
               "objective": float(t["E1"] + t["E2"] + t["E3"] + t["E4"] / batch), "seconds": round(time.time() - started, 1),
               **metrics.clustering_scores(y, model.predict(x).numpy())}
        print(f"{model_name}: {row}", file=sys.stderr, flush=True)
        return row

    cpu = cm.BUDGET.settings("cpu")
    batch, epochs = cm.for_dataset(cpu.cm_batch, model_name), cm.for_dataset(cpu.cm_epochs, model_name)
    runs = [one_run(batch, epochs, lr, seed + r) for lr in CH04_CM_RATES for r in range(cpu.shallow_runs)]
    authors = one_run(cm.AUTHORS_CM[model_name]["batch"], max(checkpoints), 1e-3, seed)
    return {"model": model_name, **_provenance(torch), "cpu_runs": runs, "authors_schedule": authors}


def ch04_pretraining_model(model_name: str, seed: int, checkpoints: list[int], dataset: str = "usps") -> dict:
    """Notebook 04b's autoencoder of ``dataset`` (USPS: 256-500-500-2000-30; MNIST: 784-500-500-2000-10) pretrained
    for ``max(checkpoints)`` epochs at batch 256 in one of four ways, k-means on its codes (20 restarts) after each
    checkpoint, and how far the data can be recovered from the first hidden layer at the start
    (:func:`clustutils.autoencoders.first_layer_recovery_error`: the frozen layer keeps that value):

    - ``adam``: the book's pretraining (Adam, lr 1e-3, mean squared error, every layer);
    - ``adam_first_frozen``: the same with the first layer's weights left at their initialisation;
    - ``authors_sgd``: the authors' ``AE.py`` (commit 133741d): SGD, lr 0.01, momentum 0.9, the rate divided by 10
      every 33 epochs, on the per-sample mean squared error summed over the batch, and the first layer's weights
      left at their initialisation (``update_ee`` trains ``trainable_variables[1:]``, and the AE's first variable is
      that kernel);
    - ``authors_sgd_all_layers``: the same with every layer trained.
    """
    import copy

    from sklearn.cluster import KMeans

    from clustutils import autoencoders, metrics
    from clustutils.data import load
    from clustutils.papers import ch04_cm as cm
    from clustutils.train import fit

    torch = _setup()
    data = load(dataset, "all")
    x, y = torch.from_numpy(data.features()), data.labels
    n_latent, started, rows = cm.dataset_settings(dataset).aecm_n_latent, time.time(), []
    torch.manual_seed(seed)  # as autoencoders.pretrained_autoencoder
    ae = autoencoders.Autoencoder(x.shape[1], n_latent)
    recovery = autoencoders.first_layer_recovery_error(ae, x)
    if model_name in ("adam_first_frozen", "authors_sgd"):
        ae.encoder[0].weight.requires_grad_(False)
    first = copy.deepcopy(ae.encoder[0].weight.detach())

    def score(epoch: int, loss: float) -> None:
        if epoch + 1 in checkpoints:
            codes = autoencoders.encode(ae.encoder, x).numpy()
            km = KMeans(10, n_init=20, random_state=seed).fit(codes)
            rows.append({"epoch": epoch + 1, "mse": float(ae.loss(x).detach()), "seconds": round(time.time() - started, 1),
                         "first_layer_changed": bool((ae.encoder[0].weight.detach() != first).any()),
                         **metrics.clustering_scores(y, km.labels_)})
            print(f"{model_name}: {rows[-1]}", file=sys.stderr, flush=True)

    if model_name.startswith("authors_sgd"):
        optimizer = torch.optim.SGD([p for p in ae.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
        fit(ae, lambda m, xb: len(xb) * m.loss(xb), (x,), epochs=max(checkpoints), batch_size=256, optimizer=optimizer,
            scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=33, gamma=0.1), seed=seed, progress=False,
            on_epoch_end=score)
    else:
        autoencoders.pretrain_autoencoder(ae, x, epochs=max(checkpoints), seed=seed, progress=False, on_epoch_end=score)
    return {"model": model_name, "dataset": dataset, "n_latent": n_latent, "initial_first_layer_recovery_error": recovery,
            **_provenance(torch), "checkpoints": rows}


def _ch04_notebook_autoencoder(dataset: str, seed: int) -> tuple:
    """Notebook 04b's ``cpu`` start on all of ``dataset``: ``(torch, deep settings, data set settings, x, y,
    autoencoder, codes)``, the autoencoder the notebook's seed-``seed`` one (cached by its settings)."""
    from clustutils import autoencoders
    from clustutils.data import load
    from clustutils.papers import ch04_cm as cm

    torch = _setup()
    deep, p = cm.DEEP_BUDGET.settings("cpu"), cm.dataset_settings(dataset)
    data = load(dataset, "all")
    x, y = torch.from_numpy(data.features()), data.labels
    ae, _, _ = autoencoders.pretrained_autoencoder(x, p.aecm_n_latent, epochs=cm.for_dataset(deep.pretrain_epochs, dataset),
                                                   seed=seed, dataset=dataset, progress=False)
    return torch, deep, p, x, y, ae, autoencoders.encode(ae.encoder, x)


def ch04_aecm_seeds_model(model_name: str, seed: int, checkpoints: list[int], dataset: str = "usps") -> dict:
    """Notebook 04b's AE-CM+pre on ``dataset`` as the ``cpu`` profile trains it, from its seed-``seed`` pretrained autoencoder,
    with the k-means, CM and joint-training seed ``seed + i`` of model ``seed_i``; ACC after the start and after each
    of ``max(checkpoints)`` joint epochs (how much of one run's score is its seed)."""
    from sklearn.cluster import KMeans

    from clustutils import autoencoders, metrics
    from clustutils.papers import ch04_cm as cm

    torch, deep, p, x, y, ae, codes = _ch04_notebook_autoencoder(dataset, seed)
    run_seed = seed + int(model_name.split("_")[1])
    kmeans_acc = metrics.clustering_scores(y, KMeans(10, n_init=deep.kmeans_restarts, random_state=run_seed)
                                           .fit(codes.numpy()).labels_)["acc"]
    torch.manual_seed(run_seed)  # as clustutils.papers.ch04_cm.train_deep
    model = cm.aecm_start(ae, codes, 10, alpha=p.aecm_alpha, beta=p.aecm_beta, lam=p.aecm_lam,
                          cm_epochs=deep.cm_pretrain_epochs, batch_size=p.aecm_batch,
                          kmeans_restarts=deep.kmeans_restarts, seed=run_seed)
    scores = [{"epoch": 0, **metrics.clustering_scores(y, model.predict(x).numpy())}]

    def score(epoch: int, _loss: float) -> None:
        if epoch + 1 in checkpoints:
            scores.append({"epoch": epoch + 1, **metrics.clustering_scores(y, model.predict(x).numpy())})

    autoencoders.train_clustering(model, x, epochs=max(checkpoints), batch_size=p.aecm_batch, seed=run_seed,
                                  progress=False, on_epoch_end=score)
    print(f"{model_name}: k-means {kmeans_acc:.3f}, AE-CM+pre " + ", ".join(f"{s['acc']:.3f}" for s in scores),
          file=sys.stderr, flush=True)
    return {"model": model_name, "dataset": dataset, "seed": run_seed, **_provenance(torch), "ae_kmeans_acc": kmeans_acc, "epochs": scores}


def ch04_deep_seeds_model(model_name: str, seed: int, checkpoints: list[int], dataset: str = "mnist") -> dict:
    """Notebook 04b's run ``seed + i`` on ``dataset`` as the ``cpu`` profile trains it, for model ``seed_i``: the
    autoencoder pretrained with that seed, k-means on its codes, and AE-CM+pre and the four baselines trained from
    that start by :func:`~clustutils.papers.ch04_cm.train_deep` for ``max(checkpoints)`` epochs each (the ``cpu``
    profile's MNIST count by default); ACC, NMI and ARI of each (how much of a deep row is its seed, pretraining
    included)."""
    from sklearn.cluster import KMeans

    from clustutils import metrics
    from clustutils.papers import ch04_cm as cm

    run_seed = seed + int(model_name.split("_")[1])
    torch, deep, p, x, y, ae, codes = _ch04_notebook_autoencoder(dataset, run_seed)
    spec = cm.deep_spec(dataset, deep, 10)
    spec["epochs"] = dict.fromkeys(spec["epochs"], max(checkpoints))
    start = KMeans(10, n_init=deep.kmeans_restarts, random_state=run_seed).fit(codes.numpy())
    scores = {"ae_kmeans": metrics.clustering_scores(y, start.labels_)}
    for method in ("aecm_pre", *cm.BASELINE_OPTIONS):
        model, seconds = cm.train_deep(method, x, ae, start, spec, run_seed)
        scores[method] = {**metrics.clustering_scores(y, model.predict(x).numpy()), "seconds": round(seconds, 1)}
        print(f"{model_name}: {method} ACC {scores[method]['acc']:.3f}", file=sys.stderr, flush=True)
    return {"model": model_name, "dataset": dataset, "seed": run_seed, **_provenance(torch),
            "epochs": max(checkpoints), "scores": scores}


def ch04_cm_prior_model(model_name: str, seed: int, checkpoints: list[int]) -> dict:
    """AE-CM+pre's start on data set ``model_name`` as the ``cpu`` profile makes it (:func:`aecm_start` from the
    notebook's seed-``seed`` pretrained autoencoder, the CM trained ``max(checkpoints)`` epochs on the frozen codes),
    with the authors' Dirichlet parameter and with ``alpha = 1`` (no prior on cluster sizes), for five k-means and CM
    seeds; ACC of k-means on the codes and of each CM, and the smallest and largest cluster."""
    import numpy as np
    from sklearn.cluster import KMeans

    from clustutils import metrics
    from clustutils.papers import ch04_cm as cm

    torch, deep, p, x, y, ae, codes = _ch04_notebook_autoencoder(model_name, seed)
    runs = []
    for run_seed in range(seed, seed + 5):
        row = {"seed": run_seed, "kmeans_acc": metrics.cluster_acc(
            y, KMeans(10, n_init=deep.kmeans_restarts, random_state=run_seed).fit(codes.numpy()).labels_)}
        for key, alpha in (("authors", p.aecm_alpha), ("no_prior", 1.0)):
            torch.manual_seed(run_seed)  # as clustutils.papers.ch04_cm.train_deep
            model = cm.aecm_start(ae, codes, 10, alpha=alpha, beta=p.aecm_beta, lam=p.aecm_lam,
                                  cm_epochs=max(checkpoints), batch_size=p.aecm_batch,
                                  kmeans_restarts=deep.kmeans_restarts, seed=run_seed)
            labels = model.predict(x).numpy()
            sizes = np.bincount(labels, minlength=10)
            row.update({f"{key}_alpha": alpha, f"{key}_acc": metrics.cluster_acc(y, labels),
                        f"{key}_smallest": int(sizes.min()), f"{key}_largest": int(sizes.max())})
        print(f"{model_name}: {row}", file=sys.stderr, flush=True)
        runs.append(row)
    return {"model": model_name, **_provenance(torch), "cm_epochs": max(checkpoints), "runs": runs}


#: Each chapter's worker, models (the notebook's row names) and default checkpoints.
CHAPTERS = {
    "ch01": {"worker": ch01_model, "models": ("ae_acrbm_10", "ae_kmeans"), "checkpoints": [15, 50, 100, 200, 500],
             "experiment": "chapter 1, AE + ACRBM (10 clusters) and AE + k-means on MNIST, the paper's settings, "
                           "one seed"},
    "ch02": {"worker": ch02_model, "models": ("csae_sigmoid_paper_sizes", "csae_sigmoid_cpu_sizes"),
             "checkpoints": [10, 30, 100],
             "experiment": "chapter 2, the sigmoid CSAE on MNIST (Table 2) fine-tuned for {last} epochs (the "
                           "paper's 100), on the paper's sizes and on the cpu profile's, one seed"},
    "ch02_validation": {"worker": ch02_validation_model,
                        "models": ("contraction_0.2", "contraction_0.5", "contraction_1.0"), "checkpoints": [30],
                        "experiment": "chapter 2, the sigmoid CSAE on MNIST on the cpu profile's sizes with the "
                                      "contraction weights the paper validated, each retrained on all training "
                                      "digits for its validated epochs, one seed"},
    "ch02_rates": {"worker": ch02_rates_model, "models": ("modulus", "linear", "sigmoid", "tanh"), "checkpoints": [10],
                   "experiment": "chapter 2, the CSAE of each activation of Table 2 on the cpu profile's sizes, "
                                 "pretrained at the profile's rate, fine-tuned for {last} epochs at each rate of "
                                 "0.001, 0.003, 0.01 and 0.03 with the epoch picked on the validation digits, one seed"},
    "ch02_filter_norms": {"worker": ch02_filter_norms_model, "models": ("none", "pretraining", "finetuning", "both"),
                          "checkpoints": [10, 30],
                          "experiment": "chapter 2, the sigmoid CSAE on MNIST on the cpu profile's sizes with the "
                                        "filters rescaled to equal norms after every step (none, in pretraining, in "
                                        "fine-tuning, in both), fine-tuned for {last} epochs with the epoch picked on "
                                        "the validation digits, one seed"},
    "ch02_tuning": {"worker": ch02_tuning_model, "models": tuple(CH02_GRID), "then": ch02_tuning_then,
                    "checkpoints": [30],
                    "experiment": "chapter 2, the sigmoid CSAE on MNIST: the paper's fine-tuning validation (hidden "
                                  "units, learning rate, weight decay) on a grid of 12 points, each fine-tuned for "
                                  "{last} epochs with the epoch picked on the validation digits; the point of lowest "
                                  "validation error retrained on all training digits, one seed"},
    "ch02_units": {"worker": ch02_tuning_model, "models": ("h200_lr0.01_wd0", "h500_lr0.01_wd0"), "checkpoints": [30],
                   "experiment": "chapter 2, the sigmoid CSAE on MNIST: the two sizes the paper validated and "
                                 "ch02_tuning left out (200 and 500 hidden units per class) at its picked rate and "
                                 "weight decay, pretrained as the full profile does, fine-tuned for {last} epochs with "
                                 "the epoch picked on the validation digits, one seed"},
    "ch02_pretraining": {"worker": ch02_pretraining_model, "models": tuple(CH02_PRETRAINING),
                         "then": ch02_pretraining_then, "checkpoints": [10, 30],
                         "experiment": "chapter 2, the sigmoid CSAE on MNIST on the cpu profile's sizes, pretrained at "
                                       "0.01, 0.03 and 0.1 for 10, 30 and 100 epochs, fine-tuned for {last} epochs with "
                                       "the epoch picked on the validation digits; the point of lowest validation "
                                       "error pretrained again on all training digits (validation digits included, "
                                       "as the paper did), one seed"},
    "ch03": {"worker": ch03_model, "models": ("gar_acol",), "checkpoints": [1, 2, 4, 8, 10, 20, 30, 40, 50],
             "experiment": "chapter 3, GAR on MNIST with the cpu profile's widths (16/32, F of 1024) for {last} "
                           "epochs of 150 steps (the gpu profile's 50; the paper's 400), one seed"},
    "ch03_rotations": {"worker": ch03_model, "models": ("rot_t1_t2", "rot_t1_t3"), "checkpoints": [1, 2, 4, 8, 10, 20],
                       "experiment": "chapter 3, GAR on MNIST with the cpu profile's widths, pseudo parents from the "
                                     "pairs {{T1, T2}} (identity, 90 degrees) and {{T1, T3}} (identity, 180 degrees) of "
                                     "Section 4.6, for {last} epochs of 150 steps, one seed"},
    "ch04": {"worker": ch04_model, "models": ("dec_idec",), "checkpoints": [5, 30, 100],
             "experiment": "chapter 4, MNIST (all 70,000 digits): the shared autoencoder pretrained for {checkpoints} "
                           "epochs, then AE + k-means, DEC and IDEC from each, one seed"},
    "ch04_cm_rates": {"worker": ch04_cm_rates_model, "models": ("mnist", "usps"), "checkpoints": [150],
                      "experiment": "chapter 4, the CM on all MNIST and USPS images as the cpu profile trains it "
                                    "(batch 1,000) at learning rates 0.001, 0.01 and 0.05, the profile's seeds, and "
                                    "once on the authors' schedule (their batch and alpha, lr 0.001, {last} epochs)"},
    "ch04_pretraining": {"worker": ch04_pretraining_model,
                         "models": ("adam", "adam_first_frozen", "authors_sgd", "authors_sgd_all_layers"),
                         "checkpoints": [10, 33, 66, 100],
                         "experiment": "chapter 4, the USPS autoencoder (all 9,298 images) pretrained for {last} epochs "
                                       "with Adam (the book's) and with the authors' SGD schedule, each with and "
                                       "without the first layer's weights trained; k-means on the codes after "
                                       "{checkpoints} epochs, one seed"},
    "ch04_pretraining_mnist": {"worker": functools.partial(ch04_pretraining_model, dataset="mnist"),
                               "models": ("adam", "adam_first_frozen"), "checkpoints": [10, 30, 100],
                               "experiment": "chapter 4, the MNIST autoencoder (all 70,000 digits) pretrained for "
                                             "{last} epochs with Adam (the book's), with and without the first layer's "
                                             "weights trained; k-means on the codes after {checkpoints} epochs, one "
                                             "seed"},
    "ch04_aecm_seeds": {"worker": ch04_aecm_seeds_model, "models": tuple(f"seed_{i}" for i in range(5)),
                        "checkpoints": list(range(1, 11)),
                        "experiment": "chapter 4, AE-CM+pre on USPS as the cpu profile trains it, from the first "
                                      "seed's pretrained autoencoder, with five seeds for k-means, the CM on the codes "
                                      "and {last} joint epochs"},
    "ch04_cm_prior": {"worker": ch04_cm_prior_model, "models": ("mnist", "usps"), "checkpoints": [20],
                      "experiment": "chapter 4, AE-CM+pre's start as the cpu profile makes it (the CM trained {last} "
                                    "epochs on the frozen codes of the first seed's pretrained autoencoder) with the "
                                    "authors' alpha and with alpha = 1, five seeds for k-means and the CM"},
    "ch04_deep_seeds_mnist": {"worker": ch04_deep_seeds_model, "models": tuple(f"seed_{i}" for i in range(5)),
                              "checkpoints": [4],
                              "experiment": "chapter 4, notebook 04b's MNIST deep rows as the cpu profile trains them "
                                            "(30 pretraining epochs, {last} clustering epochs), five seeds, "
                                            "pretraining included"},
    "ch04_aecm_seeds_mnist": {"worker": functools.partial(ch04_aecm_seeds_model, dataset="mnist"),
                              "models": tuple(f"seed_{i}" for i in range(5)), "checkpoints": list(range(1, 5)),
                              "experiment": "chapter 4, AE-CM+pre on MNIST as the cpu profile trains it, from the first "
                                            "seed's pretrained autoencoder, with five seeds for k-means, the CM on the "
                                            "codes and {last} joint epochs"},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chapter", nargs="?", choices=CHAPTERS, default="ch01", help="which chapter (ch01)")
    parser.add_argument("--seed", type=int, default=0, help="the cpu run's first seed (0)")
    parser.add_argument("--checkpoints", type=int, nargs="+",
                        help="epochs after which to score (the last is the training's length); default: the chapter's")
    parser.add_argument("--output", type=Path, help="default: benchmarks/results/<chapter>_long_schedule.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    chapter = CHAPTERS[args.chapter]
    checkpoints = sorted(set(args.checkpoints or chapter["checkpoints"]))
    if min(checkpoints) < 1:
        parser.error(f"checkpoints must be epochs >= 1, got {checkpoints}")
    if args.worker:
        known = chapter["models"] + (tuple("retrain_" + m for m in chapter["models"]) if "then" in chapter else ())
        if args.worker not in known:
            parser.error(f"{args.chapter} has no model {args.worker!r}; its models: {', '.join(chapter['models'])}")
        print(json.dumps(chapter["worker"](args.worker, args.seed, checkpoints)))
        return 0
    output = args.output or ROOT / "benchmarks" / "results" / f"{args.chapter}_long_schedule.json"

    def launch(name: str, epochs: list[int] = checkpoints) -> dict:
        done = subprocess.run([sys.executable, __file__, args.chapter, "--worker", name, "--seed", str(args.seed),
                               "--checkpoints", *map(str, epochs)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                              stdout=subprocess.PIPE, text=True)
        if done.returncode:
            raise SystemExit(f"{name} failed (exit {done.returncode}); its log is above")
        return json.loads(done.stdout.splitlines()[-1])

    commit = git_commit(ROOT)  # "+dirty" when the checkout has uncommitted changes
    started = time.time()
    with ThreadPoolExecutor(min(len(chapter["models"]), os.cpu_count() or 1)) as pool:  # one model a core
        models = list(pool.map(launch, chapter["models"]))
    if "then" in chapter:  # a second round, which the first round's results choose: (worker, checkpoints) pairs
        models += [launch(name, epochs) for name, epochs in chapter["then"](models)]
    output.write_text(json.dumps({
        "experiment": chapter["experiment"].format(checkpoints=", ".join(map(str, checkpoints)), last=checkpoints[-1]),
        "seed": args.seed, "commit": commit, "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "seconds": round(time.time() - started), "models": models}, indent=1) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
