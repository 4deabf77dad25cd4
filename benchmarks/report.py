"""Write the Performance page's tables from the benchmark results.

Reads ``benchmarks/results/kmeans.json`` (from ``kmeans_bench.py``), ``steps_*.json`` (from
``steps_bench.py``) and ``notebooks_<profile>.json`` (from ``clustutils run all --profile smoke
--output _build/smoke --timings benchmarks/results/notebooks_smoke.json``, and the same with ``cpu``
when the chapters are rerun for the book; ``notebooks_gpu_rehearsal.json`` from
``clustutils run all --profile gpu --rehearse --timings ...``), ``cpu_kernels.json`` (from ``cpu_kernels.py``)
and writes
``book/_generated/performance_tables.md``, which ``book/performance.md`` includes, and
``book/_generated/chapter_times_cpu.md`` (each chapter's notebooks in ``cpu``), which ``book/instructors.md`` includes.
"""

import json
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def kmeans_table(data: dict) -> list[str]:
    lines = [f"Measured {data['date']} on: {data['machine']}.", "",
             "| data | restarts | method | wall time (s) | time / scikit-learn | inertia / scikit-learn |",
             "|---|---|---|---|---|---|"]
    for r in data["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['data']} | {r['restarts']} | not run | {r['skipped']} | | |")
        else:
            lines.append(f"| {r['data']} | {r['restarts']} | {r['method']} | {r['seconds']:.2f} | "
                         f"{r['time_ratio']:.2f} | {r['inertia_ratio']:.4f} |")
    return lines


def steps_table(cpu: dict, gpu: dict | None) -> list[str]:
    """ms per optimiser step of each training loop on the CPU, and on a GPU with the ratio where measured."""
    lines = [f"CPU: {cpu['device']}, {cpu['threads']} thread(s), {cpu['machine']}, torch {cpu['torch']}, {cpu['date']}"
             + (f"; GPU: {gpu['device']}, torch {gpu['torch']}, {gpu['date']}" if gpu else "; no GPU measured yet") + ".", ""]
    compiled = any("ms_compiled" in r for r in cpu["rows"]) or (gpu and any("ms_compiled" in r for r in gpu["rows"]))
    head = "| loop | CPU ms/step |" + (" compiled |" if compiled else "") + (" GPU ms/step |" + (" compiled |" if compiled else "")
                                                                            + " CPU / GPU |" if gpu else "")
    lines += [head, "|---|---|" + ("---|" if compiled else "") + ("---|" + ("---|" if compiled else "") + "---|" if gpu else "")]
    on_gpu = {r["loop"]: r for r in gpu["rows"]} if gpu else {}

    def ms(r, key="ms_compiled"):
        return f" {r[key]:.1f} |" if r and key in r else " |"

    for r in cpu["rows"]:
        if "ms" not in r:
            continue
        cell = (f"{r['ms']:.1f}" + (f" ({r['ms_keep']:.1f} with denormals kept)" if "ms_keep" in r else "")
                + (f" ({r['ms_default_layout']:.1f} in the default layout)" if "ms_default_layout" in r else ""))
        extra = ms(r) if compiled else ""
        if gpu:
            g = on_gpu.get(r["loop"])
            best = min([g[k] for k in ("ms", "ms_compiled") if g and k in g], default=None)
            extra += ms(g, "ms") + (ms(g) if compiled else "") + (f" {r['ms'] / best:.0f}x |" if best else " |")
        lines.append(f"| {r['loop']} | {cell} |{extra}")
    return lines


def notebook_table(data: dict) -> list[str]:
    lines = [f"Profile `{data['profile']}`, measured on: {data.get('machine', platform.machine())}"
             + (f"; {data['note']}" if data.get("note") else "") + ".", "",
             "| notebook | wall time |", "|---|---|"]
    lines += [f"| {name} | {duration(seconds)} |" for name, seconds in sorted(data["seconds"].items())]
    return lines


