import nbformat
import pytest

from clustutils import cli, results


def test_select_notebooks_by_number_name_and_all(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("00_conventions", "02_energy", "02b_energy_more", "02c-draft"):
        (tmp_path / "notebooks" / f"{name}.py").write_text("# %%\n")
    assert [p.stem for p in cli.select_notebooks("all", tmp_path)] == ["00_conventions", "02_energy", "02b_energy_more"]
    assert [p.stem for p in cli.select_notebooks("2", tmp_path)] == ["02_energy", "02b_energy_more"]
    assert [p.stem for p in cli.select_notebooks("energy_more", tmp_path)] == ["02b_energy_more"]
    assert cli.select_notebooks("energy", tmp_path)[0].stem == "02_energy"
    with pytest.raises(SystemExit, match="00_conventions, 02_energy, 02b_energy_more"):
        cli.select_notebooks("07", tmp_path)


def test_profile_cannot_be_passed_as_a_parameter():
    with pytest.raises(SystemExit, match="--profile"):
        cli.main(["run", "00", "--profile", "smoke", "-p", "profile", "full"])


def test_unknown_profile_is_rejected(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "00", "--profile", "turbo"])
    assert "invalid choice" in capsys.readouterr().err


def test_strip_solutions_removes_tagged_cells_and_directives():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("```{exercise}\n:label: ex-1\nDerive it.\n```\n\n"
                                      "````{solution} ex-1\n:class: dropdown\nThe answer.\n````\nAfter."),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    out = cli.strip_solutions(nb)
    assert len(out.cells) == 2
    assert "Derive it." in out.cells[0].source and "The answer." not in out.cells[0].source
    assert "After." in out.cells[0].source


def test_results_command_prints_the_table(capsys, tmp_path, monkeypatch):
    _tiny_book(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["results"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Notebook") and "not yet run" in out


def _tiny_book(root, profile_in_outputs="cpu"):
    """A book with one notebook: a text source and a committed executed copy from ``profile_in_outputs``."""
    (root / "notebooks").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (root / "notebooks" / "00_x.py").write_text(
        '# %% tags=["parameters"]\nimport os\nprofile = os.environ.get("CLUSTUTILS_PROFILE", "cpu")\nseed = 0\n\n'
        '# %%\nprint(f"notebook 00_x | profile {profile} | seed {seed}")\n')
    committed = nbformat.v4.new_notebook()
    committed.cells = [nbformat.v4.new_code_cell("print('committed')", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text=f"notebook 00_x | profile {profile_in_outputs} | seed 0\n")])]
    nbformat.write(committed, root / "notebooks" / "00_x.ipynb")
    return root


@pytest.mark.parametrize("command", [["results"], ["student", "--output", "out"], ["run", "all", "--profile", "cpu"],
                                     ["check-notebooks"]])
def test_every_command_outside_a_book_fails_naming_where_it_looked(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="no book found: looked for _toc.yml") as stop:
        cli.main(command)
    assert stop.value.code != 0 and str(tmp_path) in str(stop.value)
    assert not (tmp_path / "out").exists()


def test_a_smoke_run_never_overwrites_the_committed_notebook(tmp_path, monkeypatch, capsys):
    book = _tiny_book(tmp_path / "book")
    before = (book / "notebooks" / "00_x.ipynb").read_bytes()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--book", str(book), "run", "00", "--profile", "smoke"]) == 0
    assert (book / "notebooks" / "00_x.ipynb").read_bytes() == before
    assert "profile smoke" in (book / "_build" / "smoke" / "00_x.ipynb").read_text()
    assert cli.main(["--book", str(book), "check-notebooks"]) == 0


def test_check_notebooks_refuses_smoke_outputs(tmp_path, capsys):
    book = _tiny_book(tmp_path, profile_in_outputs="smoke")
    assert cli.main(["--book", str(book), "check-notebooks"]) == 1
    assert "profile 'smoke'" in capsys.readouterr().err


