"""Headless Chromium (Debian's package, no browser download) driven by Playwright, and the page
actions the browser tests and the screenshot script share."""
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Headless, no sandbox (CI runs as root), and nothing that reaches the network on its own.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 960, "height": 720}
SENTIMENT_VERDICT = re.compile(r"^(긍정|부정) \(\d+%\)$")
SIMILARITY_VERDICT = re.compile(r"의 유사도는 \d+% 입니다$")


@contextmanager
def chromium_context():
    """A browser context of Debian's Chromium with a new, empty profile; closed afterwards."""
    from playwright.sync_api import sync_playwright  # a test dependency only
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            locale="ko-KR", viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()


def analyze(page, base_url, text) -> str:
    """Type text into the sentiment form, submit it, and return the verdict (or the error)."""
    page.goto(f"{base_url}/sentiment")
    page.fill("#text", text)
    page.get_by_role("button", name="분석", exact=True).click()
    return outcome(page)


def compare(page, base_url, sentence1, sentence2) -> str:
    """Type two sentences into the similarity form, submit, and return the verdict (or error)."""
    page.goto(f"{base_url}/similarity")
    page.fill("#sentence1", sentence1)
    page.fill("#sentence2", sentence2)
    page.get_by_role("button", name="비교", exact=True).click()
    return outcome(page)


def outcome(page) -> str:
    """The result sentence or the error message the page now shows."""
    shown = page.locator(".result .verdict, p.error").first
    shown.wait_for()
    return shown.inner_text()
