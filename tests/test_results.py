import json

import pytest

from clustutils import results


def _record(root, value, runs=None, **kw):
    return results.record("03_gar_acol", "gar_acol", "mnist", "acc", value, profile=kw.pop("profile", "cpu"),
                          device="cpu", seeds=[0, 1, 2][: runs or 3], std=0.01, root=root, **kw)


def test_record_writes_provenance_and_paper_value(tmp_path):
    entry = _record(tmp_path, 0.95)
    stored = json.loads((tmp_path / "results" / "cpu" / "03_gar_acol.json").read_text())
    assert stored["entries"] == [entry]
    assert entry["runs"] == 3 and entry["seeds"] == [0, 1, 2] and entry["device"] == "cpu"
    assert entry["commit"] and entry["date"].endswith("Z")
    paper = {(r["notebook"], r["experiment"], r["dataset"], r["metric"]): r["paper_value"] for r in results.paper_values()}
    assert entry["paper"] == paper.get(("03_gar_acol", "gar_acol", "mnist", "acc"))


def test_rerun_replaces_loudly_and_keeps_history(tmp_path, capsys):
    _record(tmp_path, 0.95)
    _record(tmp_path, 0.90, runs=1)
    assert "replacing 0.95" in capsys.readouterr().out
    (entry,) = results.load_results("cpu", tmp_path)
    assert entry["value"] == 0.90 and entry["history"][0]["value"] == 0.95


def test_bad_profile_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        _record(tmp_path, 0.5, profile="turbo")


def test_table_shows_not_yet_run_and_skips_smoke(tmp_path):
    _record(tmp_path, 0.5, profile="smoke")
    rows = results.table(tmp_path)
    assert len(rows) == len(results.paper_values()) and all(r["ours"] is None for r in rows)
    assert "not yet run" in results.format_table(rows)
    _record(tmp_path, 0.97)
    _record(tmp_path, 0.98, profile="full")
    text = results.results_page(tmp_path)
    ours = [line for line in text.splitlines() if line.startswith("| gar_acol | mnist | acc |")]
    assert len(ours) == 2 and "98.00 ± 1.00" in ours[0] and "| full |" in ours[0] and "| cpu |" in ours[1]
    overview = [line for line in text.splitlines() if line.startswith("| 3 | gar_acol · mnist · acc |")]
    assert overview == ["| 3 | gar_acol · mnist · acc | 98.32 ± 0.08 | 98.00 ± 1.00 | -0.3 | full, 3 runs |"]  # strongest run
    assert "No such run is recorded yet." in text


def test_beyond_the_papers_lists_headline_methods_on_other_datasets_only(tmp_path):
    results.record("03_gar_acol", "gar_acol", "digits", "acc", 0.81, profile="cpu", device="cpu", seeds=[0], root=tmp_path)
    results.record("03_gar_acol", "gar_acol", "usps", "acc", 0.9, profile="cpu", device="cpu", seeds=[0], root=tmp_path)
    results.record("03_gar_acol", "kmeans_pixels", "digits", "acc", 0.7, profile="cpu", device="cpu", seeds=[0], root=tmp_path)
    beyond = results.results_page(tmp_path).split("## Beyond the papers' datasets")[1].split("\n## ")[0]
    assert "| 3 | gar_acol | digits | acc | 81.00 | cpu, 1 run |" in beyond
    assert "usps" not in beyond and "kmeans_pixels" not in beyond  # the paper's dataset; not a headline method
    # chapter 4's second set (USPS, in the authors' code) and chapter 5's named stand-in are the chapters' own runs
    results.record("04_clustering_module", "cm", "usps", "acc", 0.6, profile="cpu", device="cpu", seeds=[0], root=tmp_path)
    results.record("05_histopathology_kmeans", "kmeans", "flowers17_patches", "f1", 0.5, profile="cpu", device="cpu",
                   seeds=[0], root=tmp_path)
    results.record("02_autoencoder_energy", "csae_sigmoid", "rectangles", "test_error", 0.05, profile="cpu",
                   device="cpu", seeds=[0], root=tmp_path)  # a Table 3 set of the paper, run with -p dataset
    beyond = results.results_page(tmp_path).split("## Beyond the papers' datasets")[1].split("\n## ")[0]
    assert "| 4 |" not in beyond and "flowers17" not in beyond and "rectangles" not in beyond


