"""A small Sphinx extension for the book's HTML.

* Test markers out of the rendered code: the ``# NBVAL_CHECK_OUTPUT`` / ``# NBVAL_IGNORE_OUTPUT`` lines
  tell nbval what to compare; readers do not need them, so code blocks are shown without them.
* Each inline script once per page: sphinx-thebe 0.3 adds its inline configuration script each time
  the environment is read, so a page could declare ``THEBE_JS_URL`` twice and log a JavaScript error.
"""

import re

from docutils import nodes

MARKER = re.compile(r"^[ \t]*# NBVAL_[A-Z_]+[ \t]*\n?", re.M)


def _strip_test_markers(app, doctree):
    for block in list(doctree.findall(nodes.literal_block)):
        text = block.astext()
        if "# NBVAL_" in text:
            block.children = [nodes.Text(MARKER.sub("", text))]


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        body = getattr(script, "attributes", {}).get("body") if hasattr(script, "attributes") else None
        key = ("body", body) if body else ("file", str(script))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    if "script_files" in context:
        context["script_files"][:] = kept


def setup(app):
    app.connect("doctree-read", _strip_test_markers)
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