def chapter_times_table(data: dict) -> list[str]:
    """The wall time of each chapter (its notebooks together) in one profile, for the instructors' page."""
    from clustutils.results import chapter_number

    chapters: dict[int, list[tuple[str, float]]] = {}
    for name, seconds in sorted(data["seconds"].items()):
        chapters.setdefault(chapter_number(name), []).append((name, seconds))
    lines = [f"Measured in the `{data['profile']}` profile on {data.get('machine', platform.machine())}"
             + (f" ({data['note']})" if data.get("note") else "") + ".", "",
             "| chapter | notebooks | wall time |", "|---|---|---|"]
    lines += [f"| {number} | {', '.join(n for n, _ in rows)} | {duration(sum(s for _, s in rows))} |"
              for number, rows in sorted(chapters.items())]
    return lines


def kernels_table(data: dict) -> list[str]:
    """One cpu-profile result under several CPU kernel sets and thread counts (``cpu_kernels.py``)."""
    rows = data["rows"]
    lines = [f"{data['experiment']}, seed {data['seed']}, at commit {data['commit']} ({data['date']}), on "
             f"{rows[0]['host']}, torch {rows[0]['torch']}: one training of {rows[0]['steps']:,} steps, the same "
             "code, seed and data; only the CPU kernels or the number of torch threads differ.", "",
             "| run | environment | torch threads | ACC | weights (SHA-256) |", "|---|---|---|---|---|"]
    for r in rows:
        env = ", ".join(f"`{k}={v}`" for k, v in r["environment"].items()) or "none"
        lines.append(f"| {r['kernels']} | {env} | {r.get('threads', 1)} | {r['acc']:.2%} | `{r['weights_sha256']}` |")
    return lines


def duration(seconds: float) -> str:
    """``42 s`` below two minutes, else ``12.5 min``."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main():
    out = ["## k-means", ""]
    kmeans = RESULTS / "kmeans.json"
    out += kmeans_table(json.loads(kmeans.read_text())) if kmeans.is_file() else ["Not yet measured."]
    kmeans_gpu = RESULTS / "kmeans_cuda.json"
    out += ["", "On a GPU:", ""] + (kmeans_table(json.loads(kmeans_gpu.read_text())) if kmeans_gpu.is_file()
                                     else ["Not yet measured (the GPU kit's `run.sh OUT gpu --bench` measures it)."])
    out += ["", "## Training loops", ""]
    steps_cpu, steps_gpu = RESULTS / "steps_cpu.json", RESULTS / "steps_cuda.json"
    out += (steps_table(json.loads(steps_cpu.read_text()), json.loads(steps_gpu.read_text()) if steps_gpu.is_file() else None)
            if steps_cpu.is_file() else ["Not yet measured."])
    for profile in ("smoke", "cpu", "gpu"):
        notebooks = RESULTS / f"notebooks_{profile}.json"
        if notebooks.is_file():
            out += ["", f"## Notebooks in the {profile} profile", ""] + notebook_table(json.loads(notebooks.read_text()))
    rehearsal = RESULTS / "notebooks_gpu_rehearsal.json"
    if rehearsal.is_file():
        data = json.loads(rehearsal.read_text())
        out += ["", "## The gpu profile rehearsed on the CPU", "",
                f"`clustutils run all --profile gpu --rehearse {data['rehearsal_steps']}`: the `gpu` profile's settings "
                f"with every training loop cut to {data['rehearsal_steps']} steps, so what remains is the work around "
                "training (data, k-means, t-SNE, evaluation at the profile's sizes), here on the CPU; on a GPU machine "
                "part of it runs on the device, part on its host.", ""] + notebook_table(data)
    kernels = RESULTS / "cpu_kernels.json"
    if kernels.is_file():
        out += ["", "## One result under other CPU kernels and thread counts", ""] + kernels_table(json.loads(kernels.read_text()))
    target = ROOT / "book" / "_generated" / "performance_tables.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n")
    print(f"wrote {target}")
    cpu = RESULTS / "notebooks_cpu.json"
    if cpu.is_file():
        chapters = ROOT / "book" / "_generated" / "chapter_times_cpu.md"
        chapters.write_text("\n".join(chapter_times_table(json.loads(cpu.read_text()))) + "\n")
        print(f"wrote {chapters}")


if __name__ == "__main__":
    main()
