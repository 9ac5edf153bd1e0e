"""Screenshots of the real models' pages for the README: `make screenshots`.

    python tests/e2e_screenshots.py [--out docs]

Serves running_model/ (or FLASK_SENTIMENT_MODEL / FLASK_SIMILARITY_MODEL) with gunicorn on a
free loopback port, opens the home page and both forms (each with an example analysed) in
headless Chromium, and saves docs/screenshot-{home,sentiment,similarity}.png.
"""
import argparse
import sys
import tempfile
from pathlib import Path

from browser import SENTIMENT_VERDICT, SIMILARITY_VERDICT, analyze, chromium_context, compare
from live_server import ROOT, running

sys.path.insert(0, str(ROOT))  # pages.py, for the examples the pages offer
from pages import SENTIMENT_EXAMPLES, SIMILARITY_EXAMPLES  # noqa: E402

SETTINGS = ("FLASK_SENTIMENT_MODEL", "FLASK_SIMILARITY_MODEL")


def save_screenshots(base_url, out) -> list:
    """Visit the pages, check each shows its result, and save one screenshot per page."""
    with chromium_context() as context:
        page = context.new_page()
        page.goto(base_url)
        shots = [shoot(page, out, "home")]
        verdict = analyze(page, base_url, SENTIMENT_EXAMPLES[0])
        assert SENTIMENT_VERDICT.match(verdict), f"no sentiment result: {verdict}"
        shots.append(shoot(page, out, "sentiment"))
        verdict = compare(page, base_url, *SIMILARITY_EXAMPLES[0])
        assert SIMILARITY_VERDICT.search(verdict), f"no similarity result: {verdict}"
        shots.append(shoot(page, out, "similarity"))
    return shots


def shoot(page, out, name) -> Path:
    """A full-page screenshot of page as out/screenshot-name.png."""
    path = out / f"screenshot-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # No models given: the app's settings, by default running_model/sentiment and /similarity.
    with tempfile.TemporaryDirectory() as scratch, \
            running({}, Path(scratch) / "gunicorn.log") as server:
        for path in save_screenshots(server.url, args.out):
            print(path)


if __name__ == "__main__":
    main()
