"""The paired notebooks: text source and .ipynb in sync, listed in the book, following the conventions."""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from clustutils import results

REPO = Path(__file__).resolve().parents[1]
SOURCES = results.notebook_sources(REPO)


def _cells(notebook):
    return [(c.cell_type, c.source.strip()) for c in notebook.cells if "injected-parameters" not in c.metadata.get("tags", [])]


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/NN_name.py found"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_text_source_and_ipynb_are_in_sync(source):
    paired = source.with_suffix(".ipynb")
    assert paired.is_file(), f"{paired.name} is missing: run `clustutils run {source.stem} --profile cpu`"
    text, executed = jupytext.read(source), nbformat.read(paired, as_version=4)
    assert _cells(text) == _cells(executed), (
        f"{source.name} and {paired.name} differ: re-execute with `clustutils run {source.stem} --profile cpu` "
        f"(or `jupytext --sync {source}` for text-only edits)")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_conventions(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    assert 'os.environ.get("CLUSTUTILS_PROFILE"' in code[0].source
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    outputs = "".join(o.get("text", "") for c in code for o in c.get("outputs", []))
    assert f"notebook {source.stem} | profile " in outputs, "the executed notebook must print its provenance line"
    assert "profile smoke" not in outputs, "committed outputs must come from a cpu or full run"
    for cell in code:
        if "plt.show()" in cell.source or "plt.subplots" in cell.source:
            assert cell.metadata.get("mystnb", {}).get("figure", {}).get("caption"), f"figure without caption:\n{cell.source}"


def test_every_notebook_is_in_the_table_of_contents():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = {entry["file"] for part in toc["parts"] for ch in part["chapters"] for entry in (ch, *ch.get("sections", []))}
    assert {f"notebooks/{s.stem}" for s in SOURCES} <= files


GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)")


def glued_keys(notebook) -> set[str]:
    """Names the executed notebook glued (myst-nb ``scrapbook`` metadata of its outputs)."""
    from clustutils.cli import glued_values

    return set(glued_values(notebook))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_number_the_prose_glues_exists_in_the_executed_notebook(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    cited = {key for c in notebook.cells if c.cell_type == "markdown" for key in GLUE_ROLE.findall(c.source)}
    missing = cited - glued_keys(notebook)
    assert not missing, f"the prose of {source.stem} cites values its run did not glue: {sorted(missing)}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_notebook_takes_a_dataset_and_never_records_the_default_by_name(source):
    """Rows go under the dataset actually loaded: no `run.record` names the default dataset as a literal."""
    import ast

    from clustutils import cli

    default = cli.notebook_parameters(source).get("dataset")
    assert default is not None, f"{source.stem} has no `dataset` parameter"
    default = ast.literal_eval(default)
    for cell in jupytext.read(source).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse("\n".join(l for l in cell.source.splitlines() if not l.startswith(("%", "!"))))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "record":
                args = node.args[1:2] + [k.value for k in node.keywords if k.arg == "dataset"]
                literals = [a.value for a in args if isinstance(a, ast.Constant)]
                assert default not in literals, f"{source.stem}: a row recorded under the literal {default!r}: {ast.unparse(node)[:120]}"
