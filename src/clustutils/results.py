"""The results registry: every number a notebook reports, with its provenance.

Each notebook records its results into ``results/<profile>/<notebook>.json``
(written atomically).  An entry is keyed by (experiment, dataset, metric) and
holds the value, its std and number of runs where applicable, the paper's value,
the profile, device, seeds, git commit and date.  A rerun that replaces an
entry prints what it replaces and keeps the old entry in ``history``.

The paper's values live in ``paper_values.csv`` beside this module: one row per
published number that the book reproduces.  :func:`table` joins both, so rows
without a run yet show "not yet run".  ``smoke`` results never reach the book.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from . import env
from .settings import PROFILES  # one list of profiles

__all__ = ["PROFILES", "BOOK_PROFILES", "HEADLINES", "project_root", "git_commit", "paper_values", "record", "load_results",
           "table", "format_table", "find_book", "study", "notebook_sources", "chapter_number", "chapter_titles", "results_page", "overview_figure"]

BOOK_PROFILES = ("full", "gpu", "cpu")  # shown in the book, best first
#: Each chapter's headline results (experiment, dataset, metric): the Results page's overview and figure.
HEADLINES = {
    "01_one_stage_autoencoders": [("acrbm_shallow_10", "mnist", "majority_acc"), ("acrbm_shallow_30", "mnist", "majority_acc"),
                                  ("ae_acrbm_10", "mnist", "majority_acc"), ("ae_acrbm_30", "mnist", "majority_acc")],
    "02_autoencoder_energy": [("csae_sigmoid", "mnist", "test_error"), ("csae_modulus", "mnist", "test_error"),
                              ("csae_linear", "mnist", "test_error")],
    "03_gar_acol": [("gar_acol", "mnist", "acc"), ("gar_acol", "usps", "acc")],
    "04_clustering_module": [("cm", "mnist", "acc")],
    "04b_deep_clustering": [("aecm_pre", "mnist", "acc"), ("dec", "mnist", "acc"), ("idec", "mnist", "acc")],
    "05_histopathology_kmeans": [("kmeans", "idc", "f1"), ("cnn_ae_nomaxpool_kmeans", "idc", "f1"),
                                 ("densenet_supervised", "idc", "f1")],
}
#: The datasets each notebook's default run records: the papers' sets, their splits, and the stand-ins named for
#: them (chapter 5's flowers17 patches stand in for IDC).  Rows on any other dataset come from runs with
#: ``-p dataset NAME`` and are listed under "Beyond the papers' datasets".
CHAPTER_DATASETS = {
    "00_conventions": {"mnist_test"},
    "01_one_stage_autoencoders": {"mnist"},
    "01b_local_observer_convolution": {"flowers17_seg"},
    "02_autoencoder_energy": {"mnist", "mnist10k_standin"},
    "03_gar_acol": {"mnist", "usps"},
    "04_clustering_module": {"mnist", "mnist_test", "usps", "usps_test", "cifar10_test"},
    "04b_deep_clustering": {"mnist", "usps"},
    "05_histopathology_kmeans": {"idc", "idc_by_patient", "flowers17_patches", "flowers17_patches_by_image"},
}
PERCENT_METRICS = {"acc", "majority_acc", "nmi", "ari", "f1", "pixel_acc", "iou", "dice", "test_error", "error", "best_acc",
                   "hungarian_acc", "acc_hungarian_map", "f1_hungarian_map", "cluster_acc"}


def find_book(start: str | os.PathLike | None = None, upwards: bool = True) -> Path | None:
    """The first folder from ``start`` (default: the cwd), and upwards unless ``upwards=False``, that holds the
    book (``_toc.yml`` and ``notebooks/``); ``None`` when there is none."""
    here = Path(start or Path.cwd()).expanduser().resolve()
    for folder in (here, *here.parents) if upwards else (here,):
        if (folder / "_toc.yml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return None



def study(name: str, start: str | os.PathLike | None = None) -> dict | None:
    """A committed study of ``benchmarks/long_schedule.py`` (``benchmarks/results/<name>_long_schedule.json`` of the
    book's checkout), after printing where it came from; ``None`` where the file is missing.

    Chapters read studies too long for any profile (``study("ch01")``: chapter 1 on the paper's 500 epochs) from the
    checkout they run in.  The printed line gives what the study ran, its first seed, device, commit, date, wall time,
    and the host and torch of its first model (each model records its own).  Where the file is missing (a notebook
    outside a checkout, on Colab), it prints the command that makes it instead.
    """
    path = (find_book(start) or Path(start or Path.cwd()).resolve()) / "benchmarks" / "results" / f"{name}_long_schedule.json"
    if not path.is_file():
        print(f"no {path}: `python benchmarks/long_schedule.py {name}` in a checkout of the book makes it")
        return None
    record = json.loads(path.read_text())
    first, seconds = record["models"][0], record["seconds"]
    took = f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
    # long_schedule.py has only ever run on the CPU; studies before December 2026 did not record it
    print(f"{record['experiment']}: seed {record['seed']}, device {first.get('device', 'cpu')}, commit {record['commit']}, "
          f"{record['date']}, {took}, host {first['host']}, torch {first['torch']}")
    return record


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The book's root folder (:func:`find_book`), where notebooks record their results.

    ``$CLUSTUTILS_ROOT`` overrides; outside a checkout (a notebook on Colab, say) the cwd is used.
    """
    if env.get(env.ROOT):
        return Path(env.get(env.ROOT))
    return find_book(start) or Path(start or Path.cwd()).resolve()


def git_commit(root: str | os.PathLike | None = None) -> str:
    """Short commit hash of the checkout, ``+dirty`` when code (not notebooks or results) has uncommitted changes.

    ``unknown`` outside a git checkout.
    """
    if env.get(env.COMMIT):  # a copy without .git (the GPU kit's run.sh sets the bundle's commit)
        return env.get(env.COMMIT)
    cwd = Path(root or project_root())
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        # Executed notebooks and results change during a run; only changes to the code make it dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!*.ipynb", ":!results"],
                               cwd=cwd, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def paper_values() -> list[dict]:
    """Rows of ``paper_values.csv``: notebook, experiment, dataset, metric, paper_value, paper_std, source."""
    text = resources.files("clustutils").joinpath("paper_values.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    for row in rows:
        for key in ("paper_value", "paper_std"):
            row[key] = float(row[key]) if row.get(key) else None
    return rows


def _paper_lookup(notebook, experiment, dataset, metric):
    for row in paper_values():
        if (row["notebook"], row["experiment"], row["dataset"], row["metric"]) == (notebook, experiment, dataset, metric):
            return row["paper_value"]
    return None


def _results_file(profile: str, notebook: str, root) -> Path:
    return Path(root or project_root()) / "results" / profile / f"{notebook}.json"


def _write_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(payload, tmp, indent=1, sort_keys=True)
        tmp.write("\n")
    os.replace(tmp.name, path)


def record(
    notebook: str,
    experiment: str,
    dataset: str,
    metric: str,
    value: float,
    *,
    profile: str,
    device: str,
    seeds,
    std: float | None = None,
    runs: int | None = None,
    paper: float | None = None,
    note: str = "",
    commit: str | None = None,
    host: str | None = None,
    root: str | os.PathLike | None = None,
) -> dict:
    """Record one result; return the stored entry.

    ``value`` (and ``std``) are fractions for the metrics in ``PERCENT_METRICS``.
    ``paper`` defaults to the matching row of ``paper_values.csv``.  ``note`` states
    deviations (a stand-in dataset, fewer epochs).  ``commit`` is the code's commit when the
    run started (default: the checkout's commit now); ``host`` the machine
    (:func:`clustutils.train.host_name`).  Replacing an existing entry
    prints the old and new value and keeps the old one in the entry's history.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, not {profile!r}")
    seeds = [int(s) for s in (seeds if isinstance(seeds, (list, tuple)) else [seeds])]
    entry = {
        "experiment": experiment,
        "dataset": dataset,
        "metric": metric,
        "value": float(value),
        "std": None if std is None else float(std),
        "runs": int(runs if runs is not None else len(seeds)),
        "paper": paper if paper is not None else _paper_lookup(notebook, experiment, dataset, metric),
        "profile": profile,
        "device": device,
        "host": host,
        "seeds": seeds,
        "commit": commit or git_commit(root),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "note": note,
    }
    path = _results_file(profile, notebook, root)
    payload = json.loads(path.read_text()) if path.is_file() else {"notebook": notebook, "profile": profile, "entries": []}
    key = (experiment, dataset, metric)
    kept = []
    for old in payload["entries"]:
        if (old["experiment"], old["dataset"], old["metric"]) == key:
            history = old.pop("history", [])
            entry["history"] = (history + [old])[-10:]
            if old["value"] != entry["value"] or old["runs"] > entry["runs"]:
                print(f"results: {notebook}/{experiment}/{dataset}/{metric} ({profile}): replacing {old['value']:.4g} "
                      f"({old['runs']} runs, {old['device']}, {old['commit']}, {old['date']}) by {entry['value']:.4g} "
                      f"({entry['runs']} runs); the old entry stays in its history.")
        else:
            kept.append(old)
    payload["entries"] = kept + [entry]
    _write_atomic(path, payload)
    return entry


def load_results(profile: str, root: str | os.PathLike | None = None) -> list[dict]:
    """All entries recorded under ``profile``, each with its ``notebook``."""
    folder = Path(root or project_root()) / "results" / profile
    entries = []
    for path in sorted(folder.glob("*.json")):
        payload = json.loads(path.read_text())
        entries += [{**e, "notebook": payload["notebook"]} for e in payload["entries"]]
    return entries


def table(root: str | os.PathLike | None = None, profiles=BOOK_PROFILES) -> list[dict]:
    """Paper-vs-ours rows: every paper value and every recorded result, one row per profile run.

    Rows with no result in ``profiles`` carry ``ours=None`` ("not yet run").
    """
    rows, seen = [], set()
    recorded = {p: {(e["notebook"], e["experiment"], e["dataset"], e["metric"]): e for e in load_results(p, root)} for p in profiles}
    catalogue = {(r["notebook"], r["experiment"], r["dataset"], r["metric"]): r for r in paper_values()}
    keys = list(catalogue)
    for p in profiles:
        keys += [k for k in recorded[p] if k not in keys]
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        paper = catalogue.get(key)
        base = dict(zip(("notebook", "experiment", "dataset", "metric"), key))
        base.update(paper=paper["paper_value"] if paper else None, paper_std=paper["paper_std"] if paper else None,
                    source=paper["source"] if paper else "")
        runs = [recorded[p][key] for p in profiles if key in recorded[p]]
        if not runs:
            rows.append({**base, "ours": None})
        for entry in runs:
            if base["paper"] is None and entry.get("paper") is not None:
                base["paper"] = entry["paper"]
            rows.append({**base, "ours": entry})
    return rows


def _fmt(metric: str, value, std=None, runs: int | None = None) -> str:
    """A value in % for rate metrics; ``± std`` only when a spread was measured (``runs`` >= 2 or unknown)."""
    if value is None:
        return "—"
    if value != value:  # NaN: the method makes no clusters (e.g. a supervised row's cluster ACC)
        return "empty"
    scale, digits = (100.0, 2) if metric in PERCENT_METRICS else (1.0, 4)
    text = f"{value * scale:.{digits}f}"
    spread = std is not None and (runs is None or runs >= 2)
    return text + (f" ± {std * scale:.{digits}f}" if spread else "")


def _cells(r: dict) -> dict:
    e = r["ours"]
    ours = _fmt(r["metric"], e["value"], e["std"], e["runs"]) if e else "not yet run"
    return {
        "Notebook": r["notebook"], "Experiment": r["experiment"], "Dataset": r["dataset"], "Metric": r["metric"],
        "Paper": _fmt(r["metric"], r["paper"], r["paper_std"]), "Ours": ours,
        "Runs": str(e["runs"]) if e else "", "Profile": e["profile"] if e else "", "Device": e["device"] if e else "",
        "Commit": e["commit"] if e else "", "Note": (e.get("note") or "") if e else "",
    }


def format_table(rows: list[dict]) -> str:
    """Render :func:`table` rows as one aligned text table (values in % for rate metrics): the command line's view."""
    cells = [_cells(r) for r in rows]
    header = ["Notebook", "Experiment", "Dataset", "Metric", "Paper", "Ours", "Runs", "Profile", "Device", "Commit"]
    widths = [max([len(h)] + [len(c[h]) for c in cells]) for h in header]
    fmt = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    lines = [fmt(header), fmt(["-" * w for w in widths])] + [fmt([c[h] for h in header]) for c in cells]
    return "\n".join(lines) + "\n"


NOTEBOOK_NAME = re.compile(r"^(\d\d)[a-z]?_\w+$")  # 01_x, and 01b_x for a chapter's second notebook


def notebook_sources(root: str | os.PathLike | None = None) -> list[Path]:
    """The paired text sources ``notebooks/NN_name.py`` (and ``NNb_name.py``, a chapter's second part), in order."""
    folder = Path(root or project_root()) / "notebooks"
    return sorted(p for p in folder.glob("[0-9][0-9]*_*.py") if NOTEBOOK_NAME.match(p.stem))


def chapter_number(notebook: str) -> int:
    """The chapter of a notebook name: ``01_x`` and ``01b_x`` are chapter 1."""
    match = NOTEBOOK_NAME.match(notebook)
    if not match:
        raise ValueError(f"{notebook!r} is not a notebook name (NN_name or NNb_name)")
    return int(match.group(1))


def chapter_titles(root: str | os.PathLike | None = None) -> dict:
    """``{notebook: "Chapter N: title"}`` from each notebook's first heading (chapter 0 is the conventions)."""
    titles = {}
    for source in notebook_sources(root):
        heading = next((line[4:].strip() for line in source.read_text().splitlines() if line.startswith("# # ")), source.stem)
        titles[source.stem] = f"Chapter {chapter_number(source.stem)}: {heading}"
    return titles


def _strongest(rows: list[dict], key: tuple) -> dict | None:
    """The row of ``key`` from the strongest profile that ran it (full > gpu > cpu), or the not-yet-run row."""
    candidates = [r for r in rows if (r["notebook"], r["experiment"], r["dataset"], r["metric"]) == key]
    ran = [r for r in candidates if r["ours"]]
    ran.sort(key=lambda r: BOOK_PROFILES.index(r["ours"]["profile"]))
    return (ran or candidates or [None])[0]


def _gap(r: dict) -> str:
    if not (r["ours"] and r["paper"] is not None):
        return ""
    scale = 100.0 if r["metric"] in PERCENT_METRICS else 1.0
    return f"{(r['ours']['value'] - r['paper']) * scale:+.1f}"


def _beyond_the_papers(rows: list[dict]) -> list[str]:
    """Each chapter's headline methods on every dataset they ran on besides the papers' (``-p dataset ...``)."""
    methods = {(nb, e, m) for nb, keys in HEADLINES.items() for e, _, m in keys}
    papers = {(nb, d) for nb, sets in CHAPTER_DATASETS.items() for d in sets}
    papers |= {(p["notebook"], p["dataset"]) for p in paper_values()}  # e.g. chapter 2's Table 3 sets, run with -p
    found = [r for r in rows if r["ours"] and (r["notebook"], r["experiment"], r["metric"]) in methods
             and (r["notebook"], r["dataset"]) not in papers]
    out = ["", "## Beyond the papers' datasets", "",
           "The headline methods on datasets the papers did not use, run with `clustutils run NN --profile P -p dataset NAME` "
           "(the chapter's other settings unchanged; no paper value to compare with). Their executed notebooks are not "
           "pages of the book (such a run writes them under `_build/<profile>-params`); the command reruns them."]
    if not found:
        return out + ["", "No such run is recorded yet."]
    out += ["", "| chapter | method | dataset | metric | ours | run |", "|---|---|---|---|---|---|"]
    for r in sorted(found, key=lambda r: (r["notebook"], r["experiment"], r["dataset"], BOOK_PROFILES.index(r["ours"]["profile"]))):
        e = r["ours"]
        out.append(f"| {chapter_number(r['notebook'])} | {r['experiment']} | {r['dataset']} | {r['metric']} | "
                   f"{_fmt(r['metric'], e['value'], e['std'], e['runs'])} | {e['profile']}, {e['runs']} run{'s' if e['runs'] > 1 else ''} |")
    return out


def results_page(root: str | os.PathLike | None = None) -> str:
    """The Results page's generated part: an overview of each chapter's headline rows, then every row by chapter.

    Notes, devices and commits are footnotes, so the tables stay within the page's column.
    """
    rows, titles = table(root), chapter_titles(root)
    out = ["## Overview", "",
           "Each chapter's headline results from its strongest run (`full`, else `gpu`, else `cpu`); *ours − paper* is in "
           "percentage points for rates.", "",
           "| chapter | result | paper | ours | ours − paper | run |", "|---|---|---|---|---|---|"]
    for notebook, keys in HEADLINES.items():
        for key in keys:
            r = _strongest(rows, (notebook, *key))
            if r is None:
                continue
            e = r["ours"]
            run = f"{e['profile']}, {e['runs']} run{'s' if e['runs'] > 1 else ''}" if e else ""
            out.append(f"| {chapter_number(notebook)} | {key[0]} · {key[1]} · {key[2]} | {_fmt(key[2], r['paper'], r['paper_std'])} | "
                       f"{_fmt(key[2], e['value'], e['std'], e['runs']) if e else 'not yet run'} | {_gap(r)} | {run} |")
    out += ["", "```{figure} _generated/results_overview.png", ":name: fig-results-overview", ":width: 100%", "",
            "Headline results, ours (circles, by profile) beside the paper's (crosses), in percent. Rates where lower is "
            "better (test error) are marked in the labels.", "```"]
    out += _beyond_the_papers(rows)
    for notebook in sorted(dict.fromkeys(r["notebook"] for r in rows)):  # chapter 0 first, then 1-5
        out += ["", f"## {titles.get(notebook, notebook)}", "", "| experiment | dataset | metric | paper | ours | runs | profile |",
                "|---|---|---|---|---|---|---|"]
        notes = []
        for r in (r for r in rows if r["notebook"] == notebook):
            c = _cells(r)
            mark = ""
            if r["ours"]:
                notes.append(f"{c['Note'] + '; ' if c['Note'] else ''}{c['Device']}, commit {c['Commit']}")
                mark = f" [^{notebook.partition('_')[0]}-{len(notes)}]"
            out.append("| " + " | ".join(v.replace("|", "\\|") for v in (c["Experiment"], c["Dataset"], c["Metric"], c["Paper"],
                                                                            c["Ours"] + mark, c["Runs"], c["Profile"])) + " |")
        out += [""] + [f"[^{notebook.partition('_')[0]}-{i}]: {note.replace('|', '/')}" for i, note in enumerate(notes, 1)]
    return "\n".join(out) + "\n"


def overview_figure(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Dot plot of the headline rows: ours (by profile) and the paper's value, in %, sized for the page column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table(root)
    picked = [(nb, key, _strongest(rows, (nb, *key))) for nb, keys in HEADLINES.items() for key in keys]
    picked = [(nb, key, r) for nb, key, r in picked if r is not None]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(picked) + 1.0), dpi=100)
    colours = {"full": "tab:green", "gpu": "tab:orange", "cpu": "tab:blue"}
    for i, (nb, key, r) in enumerate(picked):
        if r["paper"] is not None:
            ax.plot(100 * r["paper"], i, "kx", ms=7)
        if r["ours"]:
            ax.plot(100 * r["ours"]["value"], i, "o", color=colours[r["ours"]["profile"]], ms=6)
    labels = [f"{nb[:2]} {key[0]} · {key[1]}{' (error)' if 'error' in key[2] else ''}" for nb, key, _ in picked]
    ax.set_yticks(range(len(picked)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("percent (ACC, majority ACC, F1 or test error)")
    ax.set_ylabel("chapter and result")
    handles = [plt.Line2D([], [], color="k", marker="x", ls="", label="paper")]
    handles += [plt.Line2D([], [], color=c, marker="o", ls="", label=f"ours ({p})") for p, c in colours.items()]
    ax.legend(handles=handles, fontsize=8, loc="lower center", bbox_to_anchor=(0.4, 1.0), ncol=4, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
