import nbformat
import pytest

from clustutils import cli


def test_select_notebooks_by_number_name_and_all(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("00_conventions", "02_energy"):
        (tmp_path / "notebooks" / f"{name}.py").write_text("# %%\n")
    assert [p.stem for p in cli.select_notebooks("all", tmp_path)] == ["00_conventions", "02_energy"]
    assert cli.select_notebooks("2", tmp_path)[0].stem == "02_energy"
    assert cli.select_notebooks("energy", tmp_path)[0].stem == "02_energy"
    with pytest.raises(SystemExit, match="00_conventions, 02_energy"):
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
    monkeypatch.setenv("CLUSTUTILS_ROOT", str(tmp_path))
    assert cli.main(["results"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Notebook") and "not yet run" in out