def test_check_notebooks_refuses_a_python_warning_in_the_outputs_but_not_the_determinism_note(tmp_path, capsys):
    book = _tiny_book(tmp_path)
    path = book / "notebooks" / "00_x.ipynb"
    notebook = nbformat.read(path, as_version=4)
    determinism = ("/x/nb.py:3: UserWarning: scatter_add_cuda_kernel does not have a deterministic implementation, "
                   "but you set 'torch.use_deterministic_algorithms(True, warn_only=True)'.\n")
    notebook.cells.append(nbformat.v4.new_code_cell("train()", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="epoch 1: 100%|##########| 5/5\n" + determinism)]))
    nbformat.write(notebook, path)
    assert cli.main(["--book", str(book), "check-notebooks"]) == 0

    notebook.cells.append(nbformat.v4.new_code_cell("from tqdm.auto import tqdm", outputs=[nbformat.v4.new_output(
        "stream", name="stderr", text="/env/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter\n"
                                      "  from .autonotebook import tqdm as notebook_tqdm\n")]))
    nbformat.write(notebook, path)
    capsys.readouterr()
    assert cli.main(["--book", str(book), "check-notebooks"]) == 1
    assert "00_x.ipynb shows a warning in cell 2: /env/tqdm/auto.py:21: TqdmWarning" in capsys.readouterr().err


def test_unknown_parameters_are_refused_naming_the_notebooks_parameters(tmp_path, capsys):
    book = _tiny_book(tmp_path)
    with pytest.raises(SystemExit, match=r"00_x has no parameter 'sede'; its parameters: profile .*seed \(default 0\)"):
        cli.main(["--book", str(book), "run", "00", "--profile", "smoke", "-p", "sede", "3"])
    assert cli.main(["--book", str(book), "run", "00", "--help-params"]) == 0
    assert "seed = 0" in capsys.readouterr().out


def test_an_unknown_dataset_is_refused_before_anything_runs(tmp_path):
    book = _tiny_book(tmp_path)
    (book / "notebooks" / "00_x.py").write_text((book / "notebooks" / "00_x.py").read_text().replace(
        "seed = 0", "seed = 0\ndataset = \"digits\""))
    for extra in ([], ["--dry-run"]):
        with pytest.raises(SystemExit, match=r"unknown dataset 'digitz'; the names clustutils.data.load knows: mnist, "):
            cli.main(["--book", str(book), "run", "00", "--profile", "smoke", "-p", "dataset", "digitz", *extra])
    with pytest.raises(SystemExit, match="unknown dataset 3"):
        cli.main(["--book", str(book), "run", "00", "--profile", "smoke", "-p", "dataset", "3", "--dry-run"])
    assert not (book / "_build").exists()  # nothing ran


def test_a_file_that_cannot_be_written_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match=r"^clustutils: \[Errno 2\] No such file or directory: .*missing"):
        cli.main(["--book", str(_tiny_book(tmp_path)), "results", "--output", str(tmp_path / "missing" / "x.md")])


