"""A small Sphinx extension for the book's HTML: each inline script once per page.

sphinx-thebe 0.3 adds its inline configuration script each time the environment is read, so a page
could declare ``THEBE_JS_URL`` twice and log a JavaScript error; this drops repeated inline scripts.
"""


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
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
