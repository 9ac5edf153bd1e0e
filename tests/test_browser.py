"""End to end in headless Chromium against gunicorn (2 workers, tiny models) on loopback.

Needs Debian's chromium package (`make test` installs it when run as root) and Playwright's
Python package; skipped, saying why, without them. Screenshots go to $SCREENSHOT_DIR, else to
the test's temporary directory.
"""
import io
import os
import re

import pytest

from browser import (CHROMIUM, SENTIMENT_VERDICT, SIMILARITY_VERDICT, analyze, chromium_context,
                     compare)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium "
                                  "(make test does it when run as root)")]
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev)")


@pytest.fixture(scope="module")
def context():
    """One Chromium profile for the module's pages."""
    with chromium_context() as browser_context:
        yield browser_context


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory):
    """Where screenshots go: $SCREENSHOT_DIR, else a temporary directory."""
    directory = os.environ.get("SCREENSHOT_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        return directory
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(context):
    """A fresh page that fails the test on a script error, a CSP violation or a dialog."""
    page, problems = context.new_page(), []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                      dialog.dismiss()))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text else None)
    yield page
    page.close()
    assert problems == []


def shoot(page, screenshot_dir, name) -> None:
    """Save a full-page screenshot of page as name.png."""
    page.screenshot(path=os.path.join(screenshot_dir, f"{name}.png"), full_page=True)


def test_home_page(page, live_server, screenshot_dir):
    response = page.goto(live_server.url)
    assert response.status == 200 and page.title() == "소개 · 한국어 문장 이해 데모"
    assert "sentiment-tiny" in page.inner_text("table")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    shoot(page, screenshot_dir, "home")


def test_sentiment_form(page, live_server, screenshot_dir):
    verdict = analyze(page, live_server.url, "이 영화 정말 재밌다!")
    assert SENTIMENT_VERDICT.match(verdict), verdict
    assert page.input_value("#text") == "이 영화 정말 재밌다!"  # the text stays in the form
    assert page.locator(".result meter").count() == 2
    shoot(page, screenshot_dir, "sentiment")


def coloured_pixels(png) -> dict:
    """How many pixels of a PNG are clearly red and clearly green."""
    from PIL import Image  # with matplotlib, a test dependency
    pixels = Image.open(io.BytesIO(png)).convert("RGB").get_flattened_data()
    return {"red": sum(r > g + 60 and r > b + 60 for r, g, b in pixels),
            "green": sum(g > r + 40 and g > b + 20 for r, g, b in pixels)}


def test_probability_bars_take_their_labels_colours(page, live_server):
    analyze(page, live_server.url, "이 영화 정말 재밌다!")
    negative = coloured_pixels(page.locator(".result meter.negative").screenshot())
    positive = coloured_pixels(page.locator(".result meter.positive").screenshot())
    assert negative["red"] > 0 and negative["green"] == 0, negative  # 부정: red, as its words
    assert positive["green"] > 0 and positive["red"] == 0, positive  # 긍정: green


def test_similarity_form(page, live_server, screenshot_dir):
    verdict = compare(page, live_server.url, "오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요")
    assert verdict.startswith("「오늘 날씨가 정말 좋네요」와 「오늘은 날씨가 맑고 화창하네요」")
    assert SIMILARITY_VERDICT.search(verdict), verdict
    shoot(page, screenshot_dir, "similarity")


@pytest.mark.parametrize("path, button, field, verdict", [
    ("/sentiment", "시간 낭비했다 다신 안 봄", "#text", SENTIMENT_VERDICT),
    ("/similarity", "회의는 내일 오후 세 시에 시작합니다 / 내일 오후 3시에 회의가 열립니다",
     "#sentence1", SIMILARITY_VERDICT),
])
def test_example_buttons(page, live_server, path, button, field, verdict):
    page.goto(live_server.url + path)
    page.get_by_role("button", name=button).click()
    shown = page.locator(".result .verdict")
    shown.wait_for()
    assert verdict.search(shown.inner_text()) and page.input_value(field) == button.split(" / ")[0]


def test_empty_input_is_refused_in_korean(page, live_server, screenshot_dir):
    page.goto(f"{live_server.url}/sentiment")
    page.get_by_role("button", name="분석", exact=True).click()  # empty: the browser holds it
    assert page.eval_on_selector("#text", "element => element.validity.valueMissing")
    assert page.locator("p.error").count() == 0
    assert analyze(page, live_server.url, "   ") == "문장: 내용이 비어 있습니다. 문장을 입력하세요."
    shoot(page, screenshot_dir, "sentiment-empty")
    error = compare(page, live_server.url, "좋다", "😀")
    assert error.startswith("문장 2: 이모지·링크·특수문자를 빼면 남는 글자가 없습니다")


def test_script_in_input_shows_as_text(page, live_server):
    attack = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    analyze(page, live_server.url, attack)
    assert page.input_value("#text") == attack
    assert page.inner_text(".result q") == attack  # the cleaned text, shown as text
    assert page.locator("main script, main img").count() == 0  # the page fixture: no dialog