def test_a_failing_notebook_reports_its_error_first_and_the_traceback_on_request(tmp_path, capsys):
    book = _tiny_book(tmp_path)
    source = book / "notebooks" / "00_x.py"
    source.write_text(source.read_text() + '\n# %%\nraise FileNotFoundError("MNIST is missing: put the files in /data/MNIST/raw")\n')
    assert cli.main(["--book", str(book), "run", "00", "--profile", "smoke"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("clustutils: 00_x stopped with FileNotFoundError:\nMNIST is missing")
    assert "--traceback" in err and "Traceback" not in err
    assert cli.main(["--book", str(book), "run", "00", "--profile", "smoke", "--traceback"]) == 1
    assert "raise FileNotFoundError" in capsys.readouterr().err


def test_student_copies_read_as_plain_markdown(tmp_path):
    from pathlib import Path

    book = Path(__file__).resolve().parents[1]
    assert cli.main(["--book", str(book), "student", "--output", str(tmp_path)]) == 0
    copies = sorted(tmp_path.glob("*.ipynb"))
    assert len(copies) == len(results.notebook_sources(book))
    for path in copies:
        markdown = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        for myst in ("{exercise}", "{solution", "{cite", "{glue", "](../book"):
            assert myst not in markdown, (path.name, myst)


def test_plain_markdown_resolves_roles_exercises_and_links():
    text = ("```{exercise}\n:label: ex-1\n\nDerive it.\n```\nSee {cite:p}`k1`, {cite:t}`k1`, {glue:text}`acc:.1%`, "
            "{func}`clustutils.train.fit` and the [notation](../book/notation.md#symbols).")
    out = cli.plain_markdown(text, {"acc": 0.5432}, {"k1": ("Xie et al.", "2016")}, "https://example.org/blob/main")
    assert out == ("**Exercise.** Derive it.\nSee (Xie et al. 2016), Xie et al. (2016), 54.3%, `fit` and the "
                   "[notation](https://example.org/blob/main/book/notation.md#symbols).")


@pytest.mark.data
def test_a_student_copy_runs(tmp_path, shared_data, monkeypatch):
    import papermill
    from pathlib import Path

    book = Path(__file__).resolve().parents[1]
    cli.main(["--book", str(book), "student", "--output", str(tmp_path)])
    monkeypatch.setenv("CLUSTUTILS_DATA", str(shared_data))
    monkeypatch.setenv("CLUSTUTILS_PROFILE", "smoke")
    papermill.execute_notebook(str(tmp_path / "00_conventions.ipynb"), str(tmp_path / "ran.ipynb"), kernel_name="python3",
                               cwd=str(tmp_path), progress_bar=False)


def test_weights_round_trip_and_refusals(tmp_path, monkeypatch, capsys):
    import json
    import tarfile

    import torch

    from clustutils import train, weights
    from clustutils.papers import ch04_cm as cm

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    monkeypatch.setenv("CLUSTUTILS_CACHE", str(teacher))
    model = torch.nn.Linear(2, 1)
    train.fit_cached(model, {"name": "toy", "epochs": 1}, lambda m: [0.0])
    archive = tmp_path / "weights.tar.gz"
    assert cli.main(["weights", "export", str(archive), "--profile", "cpu"]) == 0
    monkeypatch.setenv("CLUSTUTILS_CACHE", str(student))
    assert cli.main(["weights", "import", str(archive)]) == 0
    assert [p.read_bytes() for p in student.glob("*.pt")] == [p.read_bytes() for p in teacher.glob("*.pt")]
    assert cli.main(["weights", "import", str(archive)]) == 0  # again: nothing to do, said so
    assert "all already there" in capsys.readouterr().out

    # an archive trained with other settings is refused, naming the setting
    changed = {**cm.BUDGET.changes["cpu"], "shallow_runs": (2, "x")}
    monkeypatch.setattr(cm, "BUDGET", cm.Budget(cm.Settings(), {**cm.BUDGET.changes, "cpu": changed}))
    with pytest.raises(SystemExit, match=r"other settings than this code.s:\n  ch04_cm.shallow_runs: archive 3, this code 2$"):
        cli.main(["weights", "import", str(archive)])
    monkeypatch.undo()
    monkeypatch.setenv("CLUSTUTILS_CACHE", str(tmp_path / "third"))

    # a corrupt file is refused
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(bad, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.endswith(".pt"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            import io
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(SystemExit, match="corrupt"):
        cli.main(["weights", "import", str(bad)])
    manifest = json.load(tarfile.open(archive).extractfile("manifest.json"))
    assert manifest["profile"] == "cpu" and "ch04_cm" in manifest["settings"] and weights.MANIFEST == "manifest.json"


@pytest.mark.parametrize("notebook, stem", [("00", "00_conventions"), ("03", "03_gar_acol")])
def test_a_run_on_another_dataset_records_rows_under_that_name_only(notebook, stem, tmp_path, monkeypatch, capfd):
    """`-p dataset digits` records only rows named after digits (chapter 3: the GAR chapter the any-dataset issue
    found recording "mnist"), never one named after a paper's dataset; the kernel's TCP warning is not printed."""
    import json
    from pathlib import Path

    book = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("CLUSTUTILS_ROOT", str(tmp_path))
    assert cli.main(["--book", str(book), "run", notebook, "--profile", "smoke", "-p", "dataset", "digits",
                     "--output", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "results" / "smoke" / f"{stem}.json").read_text())["entries"]
    assert rows and all(r["dataset"].startswith("digits") for r in rows), {r["dataset"] for r in rows}
    assert "without encryption" not in capfd.readouterr().err


def test_the_repository_url_is_one_setting(tmp_path, capsys):
    """_config.yml's repository.url is what every notebook installs from; --sync rewrites the install cells."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/me/book/\n")
    cell = '# %%\nsubprocess.run([sys.executable, "-m", "pip", "install", "clustutils @ git+https://old.example/x"])\n'
    for suffix in (".py", ".ipynb"):
        (tmp_path / "notebooks" / f"01_a{suffix}").write_text(cell)
    assert cli.main(["--book", str(tmp_path), "repository"]) == 1
    assert "run `clustutils repository --sync`" in capsys.readouterr().err
    assert cli.main(["--book", str(tmp_path), "repository", "--sync"]) == 0
    assert '"clustutils @ git+https://example.org/me/book"' in (tmp_path / "notebooks" / "01_a.ipynb").read_text()
    assert cli.main(["--book", str(tmp_path), "repository"]) == 0


def test_the_book_installs_from_its_own_repository():
    from pathlib import Path

    assert cli.main(["--book", str(Path(__file__).resolve().parents[1]), "repository"]) == 0


def test_only_a_book_profile_with_default_parameters_writes_the_committed_notebooks(tmp_path):
    assert cli.default_output(tmp_path, "cpu", {}) is None and cli.default_output(tmp_path, "gpu", {}) is None
    assert cli.default_output(tmp_path, "smoke", {}) == tmp_path / "_build" / "smoke"
    assert cli.default_output(tmp_path, "cpu", {"dataset": "digits"}) == tmp_path / "_build" / "cpu-params"


def test_a_dry_run_prints_every_paper_budget_in_the_profile_and_executes_nothing(capsys, monkeypatch):
    from clustutils import weights

    def no_execution(*args, **kwargs):
        raise AssertionError("a dry run executed a notebook")

    monkeypatch.setattr(cli, "execute", no_execution)
    assert cli.main(["--book", str(results.project_root()), "run", "all", "--profile", "gpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert set(weights.budgets()) <= {name.replace(".BUDGET", "") for name in
                                      (line.rstrip(":") for line in out.splitlines()) if name.startswith("ch0")}
    assert "## 04b_deep_clustering (gpu)" in out and "ch04_cm.DEEP_BUDGET:" in out and "`joint_epochs`" in out
    assert "## 00_conventions (gpu)\nsettings defined in the notebook itself" in out
    with pytest.raises(SystemExit, match="no parameter 'sede'"):
        cli.main(["--book", str(results.project_root()), "run", "03", "--profile", "gpu", "--dry-run", "-p", "sede", "3"])


def test_a_rehearsal_cuts_every_training_loop_and_keeps_nothing(tmp_path, monkeypatch, capsys):
    """`run --rehearse 3` runs the profile's code with each fit stopped after 3 steps: the notebook goes to
    _build/<profile>-rehearsal and says REHEARSAL, its results and weights to a scratch folder that is removed;
    asserts are off (a few steps train nothing); the committed notebook, the book's results and the environment
    are untouched; check-notebooks refuses it."""
    import os
    import shutil

    book = _tiny_book(tmp_path / "book")
    (book / "notebooks" / "00_x.py").write_text(
        '# %% tags=["parameters"]\nimport os\nprofile = os.environ.get("CLUSTUTILS_PROFILE", "cpu")\nseed = 0\n\n'
        '# %%\nimport torch\nfrom clustutils import notebook, train\nrun = notebook.start("00_x", profile, seed)\n'
        'model, steps = torch.nn.Linear(2, 1), []\n'
        'train.fit(model, lambda m, xb: m(xb).pow(2).mean(), (torch.randn(100, 2),), epochs=10, batch_size=10,\n'
        '          optimizer=torch.optim.SGD(model.parameters(), lr=0.1), callback=lambda m, s: steps.append(s))\n'
        'print(f"steps taken: {steps[-1]}")\nassert steps[-1] == 100, "a check of training, off in a rehearsal"\n'
        'run.record("fit", "toy", "steps", steps[-1])\n'
        'print("recorded in", os.environ["CLUSTUTILS_ROOT"])\n')
    before = (book / "notebooks" / "00_x.ipynb").read_bytes()
    monkeypatch.delenv("CLUSTUTILS_ROOT", raising=False)
    monkeypatch.setenv("CLUSTUTILS_DEVICE", "cpu")
    assert cli.main(["--book", str(book), "run", "00", "--profile", "gpu", "--rehearse", "3"]) == 0
    out = (book / "_build" / "gpu-rehearsal" / "00_x.ipynb").read_text()
    assert "steps taken: 3" in out and "REHEARSAL: every training loop cut to 3 steps" in out
    scratch = out.split("recorded in ")[1].split("\\n")[0]
    assert not os.path.exists(scratch) and not (book / "results").exists()
    assert (book / "notebooks" / "00_x.ipynb").read_bytes() == before
    assert not {"CLUSTUTILS_MAX_STEPS", "CLUSTUTILS_ROOT", "PYTHONOPTIMIZE"} & set(os.environ)
    shutil.copy(book / "_build" / "gpu-rehearsal" / "00_x.ipynb", book / "notebooks" / "00_x.ipynb")
    assert cli.main(["--book", str(book), "check-notebooks"]) == 1
    assert "rehearsal" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="positive number of steps"):
        cli.main(["--book", str(book), "run", "00", "--profile", "gpu", "--rehearse", "0"])
