"""Command line: ``clustutils run``, ``clustutils results``, ``clustutils student``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

from . import results

PROFILE_ENV = "CLUSTUTILS_PROFILE"
SOLUTION_BLOCK = re.compile(r"^(`{3,}|:{3,})\{solution(?:-start)?\}.*?^\1[ \t]*$\n?", re.M | re.S)


def notebook_sources(root: Path) -> list[Path]:
    """The paired text sources ``notebooks/NN_name.py``, in order."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))


def select_notebooks(which: str, root: Path) -> list[Path]:
    """Resolve ``all``, a number (``02``/``2``) or a name (``02_x`` / ``x``) to text sources."""
    sources = notebook_sources(root)
    if which == "all":
        return sources
    for src in sources:
        number, _, name = src.stem.partition("_")
        if which in (src.stem, name, src.name) or (which.isdigit() and int(which) == int(number)):
            return [src]
    valid = ", ".join(s.stem for s in sources)
    raise SystemExit(f"clustutils: no notebook {which!r}; choose 'all' or one of: {valid}")


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"True": True, "False": False, "None": None}.get(text, text)


def execute(source: Path, output: Path, profile: str, parameters: dict) -> float:
    """Execute the text ``source`` with papermill in ``profile``, writing ``output``; return seconds."""
    import jupytext
    import papermill as pm

    notebook = jupytext.read(source)
    notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    os.environ[PROFILE_ENV] = profile  # the parameters cell reads it; the kernel inherits it
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / source.with_suffix(".ipynb").name
        jupytext.write(notebook, staged)
        begin = time.perf_counter()
        pm.execute_notebook(str(staged), str(output), parameters=parameters or None, kernel_name="python3",
                            cwd=str(source.parent), progress_bar=False, log_output=False)
    return time.perf_counter() - begin


def cmd_run(args) -> int:
    root = results.project_root()
    params = {name: _parse_value(value) for name, value in args.param}
    if "profile" in params:
        raise SystemExit("clustutils: set the profile with --profile, not -p profile")
    sources = select_notebooks(args.notebook, root)
    timings = {}
    for i, src in enumerate(sources, 1):
        target = Path(args.output) / f"{src.stem}.ipynb" if args.output else src.with_suffix(".ipynb")
        print(f"[{i}/{len(sources)}] {src.stem} ({args.profile}) -> {target}", flush=True)
        seconds = execute(src, target, args.profile, params)
        timings[src.stem] = round(seconds, 1)
        print(f"[{i}/{len(sources)}] {src.stem} done in {seconds:.0f} s", flush=True)
    if args.timings:
        Path(args.timings).parent.mkdir(parents=True, exist_ok=True)
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        Path(args.timings).write_text(json.dumps({"profile": args.profile, "machine": machine, "seconds": timings},
                                                 indent=1) + "\n")
    return 0


def cmd_results(args) -> int:
    text = results.format_table(results.table(), markdown=args.markdown)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def strip_solutions(notebook):
    """Remove cells tagged ``solution`` and ``{solution}`` blocks from Markdown cells (in place)."""
    notebook.cells = [c for c in notebook.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = SOLUTION_BLOCK.sub("", cell.source)
    return notebook


def cmd_student(args) -> int:
    import nbformat

    root = results.project_root()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for src in notebook_sources(root):
        notebook = strip_solutions(nbformat.read(src.with_suffix(".ipynb"), as_version=4))
        if args.clear_outputs:
            for cell in notebook.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
        notebook.metadata.pop("jupytext", None)  # the copy is not paired
        nbformat.write(notebook, out / f"{src.stem}.ipynb")
        print(f"wrote {out / src.stem}.ipynb")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clustutils", description="Run the clustbook notebooks and show their results.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill")
    run.add_argument("notebook", help="'all', a number such as 02, or a notebook name")
    run.add_argument("--profile", required=True, choices=results.PROFILES)
    run.add_argument("--output", help="folder for the executed notebooks (default: the paired .ipynb beside the source)")
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook parameter (value parsed as JSON or True/False/None)")
    run.add_argument("--timings", help="write the wall time of each notebook to this JSON file")
    run.set_defaults(func=cmd_run)
    res = sub.add_parser("results", help="print the paper-vs-ours table")
    res.add_argument("--markdown", action="store_true", help="Markdown table (as in the book)")
    res.add_argument("--output", help="write to this file instead of standard output")
    res.set_defaults(func=cmd_results)
    student = sub.add_parser("student", help="write copies of the notebooks with solutions removed")
    student.add_argument("--output", required=True, help="folder for the student copies")
    student.add_argument("--clear-outputs", action="store_true", help="also remove all code outputs")
    student.set_defaults(func=cmd_student)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
