"""The GPU kit's round trip (bundle -> run.sh -> unpack), on the CPU at the size of chapter 0."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from clustutils import cli, gpukit

REPO = Path(__file__).resolve().parents[1]


def _book(tmp_path: Path) -> Path:
    """A committed checkout holding chapter 0 and the package."""
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "_toc.yml", book)
    for suffix in (".py", ".ipynb"):
        shutil.copy(REPO / "notebooks" / f"00_conventions{suffix}", book / "notebooks")
    shutil.copytree(REPO / "src" / "clustutils", book / "src" / "clustutils", ignore=shutil.ignore_patterns("__pycache__"))
    (book / ".gitignore").write_text(".gpu/\nresults/\n")
    git = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], cwd=book, check=True)
    subprocess.run([*git, "add", "-A"], cwd=book, check=True)
    subprocess.run([*git, "commit", "-qm", "book"], cwd=book, check=True)
    return book


@pytest.mark.data
def test_bundle_run_unpack_round_trip(tmp_path, shared_data, monkeypatch, capsys):
    book = _book(tmp_path)
    monkeypatch.setenv("CLUSTUTILS_DATA", str(shared_data))
    assert cli.main(["--book", str(book), "bundle", "00", "--no-wheels"]) == 0
    manifest = json.loads((book / ".gpu" / "manifest.json").read_text())
    assert manifest["chapters"] == ["00"] and (book / ".gpu" / "data" / "MNIST" / "raw").is_dir()

    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTUTILS_")}
    done = subprocess.run(["bash", str(book / ".gpu" / "run.sh"), str(out), "cpu"], env={**env, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    archive = out / gpukit.ARCHIVE
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        report = json.load(tar.extractfile("run.json"))
    assert {"run.json", "log.txt", "notebooks/00_conventions.ipynb", "results/cpu/00_conventions.json"} <= set(names)
    assert report["failed"] == [] and report["seconds"]["00"] > 0 and report["device"]["cuda"] is False

    with pytest.raises(SystemExit, match="not on a CUDA device"):
        cli.main(["--book", str(book), "unpack", str(archive)])
    assert cli.main(["--book", str(book), "unpack", str(archive), "--allow-cpu"]) == 0
    executed = (book / "notebooks" / "00_conventions.ipynb").read_text()
    assert f"commit {manifest['commit']}" in executed and "| profile cpu |" in executed
    assert json.loads((book / "results" / "cpu" / "00_conventions.json").read_text())["entries"]

    # an archive made from other sources is refused
    source = book / "notebooks" / "00_conventions.py"
    source.write_text(source.read_text() + "\n# %%\nprint('changed')\n")
    with pytest.raises(SystemExit, match="other sources than this checkout"):
        cli.main(["--book", str(book), "unpack", str(archive), "--allow-cpu"])


@pytest.mark.data
def test_a_deadline_stops_the_run_and_still_brings_back_an_archive_whose_partial_chapter_stays_out(
        tmp_path, shared_data, monkeypatch):
    book = _book(tmp_path)
    monkeypatch.setenv("CLUSTUTILS_DATA", str(shared_data))
    assert cli.main(["--book", str(book), "bundle", "00", "--no-wheels"]) == 0
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CLUSTUTILS_")}, "PYTHON": sys.executable}
    run_sh = str(book / ".gpu" / "run.sh")
    refused = subprocess.run(["bash", run_sh, str(tmp_path / "x"), "cpu", "--only", "03"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "not in the bundle" in refused.stderr

    out = tmp_path / "out"  # 6 s: past the kit's start (sources hashed, torch imported), within chapter 00's 10+ s
    done = subprocess.run(["bash", run_sh, str(out), "cpu", "--deadline", "6"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "00: stopped at the deadline" in done.stdout, done.stdout + done.stderr
    assert "not every chapter ran to its end" in done.stderr
    with tarfile.open(out / gpukit.ARCHIVE) as tar:
        report = json.load(tar.extractfile("run.json"))
    assert report["failed"] == ["00"] and report["deadline_s"] == 6 and report["seconds"]["00"] < 10
    before = (book / "notebooks" / "00_conventions.ipynb").read_bytes()
    assert cli.main(["--book", str(book), "unpack", str(out / gpukit.ARCHIVE), "--allow-cpu"]) == 1  # says so
    assert (book / "notebooks" / "00_conventions.ipynb").read_bytes() == before  # the stopped chapter stays out
    assert not (book / "results" / "cpu" / "00_conventions.json").exists()


def test_bundle_refuses_uncommitted_code_and_unknown_chapters(tmp_path, monkeypatch):
    book = _book(tmp_path)
    with pytest.raises(gpukit.KitError, match="unknown chapter"):
        gpukit.bundle(book, ["09"], tmp_path)
    (book / "src" / "clustutils" / "train.py").write_text("# edited\n")
    with pytest.raises(gpukit.KitError, match="commit the code first"):
        gpukit.bundle(book, ["00"], tmp_path)


def test_bundle_refuses_more_than_a_run_carries_and_counts_untracked_files(tmp_path, monkeypatch):
    book = _book(tmp_path)
    data = tmp_path / "data"
    (data / "MNIST").mkdir(parents=True)
    (data / "MNIST" / "images.bin").write_bytes(b"\0" * 1000)
    monkeypatch.setenv("CLUSTUTILS_DATA", str(data))
    tracked = gpukit.checkout_bytes(book)
    (book / "notes.txt").write_bytes(b"\0" * 500)  # untracked, not ignored: it travels too
    assert gpukit.checkout_bytes(book) == tracked + 500
    gpukit.bundle(book, ["00"], data, wheels=False)
    size = gpukit.travelling_bytes(book)
    assert size > tracked + 500 + 1000  # the data, run.sh and the manifest
    monkeypatch.setattr(gpukit, "CARRY_LIMIT", size)  # exactly fits
    assert cli.main(["--book", str(book), "bundle", "00", "--no-wheels"]) == 0
    monkeypatch.setattr(gpukit, "CARRY_LIMIT", size - 1)
    with pytest.raises(SystemExit, match="more than the 0 MiB a run carries: bundle fewer chapters"):
        cli.main(["--book", str(book), "bundle", "00", "--no-wheels"])


@pytest.mark.data
def test_a_rehearsal_through_the_kit_runs_the_chapter_cut_short_and_unpack_refuses_it(tmp_path, shared_data,
                                                                                      monkeypatch):
    book = _book(tmp_path)
    monkeypatch.setenv("CLUSTUTILS_DATA", str(shared_data))
    assert cli.main(["--book", str(book), "bundle", "00", "--no-wheels"]) == 0
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CLUSTUTILS_")}, "PYTHON": sys.executable}
    out = tmp_path / "out"
    done = subprocess.run(["bash", str(book / ".gpu" / "run.sh"), str(out), "gpu", "--rehearse", "2"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "00: done" in done.stdout, done.stdout + done.stderr
    with tarfile.open(out / gpukit.ARCHIVE) as tar:
        report = json.load(tar.extractfile("run.json"))
        names = tar.getnames()
        executed = tar.extractfile("notebooks/00_conventions.ipynb").read().decode()
    assert report["rehearsal_steps"] == 2 and not any(n.startswith("results/") for n in names)
    assert "REHEARSAL" in executed and "| profile gpu |" in executed
    assert not (book / "results").exists()  # a rehearsal writes nothing the book keeps
    before = (book / "notebooks" / "00_conventions.ipynb").read_bytes()
    with pytest.raises(SystemExit, match="is a rehearsal"):
        cli.main(["--book", str(book), "unpack", str(out / gpukit.ARCHIVE), "--allow-cpu"])
    assert (book / "notebooks" / "00_conventions.ipynb").read_bytes() == before
