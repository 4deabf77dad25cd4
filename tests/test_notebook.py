import json

import nbformat
import pytest
import torch

from clustutils import cli, notebook, train


def test_start_validates_profile_and_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUSTUTILS_ROOT", str(tmp_path))
    with pytest.raises(ValueError, match="smoke, cpu, gpu, full"):
        notebook.start("00_x", "turbo")
    with pytest.raises(ValueError, match="seed"):
        notebook.start("00_x", "cpu", seed=-1)


def test_run_picks_budgets_records_and_prints_provenance(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLUSTUTILS_ROOT", str(tmp_path))
    run = notebook.start("00_x", "smoke", seed=3, device="cpu", data_root_dir=tmp_path / "data")
    out = capsys.readouterr().out
    assert "notebook 00_x | profile smoke | device cpu | seed 3" in out and "commit " in out
    assert run.pick(smoke=1, cpu=2, full=3) == 1 and run.data_root == tmp_path / "data"
    entry = run.record("kmeans", "toy", "acc", 0.5)
    assert entry["seeds"] == [3] and entry["profile"] == "smoke" and entry["device"] == "cpu"
    host = train.host_name()  # the machine, with the CPU kernels that set the last bits of every result
    assert f"| host {host}" in out and entry["host"] == host and f"{torch.backends.cpu.get_cpu_capability()} kernels" in host
    assert (tmp_path / "results" / "smoke" / "00_x.json").is_file()
    assert run.savefig(None, "unused") == []  # save_figures is off


def test_a_result_names_the_operations_that_ran_without_a_deterministic_implementation(tmp_path, monkeypatch):
    """On CUDA, PyTorch warns (warn_only) when an op has no deterministic kernel; the results say so."""
    import warnings

    from clustutils import train

    monkeypatch.setenv("CLUSTUTILS_ROOT", str(tmp_path))
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored after the test
    monkeypatch.setattr(train, "NONDETERMINISTIC_OPS", set())
    run = notebook.start("00_x", "smoke", device="cpu", data_root_dir=tmp_path)
    assert "not bit-reproducible" not in run.record("a", "toy", "acc", 0.5, note="fewer epochs")["note"]
    train._watch_nondeterministic_ops()
    train._watch_nondeterministic_ops()  # idempotent: one watcher
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("upsample_bilinear2d_backward_out_cuda does not have a deterministic implementation, but you "
                      "set 'torch.use_deterministic_algorithms(True, warn_only=True)'.", UserWarning)
    assert train.NONDETERMINISTIC_OPS == {"upsample_bilinear2d_backward_out_cuda"}
    note = run.record("b", "toy", "acc", 0.5, note="fewer epochs")["note"]
    assert note == ("fewer epochs; not bit-reproducible: upsample_bilinear2d_backward_out_cuda ran without a "
                    "deterministic CUDA implementation")


def test_record_runs_records_mean_spread_and_best_and_glues_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLUSTUTILS_ROOT", str(tmp_path))
    run = notebook.start("04_x", "smoke", device="cpu", data_root_dir=tmp_path)
    runs = [{"acc": 0.5, "nmi": 0.4}, {"acc": 0.7, "nmi": 0.6}]
    run.record_runs("cm", "toy", runs, "two runs", [0, 1])
    rows = {r["metric"]: r for r in json.loads((tmp_path / "results" / "smoke" / "04_x.json").read_text())["entries"]}
    assert rows["acc"]["value"] == pytest.approx(0.6) and rows["acc"]["std"] == pytest.approx(0.1)
    assert rows["nmi"]["value"] == pytest.approx(0.5) and rows["best_acc"]["value"] == 0.7
    assert rows["best_acc"]["note"] == "two runs; best run by ACC" and rows["acc"]["seeds"] == [0, 1]
    run.record_runs("cm", "one", runs[:1], "one run", [0])  # one run: no spread
    one = [r for r in json.loads((tmp_path / "results" / "smoke" / "04_x.json").read_text())["entries"]
           if r["dataset"] == "one" and r["metric"] == "acc"]
    assert one[0]["std"] is None


TINY = '''# %% tags=["parameters"]
import os

profile = os.environ.get("CLUSTUTILS_PROFILE", "cpu")
factor = 2

# %%
print(profile, factor * 21)
'''


def _tiny_project(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/tiny\n")  # student copies link to it
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_tiny.py").write_text(TINY)
    return tmp_path


def test_run_command_executes_with_profile_and_parameters(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(_tiny_project(tmp_path))
    out_dir = tmp_path / "out"
    assert cli.main(["run", "1", "--profile", "smoke", "--output", str(out_dir), "-p", "factor", "3",
                     "--timings", str(tmp_path / "t.json")]) == 0
    executed = nbformat.read(out_dir / "01_tiny.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "smoke 63\n"
    assert "01_tiny done in" in capsys.readouterr().out
    timings = json.loads((tmp_path / "t.json").read_text())
    assert set(timings["seconds"]) == {"01_tiny"} and "cores" in timings["machine"]


def test_student_command_removes_solutions(tmp_path, monkeypatch):
    monkeypatch.chdir(_tiny_project(tmp_path))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("secret = 1", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="1\n")])]
    nbformat.write(nb, tmp_path / "notebooks" / "01_tiny.ipynb")
    assert cli.main(["student", "--output", str(tmp_path / "student"), "--clear-outputs"]) == 0
    copy = nbformat.read(tmp_path / "student" / "01_tiny.ipynb", as_version=4)
    assert [c.source for c in copy.cells] == ["x = 1"] and copy.cells[0].outputs == []


def test_results_keep_the_commit_of_the_start_of_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUSTUTILS_ROOT", str(tmp_path))
    run = notebook.start("00_x", "smoke", device="cpu")
    run.commit = "abc1234"  # e.g. code edited while a long run was going on
    assert run.record("kmeans", "toy", "acc", 0.5)["commit"] == "abc1234"
    assert "commit abc1234" in run.provenance()
