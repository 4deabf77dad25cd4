"""What every notebook does first: check its parameters, choose the device, seed, print provenance."""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import env, results, train
from .env import data_root
from .plotting import FigureSaver, use_style
from .train import configure_numerics, device_name, get_device, host_name, seed_everything

__all__ = ["Run", "start"]

GLUE_PREFIX = "application/papermill.record/"  # myst-nb's prefix for glued values that are not displayed


@dataclass
class Run:
    """A notebook run: its profile, seed, device and where its outputs go."""

    notebook: str
    profile: str
    seed: int
    device: torch.device
    data_root: Path
    figures: FigureSaver = field(repr=False)
    commit: str = field(default_factory=results.git_commit)  # the code the kernel imported at the start
    numerics: dict = field(default_factory=dict)  # what configure_numerics set (determinism, TF32, denormals)

    def pick(self, *, smoke, cpu, full, gpu=None):
        """Deprecated, kept only until chapters 1-3 move to settings as data (:meth:`settings`).

        The value for this run's profile; ``gpu`` defaults to the ``cpu`` value.
        """
        return {"smoke": smoke, "cpu": cpu, "gpu": cpu if gpu is None else gpu, "full": full}[self.profile]

    def settings(self, budget):
        """This run's settings from a chapter's :class:`~clustutils.settings.Budget`; shows its deviations table."""
        from IPython.display import Markdown, display

        display(Markdown(budget.deviations_markdown(self.profile)))
        return budget.settings(self.profile)

    def glue(self, name: str, value):
        """Store ``value`` under ``name`` for the prose (myst-nb glue, not displayed); returns the value.

        The text cites it as ``{glue:text}`name:.1%``` (any format spec), so a rerun updates the prose.
        Numbers are stored as plain Python numbers (``.item()`` of NumPy and torch scalars).
        """
        from IPython.display import display

        value = value.item() if hasattr(value, "item") else value
        display({GLUE_PREFIX + "text/plain": repr(value)}, raw=True,
                metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})
        return value

    def record(self, experiment: str, dataset: str, metric: str, value: float, **kwargs) -> dict:
        """Record a result with this run's provenance (see :func:`clustutils.results.record`); the note names
        any operation that ran without a deterministic implementation on CUDA."""
        kwargs.setdefault("seeds", [self.seed])
        kwargs.setdefault("commit", self.commit)
        if train.NONDETERMINISTIC_OPS:  # deterministic algorithms were asked for, and some op has none on CUDA
            ops = ", ".join(sorted(train.NONDETERMINISTIC_OPS))
            kwargs["note"] = "; ".join(filter(None, [kwargs.get("note", ""), f"not bit-reproducible: {ops} ran "
                                                     "without a deterministic CUDA implementation"]))
        if env.rehearsal_steps() is not None and not env.get(env.ROOT):
            raise RuntimeError(f"this is a rehearsal (${env.MAX_STEPS} is set: training cut short), whose values are not "
                               "results: run it with `clustutils run --rehearse`, which records them in a scratch folder")
        return results.record(self.notebook, experiment, dataset, metric, value, profile=self.profile,
                              device=device_name(self.device), host=host_name(), **kwargs)

    def record_runs(self, experiment: str, dataset: str, runs: list[dict], note: str, seeds) -> None:
        """Record the mean (with its spread from two runs on) of each score of ``runs`` (dicts such as
        :func:`clustutils.metrics.clustering_scores` returns) and the best run's ACC; glue each mean and spread
        as ``{experiment}_{dataset}_{score}`` and ``..._std`` for the prose."""
        for metric in runs[0]:
            values = [r[metric] for r in runs]
            self.record(experiment, dataset, metric, float(np.mean(values)),
                        std=float(np.std(values)) if len(runs) > 1 else None, note=note, seeds=seeds)
            self.glue(f"{experiment}_{dataset}_{metric}", float(np.mean(values)))
            self.glue(f"{experiment}_{dataset}_{metric}_std", float(np.std(values)))
        self.record(experiment, dataset, "best_acc", max(r["acc"] for r in runs), note=note + "; best run by ACC",
                    seeds=seeds)

    def savefig(self, fig, name: str):
        """Write ``fig`` to ``figures/<notebook>/<name>.png|pdf`` when ``save_figures`` is on."""
        return self.figures.save(fig, name)

    def provenance(self) -> str:
        """Two lines naming what produced this notebook's outputs."""
        date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        numerics = "".join(f" | {k.replace('_', ' ')} {'on' if v else 'off'}" for k, v in self.numerics.items())
        if env.rehearsal_steps() is not None:
            numerics += f" | REHEARSAL: every training loop cut to {env.rehearsal_steps()} steps, not results"
        return (f"notebook {self.notebook} | profile {self.profile} | device {device_name(self.device)} | seed {self.seed}{numerics}\n"
                f"commit {self.commit} | {date} | torch {torch.__version__} | python {platform.python_version()} | "
                f"host {host_name()}")


def start(notebook: str, profile: str, seed: int = 0, device: str | None = None, data_root_dir=None,
          save_figures: bool = False) -> Run:
    """Validate a notebook's parameters and set up its run.

    Raises ``ValueError`` for an unknown profile (listing the valid ones) or a
    negative seed.  Chooses the device (CUDA if present, else CPU, with a note),
    sets the numerics (:func:`~clustutils.train.configure_numerics`: denormals flushed on the CPU;
    deterministic algorithms and no TF32 on CUDA), seeds Python/NumPy/torch, applies the figure style
    and prints the provenance lines, which say what was set.
    """
    if profile not in results.PROFILES:
        raise ValueError(f"profile must be one of {', '.join(results.PROFILES)} (or set ${env.PROFILE}); got {profile!r}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    run = Run(notebook, profile, int(seed), get_device(device), data_root(data_root_dir),
              FigureSaver(notebook, save_figures))
    run.numerics = configure_numerics(run.device)
    seed_everything(run.seed)
    use_style()
    print(run.provenance())
    return run
