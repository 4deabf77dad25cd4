"""Command line: ``clustutils run``, ``results``, ``student`` and ``check-notebooks``.

Every command works on a book checkout: the folder holding ``_toc.yml`` found upwards from the working
directory, or ``--book DIR``.  Outside one, a command stops with a message naming where it looked and a
non-zero exit status.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import platform
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from . import env, results

#: Profiles whose executed notebooks the book renders; other runs write under ``_build/<profile>``.
BOOK_PROFILES = ("cpu", "gpu", "full")
SOLUTION_BLOCK = re.compile(r"^(`{3,}|:{3,})\{solution(?:-start)?\}.*?^\1[ \t]*$\n?", re.M | re.S)


INSTALL_LINE = re.compile(r'"clustutils @ git\+(?P<url>[^"\\]+)\\?"')  # every install cell; escaped in .ipynb JSON


def repository_url(root: Path) -> str:
    """The book's repository: ``repository.url`` in ``_config.yml``, the one setting that the launch buttons,
    the notebooks' install cells and the student copies' links all use."""
    import yaml

    config = root / "_config.yml"
    url = ((yaml.safe_load(config.read_text()) or {}).get("repository") or {}).get("url") if config.is_file() else None
    if not url:
        raise SystemExit(f"clustutils: {config} sets no repository.url")
    return url.rstrip("/")


def cmd_repository(args) -> int:
    """Print the repository URL; with ``--sync``, write it into every notebook's install cell."""
    root = book_root(args)
    url = repository_url(root)
    stale = []
    for src in results.notebook_sources(root):
        for path in (src, src.with_suffix(".ipynb")):
            text = path.read_text() if path.is_file() else ""
            found = {m.group("url") for m in INSTALL_LINE.finditer(text)}
            if found != {url}:
                stale.append(path)
                if args.sync and found:
                    path.write_text(INSTALL_LINE.sub(lambda m: m.group(0).replace(m.group("url"), url), text))
    print(url)
    if stale and not args.sync:
        print(f"clustutils: {len(stale)} notebook file(s) install from another URL or have no install cell: "
              f"{', '.join(p.name for p in stale)}; run `clustutils repository --sync`", file=sys.stderr)
        return 1
    if stale:
        print(f"wrote {url} into {len(stale)} notebook file(s)")
    return 0


def book_root(args) -> Path:
    """The book checkout: ``--book DIR``, else the first folder upwards from the cwd holding it (:func:`results.find_book`)."""
    given = getattr(args, "book", None)
    root = results.find_book(given, upwards=not given)
    if root is None:
        where = f"{given} (--book)" if given else f"{Path.cwd()} or any folder above it"
        raise SystemExit(f"clustutils: no book found: looked for _toc.yml and notebooks/ in {where}. "
                         "Run inside the clustbook checkout or pass --book DIR.")
    return root