def test_every_notebook_states_the_datasets_of_its_default_run():
    """Every committed cpu row is on a dataset CHAPTER_DATASETS names for its notebook (a default run's) or on a
    dataset no paper of the book used (a run with -p dataset): nothing of a default run lands in "Beyond"."""
    from pathlib import Path

    from clustutils.data import DATASETS

    papers = {p["dataset"] for p in results.paper_values()} | {"idc", "flowers17_patches", "flowers17_seg"}
    others = [name for name in DATASETS if name not in papers]
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "results" / "cpu").glob("*.json")):
        datasets = {e["dataset"] for e in json.loads(path.read_text())["entries"]}
        beyond = datasets - results.CHAPTER_DATASETS[path.stem]
        assert all(any(d.startswith(name) for name in others) for d in beyond), (path.stem, beyond)
        assert datasets & results.CHAPTER_DATASETS[path.stem], path.stem
    assert {p.stem for p in (root / "notebooks").glob("0*.py")} - {"06_own_data"} == set(results.CHAPTER_DATASETS)


def test_extra_results_without_paper_value_still_listed(tmp_path):
    results.record("02_autoencoder_energy", "jacobian_asymmetry", "toy", "ratio", 0.0, profile="cpu", device="cpu",
                   seeds=0, root=tmp_path)
    row = [r for r in results.table(tmp_path) if r["experiment"] == "jacobian_asymmetry"][0]
    assert row["paper"] is None and "0.0000" in results.format_table([row])


def test_paper_values_catalogue_is_well_formed():
    rows = results.paper_values()
    keys = [(r["notebook"], r["experiment"], r["dataset"], r["metric"]) for r in rows]
    assert rows and len(keys) == len(set(keys))
    for r in rows:
        assert r["notebook"][:2] in {"01", "02", "03", "04", "05"} and r["source"]
        if r["metric"] in results.PERCENT_METRICS:
            assert 0 <= r["paper_value"] <= 1, r


def test_git_commit_marks_code_changes_but_not_executed_notebooks(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "nb.ipynb").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = results.git_commit(tmp_path)
    assert clean != "unknown" and not clean.endswith("+dirty")
    (tmp_path / "nb.ipynb").write_text('{"executed": true}\n')
    assert results.git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert results.git_commit(tmp_path) == clean + "+dirty"
    assert results.git_commit(tmp_path / "not-a-repo-subfolder-that-does-not-exist") == "unknown"


def test_spread_only_from_two_runs_and_rates_in_percent():
    from clustutils.results import _fmt

    assert _fmt("acc", 0.5, 0.0, runs=1) == "50.00"  # one run: no spread was measured
    assert _fmt("acc", 0.5, 0.01, runs=3) == "50.00 ± 1.00"
    for metric in ("best_acc", "hungarian_acc", "acc_hungarian_map", "f1_hungarian_map"):
        assert _fmt(metric, 0.25) == "25.00"
    assert _fmt("hungarian_acc", float("nan")) == "empty"
    assert _fmt("loss", 0.5) == "0.5000"


def test_the_committed_results_table_is_the_registry_rendered():
    from pathlib import Path

    from clustutils import results

    root = Path(__file__).resolve().parents[1]
    committed = (root / "book" / "_generated" / "results_table.md").read_text()
    assert committed == results.results_page(root), (
        "book/_generated/results_table.md is stale: run `clustutils results --markdown --output book/_generated/results_table.md`")


def test_study_reads_the_books_study_says_where_it_came_from_or_how_to_make_it(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    inside = tmp_path / "notebooks"
    assert results.study("ch09", start=inside) is None
    said = capsys.readouterr().out
    assert said.startswith(f"no {tmp_path / 'benchmarks' / 'results' / 'ch09_long_schedule.json'}")
    assert "`python benchmarks/long_schedule.py ch09`" in said
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    model = {"model": "a", "host": "AMD EPYC, 2 cores", "torch": "2.14.1"}
    record = {"experiment": "chapter 9, one model", "seed": 3, "commit": "abc1234", "date": "2026-12-08",
              "seconds": 150, "models": [model]}
    (tmp_path / "benchmarks" / "results" / "ch09_long_schedule.json").write_text(json.dumps(record))
    assert results.study("ch09", start=inside) == record
    assert capsys.readouterr().out == ("chapter 9, one model: seed 3, device cpu, commit abc1234, 2026-12-08, 2 min, "
                                       "host AMD EPYC, 2 cores, torch 2.14.1\n")
    record.update(seconds=4 * 3600, models=[{**model, "device": "cuda (NVIDIA H200)"}])  # hours; a recorded device
    (tmp_path / "benchmarks" / "results" / "ch09_long_schedule.json").write_text(json.dumps(record))
    results.study("ch09", start=inside)
    assert ", device cuda (NVIDIA H200), commit abc1234, 2026-12-08, 4.0 h, host" in capsys.readouterr().out
