"""Render the built book in headless Chromium at 1400 px and check that nothing is wider than its column.

``make check-book`` runs it after ``make book``: it opens the Results page and every chapter, measures
the article column and every table and figure image in it, and listens to the browser console; it fails
(exit 1) naming every JavaScript or console error, and every table or image that is wider
than the column or an image shrunk to less than 1/1.3 of its drawn width (its labels become unreadable), and saves screenshots of the Results page and chapter 4 under ``_build/check-book/``.
Needs Chromium (Debian package ``chromium``) and the ``playwright`` package (``.[check]``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
OUT = ROOT / "_build" / "check-book"
PAGES = ["book/results.html", "book/running.html", "book/performance.html", "book/datasets.html", *sorted(str(p.relative_to(HTML)) for p in (HTML / "notebooks").glob("0[1-6]*_*.html"))]
SCREENSHOTS = {"book/results.html": "results.png", "notebooks/04_clustering_module.html": "chapter4.png"}
MEASURE = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const column = article.getBoundingClientRect().width;
  const wide = [];
  for (const el of article.querySelectorAll('table, img')) {
    const width = el.tagName === 'TABLE' ? el.scrollWidth : el.getBoundingClientRect().width;
    const label = (el.closest('figure')?.querySelector('figcaption')?.innerText || el.innerText || el.src || '')
      .slice(0, 70).replace(/\\s+/g, ' ');
    if (width > column + 1) {
      wide.push(`${el.tagName.toLowerCase()} ${Math.round(width)} px: ${label}`);
    } else if (el.tagName === 'IMG' && el.naturalWidth > 1.3 * width) {  // shrunk: its text is too small to read
      wide.push(`img drawn ${el.naturalWidth} px wide, shown at ${Math.round(width)} px: ${label}`);
    }
  }
  return {column: Math.round(column), wide: wide};
}"""


def main() -> int:
    from playwright.sync_api import sync_playwright

    if not (HTML / "book" / "results.html").is_file():
        print(f"check-book: no built book in {HTML}: run `make book` first", file=sys.stderr)
        return 2
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("check-book: Chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    failures = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(f"JavaScript error: {error}"))
        page.on("console", lambda message: errors.append(f"console error: {message.text}") if message.type == "error" else None)
        for name in PAGES:
            errors.clear()
            page.goto((HTML / name).as_uri())
            page.wait_for_timeout(500)
            found = page.evaluate(MEASURE)
            problems = found["wide"] + errors
            status = "ok" if not problems else f"{len(problems)} problem(s)"
            print(f"{name}: column {found['column']} px, {status}")
            for item in problems:
                print(f"  {item}")
            failures += len(problems)
            if name in SCREENSHOTS:
                page.screenshot(path=str(OUT / SCREENSHOTS[name]), full_page=False)
        browser.close()
    print(f"screenshots in {OUT}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
