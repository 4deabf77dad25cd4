"""The GPU kit: run chapters on a lent GPU machine in one command, and bring the results back.

Such a machine has Python with torch, torchvision, scikit-learn, matplotlib and seaborn, but no
papermill or Jupyter and no internet, and it receives a copy of the working tree (64 MiB in all).

1. ``clustutils bundle 03 04`` (here) fills the ignored folder ``.gpu/``: the data the chosen chapters
   read, the wheels the machine lacks (papermill, ipykernel, jupytext and their needs, for CPython 3.12
   on manylinux x86-64), ``run.sh`` and a manifest (commit, hashes of the sources).
2. ``bash .gpu/run.sh OUT`` (there) installs the wheels into a temporary folder, executes the chapters
   in the ``gpu`` profile with papermill and writes ONE archive ``OUT/clustbook-run.tar.gz``: executed
   notebooks, ``results/<profile>/*.json``, a log, the wall time of every notebook and a manifest
   (commit, device, profile, determinism).
3. ``clustutils unpack ARCHIVE`` (here) checks the archive's provenance (the sources it ran are the
   checkout's, a CUDA device, a book profile) and puts the notebooks and results in place for commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

__all__ = ["CHAPTER_DATA", "RUNTIME", "PRESENT_ON_GPU", "bundle", "run_bundle", "unpack", "checkout_bytes",
           "travelling_bytes", "KitError"]

BUNDLE = ".gpu"
ARCHIVE = "clustbook-run.tar.gz"
#: Folders under the data root that each notebook reads (absent optional datasets are skipped by the notebooks).
CHAPTER_DATA = {"00": ["MNIST"], "01": ["MNIST", "flowers17-seg"], "02": ["MNIST"], "03": ["MNIST", "USPS"],
                "04": ["MNIST", "USPS"], "05": ["flowers17-seg"], "06": []}  # 06: scikit-learn's digits, no files
#: What the notebooks need on top of the machine's scientific Python.
RUNTIME = ["papermill", "jupytext", "ipykernel", "nbformat", "nbclient"]
#: Packages the H200 image already holds (device tool's KINDS.md, read 2026-11-17): not bundled.
PRESENT_ON_GPU = {
    "attrs", "certifi", "charset-normalizer", "click", "filelock", "fsspec", "idna", "jinja2", "markdown-it-py",
    "markupsafe", "mdurl", "networkx", "numpy", "packaging", "pillow", "psutil", "pygments", "python-dateutil", "pyyaml",
    "requests", "six", "tqdm", "typing-extensions", "urllib3", "torch", "torchvision", "scikit-learn", "scipy",
    "matplotlib", "seaborn", "pandas", "sympy", "mpmath", "joblib", "threadpoolctl",
}
#: Optional at run time and 10 MiB together: ipykernel's debugger and IPython's completion, which executing a
#: notebook never uses (measured 2026-12-05: papermill runs notebooks and reports their errors without them).
NOT_NEEDED = {"debugpy", "jedi", "parso"}
#: What one run on the device machine carries: the bundle, the tracked files and the untracked ones git does not ignore.
CARRY_LIMIT = 64 * 2**20
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]

RUN_SH = r"""#!/usr/bin/env bash
# Runs the bundled chapters on this machine and writes ONE archive:
#   bash .gpu/run.sh OUT [PROFILE] [--bench] [--only 03 04] [--deadline SECONDS] [--rehearse [STEPS]]
# --bench first times every training loop and k-means on this device (for the Performance page); --only runs some
# of the bundled chapters; --deadline stops the chapter still running that many seconds after the start, so the
# archive (rewritten after every chapter) comes back within a machine's time limit; --rehearse cuts every training
# loop to STEPS (2) steps (to try the kit with this machine's Python and packages; nothing for the book).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/.." && pwd)
: "${1:?usage: run.sh OUT_FOLDER [PROFILE] [--bench] [--only CHAPTER ...] [--deadline SECONDS] [--rehearse [STEPS]]}"; PY=${PYTHON:-python3}
SITE=$(mktemp -d)
if compgen -G "$HERE/wheels/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$HERE"/wheels/*.whl || exit 1
fi
export PYTHONPATH="$ROOT/src:$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH" PYTHONUNBUFFERED=1
export CLUSTUTILS_DATA="$HERE/data" CLUSTUTILS_COMMIT="$(cat "$HERE/commit")" JUPYTER_PLATFORM_DIRS=1
cd "$ROOT" && exec "$PY" -m clustutils.gpukit "$@"
"""


class KitError(RuntimeError):
    """A bundle or an archive that cannot be used, with the reason."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_hashes(root: Path) -> dict:
    """SHA-256 of every notebook text source and package module: what decides a run's outputs."""
    from .results import notebook_sources

    files = notebook_sources(root) + sorted((root / "src" / "clustutils").rglob("*.py"))
    return {str(f.relative_to(root)): _sha256(f) for f in files}


def checkout_bytes(root: Path) -> int:
    """Bytes of the checkout's tracked and not-ignored untracked files: what travels besides the bundle."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                           capture_output=True, text=True).stdout.split("\0")
    return sum((root / n).stat().st_size for n in names if n and (root / n).is_file())


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def travelling_bytes(root: Path) -> int:
    """Bytes one run on the device machine carries: the bundle ``root/.gpu`` and the checkout."""
    return _folder_size(root / BUNDLE) + checkout_bytes(root)


def bundle(root: Path, chapters: list[str], data_root: Path, wheels: bool = True, out: Path | None = None) -> dict:
    """Fill ``root/.gpu`` for ``chapters`` (numbers such as ``"03"``); return its manifest."""
    from .results import git_commit

    unknown = [c for c in chapters if c not in CHAPTER_DATA]
    if unknown:
        raise KitError(f"unknown chapter(s) {unknown}; choose from {', '.join(CHAPTER_DATA)}")
    commit = git_commit(root)
    if commit.endswith("+dirty") or commit == "unknown":
        raise KitError(f"commit the code first: the run's provenance is a commit, and this checkout is at {commit}")
    out = Path(out or root / BUNDLE)
    if out.exists():
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    for folder in sorted({f for c in chapters for f in CHAPTER_DATA[c]}):
        source = data_root / folder
        if not source.is_dir():
            raise KitError(f"{source} is missing: the chapters {chapters} read it (see the Datasets page)")
        shutil.copytree(source, out / "data" / folder)
    if wheels:
        (out / "wheels").mkdir()
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", "3.12",
                   "--implementation", "cp", "--dest", str(out / "wheels"), *sum((["--platform", p] for p in PLATFORMS), []),
                   *RUNTIME]
        subprocess.run(command, check=True)
        for wheel in (out / "wheels").glob("*.whl"):
            if wheel.name.split("-")[0].lower().replace("_", "-") in PRESENT_ON_GPU | NOT_NEEDED:
                wheel.unlink()
    (out / "run.sh").write_text(RUN_SH)
    (out / "commit").write_text(commit.split("+")[0] + "\n")
    manifest = {"commit": commit, "chapters": chapters, "sources": source_hashes(root),
                "bytes": _folder_size(out), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _device() -> dict:
    import torch

    info = {"torch": torch.__version__, "python": platform.python_version(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info.update(name=torch.cuda.get_device_name(), tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                    cudnn_deterministic=torch.backends.cudnn.deterministic)
    else:
        info["name"] = "cpu"
    return info


BENCHMARKS = {  # script: arguments; their JSON goes to benchmarks/results/ on unpack
    "steps_bench.py": ["--device", "cuda", "--steps", "50", "--compile", "--compare-pretraining"],
    "kmeans_bench.py": ["--restarts", "1", "20", "500", "--max-seconds", "120"],
}


def _run_until(command: list[str], root: Path, log, seconds: float | None) -> int | None:
    """Run ``command`` (its own process group); its exit status, or None when ``seconds`` ran out (then killed)."""
    process = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)  # the notebook's kernel too, which would hold the GPU
        process.wait()
        return None


def _run_benchmarks(root: Path, stage: Path, log, left) -> None:
    """Time every training loop and k-means on this device (CUDA) before the chapters run."""
    (stage / "benchmarks").mkdir(exist_ok=True)
    for script, arguments in BENCHMARKS.items():
        name = script.replace("_bench.py", "_cuda.json")
        if _run_until([sys.executable, str(root / "benchmarks" / script), *arguments, "--output",
                       str(stage / "benchmarks" / name)], root, log, left()) is None:
            print(f"{script}: stopped at the deadline", flush=True)


def _write_archive(out: Path, stage: Path, results: Path, profile: str, report: dict) -> Path:
    """(Re)write the one archive from the staged files, the results of ``profile`` and ``report``."""
    (stage / "run.json").write_text(json.dumps(report, indent=1) + "\n")
    archive, partial = out / ARCHIVE, out / (ARCHIVE + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(stage.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(stage)))
        for path in sorted(results.glob("*.json")) if results.is_dir() else []:
            tar.add(path, arcname=f"results/{profile}/{path.name}")
    os.replace(partial, archive)
    return archive


def run_bundle(root: Path, out: Path, profile: str = "gpu", bench: bool = False, only: list[str] | None = None,
               deadline: float | None = None, rehearse: int | None = None) -> dict:
    """Execute the bundled chapters in ``profile`` (on the GPU machine); write the one archive; return the run's
    report (what ``run.json`` holds, plus ``"archive"``: the archive's path).

    ``bench``: first run the step-time and k-means benchmarks on this device (``BENCHMARKS``).  ``only``: some of
    the bundled chapters.  ``deadline``: seconds from the start after which the running step is stopped (its
    chapter counts as failed, later ones as not run); the archive is rewritten after every chapter, so what
    finished comes back even if the machine's own limit ends the call.  ``rehearse``: cut every training loop
    to this many steps (``clustutils run --rehearse``), to try the kit with another machine's Python and
    packages; such an archive holds no results and ``unpack`` refuses it.
    """
    started = time.time()
    manifest = json.loads((root / BUNDLE / "manifest.json").read_text())
    if source_hashes(root) != manifest["sources"]:
        raise KitError("the sources differ from those the bundle was made for: make the bundle again")
    chapters = manifest["chapters"] if only is None else only
    missing = [c for c in chapters if c not in manifest["chapters"]]
    if missing:
        raise KitError(f"chapter(s) {missing} are not in the bundle ({', '.join(manifest['chapters'])}): bundle them")
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp())
    (stage / "notebooks").mkdir()
    results = root / "results" / profile if not rehearse else stage / "results"  # a rehearsal's results: scratch
    report = {**manifest, "chapters": chapters, "profile": profile, "device": _device(), "seconds": {}, "failed": [],
              "not_run": [], "deadline_s": deadline, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              **({"rehearsal_steps": rehearse} if rehearse else {})}

    cut = ["--rehearse", str(rehearse)] if rehearse else []

    def left() -> float | None:
        return None if deadline is None else max(0.0, deadline - (time.time() - started))

    with (stage / "log.txt").open("w") as log:
        if bench:
            _run_benchmarks(root, stage, log, left)
            print(f"benchmarks done in {time.time() - started:.0f} s", flush=True)
        for chapter in chapters:
            if left() == 0:
                report["not_run"].append(chapter)
                continue
            t0 = time.time()
            status = _run_until([sys.executable, "-m", "clustutils.cli", "run", chapter, "--profile", profile,
                                 "--output", str(stage / "notebooks"), *cut], root, log, left())
            report["seconds"][chapter] = round(time.time() - t0, 1)
            if status != 0:
                report["failed"].append(chapter)
            verdict = "done" if status == 0 else "stopped at the deadline" if status is None else "FAILED"
            print(f"{chapter}: {verdict} in {report['seconds'][chapter]:.0f} s", flush=True)
            log.flush()
            _write_archive(out, stage, results, profile, report)
    archive = _write_archive(out, stage, results, profile, report)
    print(f"wrote {archive} ({archive.stat().st_size / 2**20:.1f} MiB); failed: {report['failed'] or 'none'}"
          + (f"; not run (deadline): {report['not_run']}" if report["not_run"] else ""))
    return {**report, "archive": archive}


def _chapter_of(name: str) -> str:
    """The chapter a notebook or results file belongs to: ``notebooks/01b_x.ipynb`` -> ``01``."""
    return Path(name).name[:2]


def unpack(archive: Path, root: Path, allow_cpu: bool = False) -> dict:
    """Check ``archive``'s provenance against the checkout ``root``, then put its notebooks and results in place."""
    from .cli import BOOK_PROFILES

    with tarfile.open(archive, "r:gz") as tar:
        try:
            report = json.load(tar.extractfile("run.json"))
        except KeyError:
            raise KitError(f"{archive} has no run.json: not an archive of .gpu/run.sh") from None
        if report.get("rehearsal_steps"):
            raise KitError(f"{archive} is a rehearsal (every training loop cut to {report['rehearsal_steps']} steps): "
                           "it holds no results for the book")
        if report["profile"] not in BOOK_PROFILES:
            raise KitError(f"{archive} ran profile {report['profile']!r}; the book takes only {', '.join(BOOK_PROFILES)}")
        if not report["device"]["cuda"] and not allow_cpu:
            raise KitError(f"{archive} ran on {report['device']['name']}, not on a CUDA device (--allow-cpu to accept)")
        changed = sorted(k for k, v in report["sources"].items() if source_hashes(root).get(k) != v)
        if changed:
            raise KitError(f"{archive} ran other sources than this checkout's (commit {report['commit']}): {changed[:5]}")
        skipped = set(report["failed"]) | set(report.get("not_run", []))
        names = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(("notebooks/", "results/", "benchmarks/"))]
        for member in names:
            if member.name.startswith(("notebooks/", "results/")) and _chapter_of(member.name) in skipped:
                continue  # a chapter that failed or stopped at the deadline: its partial outputs stay out
            target = root / (member.name.replace("benchmarks/", "benchmarks/results/", 1)
                             if member.name.startswith("benchmarks/") else member.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
    return report


def main(argv=None) -> int:
    """``python -m clustutils.gpukit OUT [PROFILE] [--bench] [--only ...] [--deadline S] [--rehearse N]``: what
    ``run.sh`` calls.

    Exits 0 when every chapter ran to its end, 2 when one failed or the deadline stopped it (the archive is written
    all the same), 1 when the bundle was refused.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="run.sh", description="Run the bundled chapters; write one archive to OUT.")
    parser.add_argument("out", type=Path)
    parser.add_argument("profile", nargs="?", default="gpu")
    parser.add_argument("--bench", action="store_true", help="first time every training loop and k-means here")
    parser.add_argument("--only", nargs="+", metavar="CHAPTER", help="run these of the bundled chapters")
    parser.add_argument("--deadline", type=float, metavar="SECONDS",
                        help="stop whatever still runs this many seconds after the start (leave 30 s for the archive)")
    parser.add_argument("--rehearse", nargs="?", type=int, const=2, metavar="STEPS",
                        help="cut every training loop to STEPS (2) steps: tries the kit, records nothing for the book")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        report = run_bundle(Path.cwd(), args.out, args.profile, bench=args.bench, only=args.only,
                            deadline=args.deadline, rehearse=args.rehearse)
    except KitError as error:
        print(f"clustutils: {error}", file=sys.stderr)
        return 1
    if report["failed"] or report["not_run"]:
        print("clustutils: not every chapter ran to its end (the archive holds the others; its log.txt says why)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
