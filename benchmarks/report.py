"""Write the Performance page's tables from the benchmark results.

Reads ``benchmarks/results/kmeans.json`` (from ``kmeans_bench.py``) and
``benchmarks/results/notebooks_smoke.json`` (from ``clustutils run all --profile smoke
--output _build/smoke --timings benchmarks/results/notebooks_smoke.json``) and writes
``book/_generated/performance_tables.md``, which ``book/performance.md`` includes.
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
        return f" {r[key]:.2f} |" if r and key in r else " |"

    for r in cpu["rows"]:
        if "ms" not in r:
            continue
        cell = f"{r['ms']:.1f}" + (f" ({r['ms_keep']:.1f} with denormals kept)" if "ms_keep" in r else "")
        extra = ms(r) if compiled else ""
        if gpu:
            g = on_gpu.get(r["loop"])
            best = min([g[k] for k in ("ms", "ms_compiled") if g and k in g], default=None)
            extra += ms(g, "ms") + (ms(g) if compiled else "") + (f" {r['ms'] / best:.0f}x |" if best else " |")
        lines.append(f"| {r['loop']} | {cell} |{extra}")
    return lines


def notebook_table(data: dict) -> list[str]:
    lines = [f"Profile `{data['profile']}`, measured on: {data.get('machine', platform.machine())}.", "",
             "| notebook | wall time (s) |", "|---|---|"]
    lines += [f"| {name} | {seconds:.0f} |" for name, seconds in data["seconds"].items()]
    return lines


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
    out += ["", "## Notebooks in the smoke profile", ""]
    notebooks = RESULTS / "notebooks_smoke.json"
    out += notebook_table(json.loads(notebooks.read_text())) if notebooks.is_file() else ["Not yet measured."]
    target = ROOT / "book" / "_generated" / "performance_tables.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