def test_form_without_token_is_refused_in_korean(page, live_server):
    page.goto(f"{live_server.url}/sentiment")
    page.eval_on_selector("form.analyze input[name=csrf_token]", "element => element.remove()")
    page.fill("#text", "재밌다")
    page.get_by_role("button", name="분석", exact=True).click()
    page.locator("p.error").wait_for()
    assert "보안 토큰이 없거나 만료되었습니다" in page.inner_text("p.error")
    page.get_by_role("link", name="다시 시도").click()
    assert page.url.endswith("/sentiment") and analyze(page, live_server.url, "재밌다")


def test_api_answers_the_page_origin(page, live_server):
    page.goto(live_server.url)
    answer = page.evaluate("""async () => {
        const response = await fetch('/api/v1/sentiment', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({text: '재밌다'})});
        return {status: response.status, body: await response.json()};
    }""")
    assert answer["status"] == 200 and answer["body"]["label"] in ("negative", "positive")


def test_unknown_page_is_a_korean_404(page, live_server):
    response = page.goto(f"{live_server.url}/no-such-page")
    assert response.status == 404 and "없는 페이지입니다" in page.inner_text("p.error")
    assert re.search("처음으로", page.inner_text("main"))


@pytest.mark.parametrize("task, plots", [("sentiment", 3), ("similarity", 3)])
def test_model_page_shows_its_plots(page, live_server, screenshot_dir, task, plots):
    response = page.goto(f"{live_server.url}/models/{task}")
    assert response.status == 200 and page.title().startswith("모델 정보")
    images = page.locator(".plots img")
    assert images.count() == plots
    for index in range(plots):
        image = images.nth(index)
        image.scroll_into_view_if_needed()  # lazy-loaded: bring each into view
        page.wait_for_function("image => image.complete && image.naturalWidth > 0",
                               arg=image.element_handle())
    assert f"{task}-tiny" in page.inner_text("table.facts")
    assert page.locator("table.metrics tbody tr").count() == 1
    page.locator("details.card summary").click()  # the developers' part: card, every metric
    assert page.locator(".card-text h3").first.inner_text() == f"{task}-tiny"
    shoot(page, screenshot_dir, f"model-{task}")


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_model_page_fits_a_narrow_screen(page, live_server, screenshot_dir, task):
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live_server.url}/models/{task}")
    assert not page.locator(".card-text").first.is_visible()  # the developers' part is folded
    page.locator("details.card summary").click()
    assert page.locator(".card-text h3").first.is_visible()  # the full card, one click away
    width = page.evaluate("[document.documentElement.scrollWidth,"
                          " document.documentElement.clientWidth]")
    assert width[0] <= width[1], width  # wide tables scroll inside their box, not the page
    shoot(page, screenshot_dir, f"model-{task}-narrow")


def test_result_links_to_the_model_page(page, live_server):
    analyze(page, live_server.url, "재밌다")
    page.get_by_role("link", name="모델 정보").click()
    page.wait_for_url(f"{live_server.url}/models/sentiment")
    assert page.locator(".plots img").count() == 3


def test_sentiment_highlights_words(page, live_server, screenshot_dir):
    verdict = analyze(page, live_server.url, "이 영화 정말 재밌다!")
    assert SENTIMENT_VERDICT.match(verdict), verdict
    words = page.locator(".explanation .highlights span")
    assert words.all_inner_texts() == ["이", "영화", "정말", "재밌다!"]
    for index in range(4):
        assert re.fullmatch(r"[+-]\d+\.\d%p", words.nth(index).get_attribute("title"))
    assert page.is_checked("#explain")
    shoot(page, screenshot_dir, "sentiment-highlights")
    page.uncheck("#explain")
    page.get_by_role("button", name="분석", exact=True).click()
    page.locator(".result .verdict").wait_for()
    assert page.locator(".explanation").count() == 0 and not page.is_checked("#explain")


def test_batch_page_shows_progress_then_the_summary(page, live_server, tmp_path, screenshot_dir):
    reviews = tmp_path / "리뷰.csv"
    rows = [f"리뷰 {i}번 정말 재밌다" for i in range(9999)] + [""]
    reviews.write_bytes(("id,document\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)))
                        .encode("cp949"))
    page.goto(f"{live_server.url}/batch")
    page.set_input_files("#file", str(reviews))
    page.get_by_role("button", name="미리 보기").click()
    assert "CP949 (EUC-KR)" in page.inner_text("main") and page.input_value("#column1") == "document"
    page.get_by_role("button", name="분석 시작").click()
    page.locator("#job-progress progress").wait_for()  # 10,000 rows take seconds: running
    # Only batch.js brings the result: it polls the status and reloads the page once done.
    page.get_by_role("link", name="결과 CSV 내려받기").wait_for(timeout=120_000)
    assert "10001행 'document' 열: 내용이 비어 있습니다" in page.inner_text(".problems")
    shoot(page, screenshot_dir, "batch")
    with page.expect_download() as download:
        page.get_by_role("link", name="결과 CSV 내려받기").click()
    assert download.value.suggested_filename == "리뷰-결과.csv"


def test_feedback_form_under_a_result(page, live_server):
    analyze(page, live_server.url, "이 영화 정말 재밌다!")
    page.get_by_text("결과가 틀렸나요?").click()
    page.get_by_role("button", name="보내기").click()  # the opposite answer is preselected
    assert "고맙습니다" in page.inner_text("main")