def notebook_parameters(source: Path) -> dict:
    """The parameters a notebook takes: names assigned in its cell tagged ``parameters``, with their default source."""
    import jupytext

    for cell in jupytext.read(source).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return {target.id: ast.get_source_segment(cell.source, node.value)
                    for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
    return {}


def select_notebooks(which: str, root: Path) -> list[Path]:
    """Resolve ``all``, a chapter number (``02``/``2``: every notebook of that chapter) or a name (``02_x`` / ``x``)."""
    sources = results.notebook_sources(root)
    if which == "all":
        return sources
    chosen = [src for src in sources if which in (src.stem, *src.stem.partition("_")[::2], src.name)
              or (which.isdigit() and int(which) == results.chapter_number(src.stem))]
    if chosen:
        return chosen
    valid = ", ".join(s.stem for s in sources)
    raise SystemExit(f"clustutils: no notebook {which!r}; choose 'all', a chapter number or one of: {valid}")


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
    os.environ[env.PROFILE] = profile  # the parameters cell reads it; the kernel inherits it
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / source.with_suffix(".ipynb").name
        jupytext.write(notebook, staged)
        begin = time.perf_counter()
        pm.execute_notebook(str(staged), str(output), parameters=parameters or None, kernel_name="python3",
                            cwd=str(source.parent), progress_bar=False, log_output=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no "running over TCP" warning per notebook
    return time.perf_counter() - begin


def _check_parameters(sources: list[Path], params: dict) -> None:
    for src in sources:
        known = notebook_parameters(src)
        unknown = sorted(set(params) - set(known))
        if unknown:
            listing = ", ".join(f"{k} (default {v})" for k, v in known.items())
            raise SystemExit(f"clustutils: {src.stem} has no parameter {', '.join(map(repr, unknown))}; "
                             f"its parameters: {listing}")
    if "dataset" in params:  # refused here, not minutes later inside the notebook
        from .data import DATASETS

        if not isinstance(params["dataset"], str) or params["dataset"] not in DATASETS:
            raise SystemExit(f"clustutils: unknown dataset {params['dataset']!r}; the names clustutils.data.load "
                             f"knows: {', '.join(DATASETS)} (see the Datasets page)")


def notebook_budgets(source: Path) -> dict:
    """The paper-module budgets a notebook runs with, ``{"ch01_onestage.LOC_BUDGET": Budget}``: read from its
    ``run.settings(alias.NAME)`` calls and ``from clustutils.papers import module as alias`` lines.
    A budget the notebook defines itself (chapters 0 and 6) is not listed."""
    from .settings import Budget

    text = source.read_text()
    aliases = {alias or module: module for module, alias in
               re.findall(r"^from clustutils\.papers import (\w+)(?: as (\w+))?", text, flags=re.M)}
    found = {}
    for alias, name in re.findall(r"run\.settings\((\w+)\.(\w+)\)", text):
        if alias in aliases:
            budget = getattr(importlib.import_module(f"clustutils.papers.{aliases[alias]}"), name)
            if isinstance(budget, Budget):
                found[f"{aliases[alias]}.{name}"] = budget
    return found


def _dry_run(sources: list[Path], profile: str) -> int:
    """Print what each notebook would run in ``profile``: its budget's deviations from the paper."""
    for src in sources:
        budgets = notebook_budgets(src)
        print(f"## {src.stem} ({profile})")
        if not budgets:
            print("settings defined in the notebook itself (no paper budget)\n")
        for name, budget in budgets.items():
            budget.settings(profile)  # every stated change is a field of the settings: refused otherwise
            print(f"{name}:\n{budget.deviations_markdown(profile)}\n")
    return 0


def _report_failure(error, notebook: str, traceback: bool) -> None:
    """The error's message first; the notebook's traceback only with ``--traceback``."""
    name, value = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    print(f"clustutils: {notebook} stopped with {name}:\n{value}", file=sys.stderr)
    if traceback:
        text = "\n".join(getattr(error, "traceback", []) or [str(error)])
        print(re.sub(r"\x1b\[[0-9;]*m", "", text), file=sys.stderr)  # without the kernel's colour codes
    else:
        print("(rerun with --traceback for the full traceback)", file=sys.stderr)


def default_output(root: Path, profile: str, params: dict) -> Path | None:
    """Where a run writes without ``--output``: the committed notebooks (``None``) only for a book profile
    with the notebook's own parameters; smoke runs and runs with ``-p`` (another dataset, seed, ...) go to
    ``_build/<profile>`` (``_build/<profile>-params``), so they never replace what the book renders."""
    if profile in BOOK_PROFILES and not params:
        return None
    output = root / "_build" / (profile if not params else f"{profile}-params")
    why = f"{profile} runs" if profile not in BOOK_PROFILES else "runs with -p parameters"
    print(f"{why} never replace the book's executed notebooks: writing to {output} (results still go to results/{profile})")
    return output


def cmd_run(args) -> int:
    root = book_root(args)
    params = {name: _parse_value(value) for name, value in args.param}
    if "profile" in params:
        raise SystemExit("clustutils: set the profile with --profile, not -p profile")
    sources = select_notebooks(args.notebook, root)
    if args.help_params:
        for src in sources:
            print(f"{src.stem}: " + ", ".join(f"{k} = {v}" for k, v in notebook_parameters(src).items() if k != "profile"))
        return 0
    if not args.profile:
        raise SystemExit("clustutils: --profile is required (smoke, cpu, gpu or full)")
    _check_parameters(sources, params)
    if args.dry_run:
        return _dry_run(sources, args.profile)
    if args.rehearse is not None:
        return _rehearse(root, sources, args, params)
    output = args.output if args.output is not None else default_output(root, args.profile, params)
    return _run(sources, output, args, params)


def _rehearse(root: Path, sources: list[Path], args, params: dict) -> int:
    """Run ``sources`` with every training loop cut to ``args.rehearse`` steps, recording nothing the book keeps."""
    import shutil

    if args.rehearse < 1:
        raise SystemExit(f"clustutils: --rehearse takes a positive number of steps, got {args.rehearse}")
    output = Path(args.output) if args.output is not None else root / "_build" / f"{args.profile}-rehearsal"
    scratch = Path(tempfile.mkdtemp(prefix="clustutils-rehearsal-"))
    print(f"rehearsal of profile {args.profile}: every training loop stops after {args.rehearse} steps; notebooks to "
          f"{output}, results and weights to {scratch} (removed afterwards)")
    print("the notebooks' assert statements are off (the kernel runs with PYTHONOPTIMIZE=1): what training must "
          "achieve cannot hold after a few steps; the smoke and cpu runs check it")
    saved = {name: os.environ.get(name) for name in (env.MAX_STEPS, env.ROOT, env.CACHE, env.COMMIT, "PYTHONOPTIMIZE")}
    os.environ.update({env.MAX_STEPS: str(args.rehearse), env.COMMIT: results.git_commit(root), "PYTHONOPTIMIZE": "1",
                       env.ROOT: str(scratch), env.CACHE: str(scratch / "weights")})
    try:
        return _run(sources, output, args, params)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run(sources: list[Path], output, args, params: dict) -> int:
    """Execute ``sources`` one after another into ``output`` (``None``: beside each source)."""
    timings = {}
    for i, src in enumerate(sources, 1):
        target = Path(output) / f"{src.stem}.ipynb" if output else src.with_suffix(".ipynb")
        print(f"[{i}/{len(sources)}] {src.stem} ({args.profile}) -> {target}", flush=True)
        try:
            seconds = execute(src, target, args.profile, params)
        except Exception as error:  # papermill's execution error carries the notebook's exception
            if type(error).__name__ != "PapermillExecutionError":
                raise
            _report_failure(error, src.stem, args.traceback)
            return 1
        timings[src.stem] = round(seconds, 1)
        print(f"[{i}/{len(sources)}] {src.stem} done in {seconds:.0f} s", flush=True)
    if args.timings:
        Path(args.timings).parent.mkdir(parents=True, exist_ok=True)
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        rehearsal = {"rehearsal_steps": args.rehearse} if args.rehearse else {}
        Path(args.timings).write_text(json.dumps({"profile": args.profile, **rehearsal, "machine": machine,
                                                  "seconds": timings}, indent=1) + "\n")
    return 0


WARNING_LINE = re.compile(r"^.*\b\w*Warning: .*$", re.M)


def shown_warnings(notebook) -> list[tuple[int, str]]:
    """``(cell index, line)`` of each Python warning a notebook's outputs show, except PyTorch's note that an
    operation has no deterministic CUDA kernel (shown on purpose; the provenance names the operation too)."""
    from .train import NONDETERMINISTIC_MESSAGE

    return [(i, line.strip()) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("name") == "stderr"
            for line in WARNING_LINE.findall(output.get("text", "")) if NONDETERMINISTIC_MESSAGE not in line]


def cmd_check_notebooks(args) -> int:
    """Refuse executed notebooks the book must not render: smoke outputs, no provenance line, a Python warning."""
    import nbformat

    root, problems = book_root(args), []
    for src in results.notebook_sources(root):
        notebook = nbformat.read(src.with_suffix(".ipynb"), as_version=4)
        text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
        for cell, line in shown_warnings(notebook)[:3]:
            problems.append(f"{src.stem}.ipynb shows a warning in cell {cell}: {line[:160]} (mend its cause and rerun)")
        found = re.search(rf"notebook {re.escape(src.stem)} \| profile (\w+)", text)
        if not found:
            problems.append(f"{src.stem}.ipynb has no provenance line (was it executed?)")
        elif "REHEARSAL" in text:
            problems.append(f"{src.stem}.ipynb holds a rehearsal's outputs (training cut short, not results): restore it "
                            "with git or rerun it without --rehearse")
        elif found.group(1) not in BOOK_PROFILES:
            problems.append(f"{src.stem}.ipynb holds outputs of profile {found.group(1)!r}; the book renders only "
                            f"{', '.join(BOOK_PROFILES)}: restore it with git or rerun `clustutils run {src.stem} --profile cpu`")
    for problem in problems:
        print(f"clustutils: {problem}", file=sys.stderr)
    if not problems:
        print(f"{len(results.notebook_sources(root))} executed notebooks, all from {', '.join(BOOK_PROFILES)} runs")
    return 1 if problems else 0


def cmd_results(args) -> int:
    root = book_root(args)
    if args.figure:
        print(f"wrote {results.overview_figure(args.figure, root)}")
    text = results.results_page(root) if args.markdown else results.format_table(results.table(root))
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


EXERCISE_BLOCK = re.compile(r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n(?P<body>.*?)^\1[ \t]*$", re.M | re.S)
ROLE = re.compile(r"\{(?P<role>[a-z]+)(?::(?P<kind>[a-z]+))?\}`(?P<content>[^`]*)`")
RELATIVE_PAGE = re.compile(r"\]\(\.\./(?P<path>[^)#]+?)\.md(?P<anchor>#[^)]*)?\)")


def bibliography(path: Path) -> dict:
    """``{key: (authors, year)}`` from a BibTeX file: 'Xie et al.', 'Kilinc and Uysal', 'Anonymous'."""
    entries = {}
    for match in re.finditer(r"@\w+\{(?P<key>[^,\s]+),(?P<body>.*?)\n\}", path.read_text(), re.S):
        fields = dict(re.findall(r"(\w+)\s*=\s*\{(.*?)\},?\s*$", match["body"], re.M))
        names = [n.strip().strip("{}").split(",")[0].strip() for n in fields.get("author", "Anonymous").split(" and ")]
        authors = names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al."
        entries[match["key"]] = (authors, fields.get("year", "n.d."))
    return entries


def glued_values(notebook) -> dict:
    """The values an executed notebook glued (myst-nb), as Python objects."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            glue = output.get("metadata", {}).get("scrapbook")
            if glue:
                text = output.get("data", {}).get(glue.get("mime_prefix", "") + "text/plain", "")
                try:
                    values[glue["name"]] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    values[glue["name"]] = text
    return values


def plain_markdown(text: str, glued: dict, citations: dict, book_url: str) -> str:
    """Markdown that plain Jupyter and Colab render: MyST exercises, roles and book links resolved.

    Exercises become headed paragraphs, citations author-year text, glued numbers their values,
    code roles (``{func}`` ...) code, and links to the book's pages absolute links under ``book_url``.
    """
    text = EXERCISE_BLOCK.sub(lambda m: "**Exercise.** " + re.sub(r"^:label:.*\n", "", m["body"], flags=re.M).strip(), text)

    def role(m):
        name, kind, content = m["role"], m["kind"], m["content"]
        if name == "cite":
            keys = [k.strip() for k in content.split(",")]
            refs = [citations.get(k, (k, "")) for k in keys]
            if kind == "t":
                return "; ".join(f"{a} ({y})" for a, y in refs)
            return "(" + "; ".join(f"{a} {y}" for a, y in refs) + ")"
        if name == "glue":
            key, _, spec = content.rpartition(":") if ":" in content else (content, "", "")
            if key not in glued:
                return f"[{key}]"
            value = glued[key]
            try:
                return format(value, spec) if spec else str(value)
            except (TypeError, ValueError):
                return str(value)
        return f"`{content.split('.')[-1] if name in ('func', 'class', 'meth') else content}`"

    text = ROLE.sub(role, text)
    return RELATIVE_PAGE.sub(lambda m: f"]({book_url}/{m['path']}.md{m['anchor'] or ''})", text)


def strip_solutions(notebook):
    """Remove cells tagged ``solution`` and ``{solution}`` blocks from Markdown cells (in place)."""
    notebook.cells = [c for c in notebook.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = SOLUTION_BLOCK.sub("", cell.source)
    return notebook


def cmd_student(args) -> int:
    import nbformat

    import yaml

    root = book_root(args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    bib, config = root / "book" / "references.bib", root / "_config.yml"
    citations = bibliography(bib) if bib.is_file() else {}
    repository = (yaml.safe_load(config.read_text()) or {}).get("repository", {}) if config.is_file() else {}
    book_url = f"{repository_url(root)}/blob/{repository.get('branch', 'main')}"
    for src in results.notebook_sources(root):
        notebook = strip_solutions(nbformat.read(src.with_suffix(".ipynb"), as_version=4))
        glued = glued_values(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = plain_markdown(cell.source, glued, citations, book_url)
        if args.clear_outputs:
            for cell in notebook.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
        notebook.metadata.pop("jupytext", None)  # the copy is not paired
        nbformat.write(notebook, out / f"{src.stem}.ipynb")
        print(f"wrote {out / src.stem}.ipynb")
    return 0


def cmd_weights(args) -> int:
    from . import weights

    try:
        if args.action == "export":
            manifest = weights.export_weights(args.archive, args.profile)
            print(f"wrote {args.archive}: {len(manifest['files'])} cached models, profile {args.profile}, "
                  f"commit {manifest['commit']}")
        else:
            copied = weights.import_weights(args.archive)
            print(f"imported {len(copied)} cached models into {weights.cache_dir()}" + ("" if copied else " (all already there)"))
    except (weights.WeightsArchiveError, FileNotFoundError, tarfile.TarError) as error:
        raise SystemExit(f"clustutils: {error}") from None
    return 0


def cmd_bundle(args) -> int:
    from . import gpukit
    from .env import data_root

    root = book_root(args)
    chosen = [s for c in args.chapters for s in select_notebooks(c, root)]
    chapters = sorted({f"{results.chapter_number(s.stem):02d}" for s in chosen})
    try:
        manifest = gpukit.bundle(root, chapters, data_root(), wheels=not args.no_wheels)
    except gpukit.KitError as error:
        raise SystemExit(f"clustutils: {error}") from None
    travelling = gpukit.travelling_bytes(root)
    print(f"bundled chapters {', '.join(chapters)} at commit {manifest['commit']} in {root / gpukit.BUNDLE} "
          f"({manifest['bytes'] / 2**20:.1f} MiB; with the checkout {travelling / 2**20:.1f} MiB of the 64 MiB a run carries)")
    if travelling > gpukit.CARRY_LIMIT:
        raise SystemExit(f"clustutils: {travelling / 2**20:.1f} MiB would travel, more than the "
                         f"{gpukit.CARRY_LIMIT / 2**20:.0f} MiB a run carries: bundle fewer chapters per run "
                         f"(e.g. `clustutils bundle 03`, then the rest in a second bundle)")
    print(f"on the GPU machine: bash {gpukit.BUNDLE}/run.sh OUT   (carry {gpukit.BUNDLE}); then here: clustutils unpack OUT/{gpukit.ARCHIVE}")
    return 0


def cmd_unpack(args) -> int:
    from . import gpukit

    root = book_root(args)
    try:
        report = gpukit.unpack(Path(args.archive), root, allow_cpu=args.allow_cpu)
    except (gpukit.KitError, FileNotFoundError, tarfile.TarError) as error:
        raise SystemExit(f"clustutils: {error}") from None
    print(f"unpacked {args.archive}: profile {report['profile']} on {report['device']['name']} at commit {report['commit']}; "
          f"seconds per chapter {report['seconds']}; failed or stopped (left out): {report['failed'] or 'none'}"
          + (f"; not run (deadline): {report['not_run']}" if report.get("not_run") else ""))
    return 1 if report["failed"] or report.get("not_run") else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clustutils", description="Run the clustbook notebooks and show their results.")
    parser.add_argument("--book", help="the book's folder (default: found upwards from the working directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill")
    run.add_argument("notebook", help="'all', a chapter number such as 04 (every notebook of the chapter: 04 and 04b), "
                     "or a notebook name such as 04b or 04_clustering_module")
    run.add_argument("--profile", choices=results.PROFILES)
    run.add_argument("--output", help="folder for the executed notebooks (default: the paired .ipynb beside the "
                                      "source for cpu, gpu and full; _build/<profile> otherwise)")
    run.add_argument("--help-params", action="store_true", help="list each notebook's parameters and exit")
    run.add_argument("--traceback", action="store_true", help="on an error, print the notebook's full traceback")
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook parameter (value parsed as JSON or True/False/None)")
    run.add_argument("--timings", help="write the wall time of each notebook to this JSON file")
    run.add_argument("--dry-run", action="store_true", help="execute nothing: check the parameters and print each "
                     "notebook's settings in the profile (its deviations from the paper)")
    run.add_argument("--rehearse", nargs="?", type=int, const=2, metavar="STEPS",
                     help="run the profile's settings with every training loop cut to STEPS steps (default 2), e.g. "
                     "the gpu profile on this CPU before a GPU window: notebooks go to _build/<profile>-rehearsal, "
                     "results and trained weights to a scratch folder removed afterwards; the notebooks' asserts are "
                     "off (PYTHONOPTIMIZE=1), since a few steps train nothing")
    run.set_defaults(func=cmd_run)
    res = sub.add_parser("results", help="print the paper-vs-ours table")
    res.add_argument("--markdown", action="store_true", help="the Results page's Markdown (overview, then each chapter)")
    res.add_argument("--figure", help="also draw the overview figure (headline rows, ours beside the paper) to this PNG")
    res.add_argument("--output", help="write to this file instead of standard output")
    res.set_defaults(func=cmd_results)
    student = sub.add_parser("student", help="write copies of the notebooks with solutions removed")
    student.add_argument("--output", required=True, help="folder for the student copies")
    student.add_argument("--clear-outputs", action="store_true", help="also remove all code outputs")
    student.set_defaults(func=cmd_student)
    weights = sub.add_parser("weights", help="export or import the cache of trained weights (for a class)")
    weights.add_argument("action", choices=("export", "import"))
    weights.add_argument("archive", help="the .tar.gz to write or read")
    weights.add_argument("--profile", default="cpu", choices=results.PROFILES, help="profile the weights were trained in (export)")
    weights.set_defaults(func=cmd_weights)
    kit = sub.add_parser("bundle", help="prepare .gpu/ (data, wheels, run.sh) to run chapters on a GPU machine")
    kit.add_argument("chapters", nargs="+", help="'all' or chapter numbers")
    kit.add_argument("--no-wheels", action="store_true", help="bundle no wheels (the machine has papermill and Jupyter)")
    kit.set_defaults(func=cmd_bundle)
    unpack = sub.add_parser("unpack", help="check a GPU run's archive and put its notebooks and results in place")
    unpack.add_argument("archive")
    unpack.add_argument("--allow-cpu", action="store_true", help="accept a run made without CUDA (the kit's own test)")
    unpack.set_defaults(func=cmd_unpack)
    repo = sub.add_parser("repository", help="print the book's repository URL (_config.yml); --sync writes it into the notebooks")
    repo.add_argument("--sync", action="store_true", help="rewrite every notebook's install cell to install from it")
    repo.set_defaults(func=cmd_repository)
    check = sub.add_parser("check-notebooks", help="fail if an executed notebook holds smoke outputs or no provenance")
    check.set_defaults(func=cmd_check_notebooks)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OSError as error:  # a file or folder named on the command line that cannot be read or written
        raise SystemExit(f"clustutils: {error}") from None


if __name__ == "__main__":
    raise SystemExit(main())
