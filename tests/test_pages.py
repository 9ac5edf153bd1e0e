"""The HTML pages: forms, results, kept input, Korean error messages, example buttons, CSRF."""
import json
import re
import shutil
from html import escape
from urllib.parse import quote

import markupsafe
import pytest

from batching import Overloaded
from conftest import similarity_copy
from main import create_app
from models import SCORE_GRADES_KO
from pages import CSRF_MESSAGE, SENTIMENT_EXAMPLES, SIMILARITY_EXAMPLES, gwa, pushed, strength

TOKEN = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def page_text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def csrf_token(client, url) -> str:
    """The form token the page at url hands this client (its session cookie holds the match)."""
    return TOKEN.search(page_text(client.get(url))).group(1)


def post_form(client, url, form):
    """Fetch the page's token, as a browser would, then post form with it."""
    return client.post(url, data={**form, "csrf_token": csrf_token(client, url)})


def assert_korean_page(response, status):
    """An HTML page with the status, a Korean alert, and no trace of a stack."""
    text = page_text(response)
    assert response.status_code == status and response.mimetype == "text/html"
    assert 'role="alert"' in text and re.search("[가-힣]", text)
    assert "Traceback" not in text and "werkzeug" not in text.lower()


def test_index_lists_tasks_and_models(client):
    text = page_text(client.get("/"))
    assert 'href="/sentiment"' in text and 'href="/similarity"' in text
    assert "sentiment-tiny" in text and "similarity-tiny" in text and "cpu" in text


def test_index_explains_the_api_with_links(client):
    text = page_text(client.get("/"))
    for endpoint in ("sentiment", "similarity"):
        assert f"<code>POST /api/v1/{endpoint}</code>" in text
    assert 'href="/api/v1/models/sentiment"' in text and 'href="/api/v1/models/similarity"' in text
    assert "curl -s http://localhost/api/v1/sentiment" in text  # an example for this server
    assert "(사용법은 README.md)" not in text and "<th>최대 토큰</th>" in text


def test_sentiment_examples_are_buttons(client):
    text = page_text(client.get("/sentiment"))
    for example in SENTIMENT_EXAMPLES:
        assert f'<input type="hidden" name="text" value="{escape(example)}">' in text


def test_similarity_examples_are_buttons(client):
    text = page_text(client.get("/similarity"))
    for first, second in SIMILARITY_EXAMPLES:
        assert f'<input type="hidden" name="sentence1" value="{escape(first)}">' in text
        assert f'<input type="hidden" name="sentence2" value="{escape(second)}">' in text


def test_sentiment_result(client):
    response = post_form(client, "/sentiment", {"text": "이 영화 정말 재밌다! 😀"})
    text = page_text(response)
    assert response.status_code == 200
    assert re.search(r"(긍정|부정) \(\d+%\)", text)
    assert "이 영화 정말 재밌다! 😀</textarea>" in text  # the input stays in the form
    assert "<q>이 영화 정말 재밌다!</q>" in text  # the cleaned text
    assert "sentiment-tiny" in text and "<meter" in text


def test_sentiment_bars_take_their_label_colour(client):
    text = page_text(post_form(client, "/sentiment", {"text": "재밌다"}))
    classes = re.findall(r'<meter class="(\w+)" min="0" max="1"', text)
    assert sorted(classes) == ["negative", "positive"]


def test_similarity_result(client):
    form = {"sentence1": "오늘 날씨가 정말 좋네요", "sentence2": "내일 오후 3시에 회의가 열립니다"}
    response = post_form(client, "/similarity", form)
    text = page_text(response)
    assert response.status_code == 200
    assert re.search(r"「오늘 날씨가 정말 좋네요」와 「내일 오후 3시에 회의가 열립니다」의 유사도는 \d+% 입니다", text)
    verdict = re.search(r"점수 \d\.\d\d / 5 · (유사|비유사)", text)
    assert 'value="오늘 날씨가 정말 좋네요"' in text and "similarity-tiny" in text
    grade = re.search(r"채점 기준으로 (\d)점대?: (.+?)</p>", text)  # what the score means
    assert grade[2] == SCORE_GRADES_KO[int(grade[1])]
    assert (int(grade[1]) >= 3) == (verdict[1] == "유사")


def test_similarity_says_when_numbers_were_read_in_digits(tiny_config, tiny_models, tmp_path):
    aligned = similarity_copy(tiny_models["similarity"], tmp_path / "aligned", True, align_numbers=True)
    client = create_app({**tiny_config, "SIMILARITY_MODEL": str(aligned)}).test_client()
    meeting, weather = SIMILARITY_EXAMPLES[1], SIMILARITY_EXAMPLES[0]
    text = page_text(post_form(client, "/similarity", {"sentence1": meeting[0], "sentence2": meeting[1]}))
    assert f"「{meeting[0]}」" in text  # the verdict quotes what was typed…
    assert "<q>회의는 내일 오후 3시에 시작합니다</q>" in text  # …and shows what the model read
    assert "양쪽 모두 숫자로 맞춰 비교했습니다" in text
    text = page_text(post_form(client, "/similarity", {"sentence1": weather[0], "sentence2": weather[1]}))
    assert "숫자로 맞춰" not in text
    assert "숫자 표기" in page_text(client.get("/models/similarity"))  # the model page says it is on


def test_truncation_is_noted(tiny_config):
    client = create_app({**tiny_config, "MAX_LENGTH": 8}).test_client()
    long_text = page_text(post_form(client, "/sentiment", {"text": "이 영화 정말 재밌다! " * 10}))
    short_text = page_text(post_form(client, "/sentiment", {"text": "재밌다"}))
    assert "앞부분(8 토큰)만 분석했습니다" in long_text and "토큰)만" not in short_text


def test_page_when_model_cannot_load(tiny_config, tmp_path):
    config = {**tiny_config, "LOAD_MODELS_AT_START": False, "SENTIMENT_MODEL": str(tmp_path)}
    response = post_form(create_app(config).test_client(), "/sentiment", {"text": "좋다"})
    assert response.status_code == 503 and "모델을 불러오지 못했습니다" in page_text(response)


BAD_FORMS = [
    ("/sentiment", {"text": ""}, "비어 있습니다"),
    ("/sentiment", {}, "비어 있습니다"),
    ("/sentiment", {"text": "   "}, "비어 있습니다"),
    ("/sentiment", {"text": "😀😂"}, "남는 글자가 없습니다"),
    ("/sentiment", {"text": "가" * 1001}, "1000자 이하로"),
    ("/similarity", {"sentence1": "", "sentence2": "좋다"}, "문장 1: 내용이 비어 있습니다"),
    ("/similarity", {"sentence1": "좋다", "sentence2": "👍"}, "문장 2: 이모지"),
    ("/similarity", {"sentence1": "좋다", "sentence2": "가" * 1001}, "1000자 이하로"),
    # The hardening matrix: odd whitespace, control characters, symbols, a very long text.
    ("/sentiment", {"text": "\u3000\u00a0\u2028"}, "비어 있습니다"),
    ("/sentiment", {"text": "\x00\x07\x1b\x7f"}, "남는 글자가 없습니다"),
    ("/sentiment", {"text": "★☆※♥→■"}, "남는 글자가 없습니다"),
    ("/sentiment", {"text": "가" * 10_000}, "10000자로 너무 깁니다"),
    ("/similarity", {"sentence1": "\u200b", "sentence2": "좋다"}, "문장 1: 이모지"),
    ("/similarity", {"sentence2": "좋다"}, "문장 1: 내용이 비어 있습니다"),
]


@pytest.mark.parametrize("url, form, message", BAD_FORMS)
def test_bad_input_shows_message_and_keeps_it(client, url, form, message):
    response = post_form(client, url, form)
    assert_korean_page(response, 400)
    text = page_text(response)
    assert message in text
    for value in form.values():
        assert escape(value) in text


@pytest.mark.parametrize("url, form", [
    ("/sentiment", {"text": "<b>굵게</b> <script>alert(1)</script>"}),
    ("/similarity", {"sentence1": "<script>alert(1)</script> 좋다",
                     "sentence2": '" onfocus="alert(1)" autofocus x="'}),
])
def test_input_is_escaped(client, url, form):
    text = page_text(post_form(client, url, form))
    assert "<script>alert" not in text and "<b>" not in text and 'onfocus="alert' not in text
    for value in form.values():
        assert str(markupsafe.escape(value)) in text  # as Jinja writes it: " is &#34;


@pytest.mark.parametrize("raw", [b"\xff\xfe\xfd", b"\xed\xa0\x80", b"\xc0\xaf"])  # not UTF-8
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_invalid_utf8_in_a_form_is_a_korean_error(client, raw, encoding):
    token = csrf_token(client, "/sentiment").encode()
    if encoding == "urlencoded":  # Werkzeug drops the field: an empty text
        body = b"csrf_token=" + token + b"&text=" + raw
        content_type = "application/x-www-form-urlencoded"
    else:  # Werkzeug reads U+FFFD for each bad byte: nothing left after cleaning
        part = 'Content-Disposition: form-data; name="{}"\r\n\r\n'
        body = b"".join([b"--x\r\n", part.format("csrf_token").encode(), token, b"\r\n--x\r\n",
                         part.format("text").encode(), raw, b"\r\n--x--\r\n"])
        content_type = "multipart/form-data; boundary=x"
    response = client.post("/sentiment", data=body, content_type=content_type)
    assert_korean_page(response, 400)


def test_extra_and_repeated_fields_are_harmless(client):
    form = {"text": ["재밌다", "지루하다"], "extra": "무시"}  # the first text is the one read
    response = post_form(client, "/sentiment", form)
    assert response.status_code == 200 and "<q>재밌다</q>" in page_text(response)


@pytest.mark.parametrize("method, url, status, message", [
    ("put", "/sentiment", 405, "허용되지 않는 요청 방식"),
    ("delete", "/similarity", 405, "허용되지 않는 요청 방식"),
    ("post", "/", 405, "허용되지 않는 요청 방식"),
    ("get", "/no-such-page", 404, "없는 페이지입니다"),
])
def test_http_errors_are_korean_pages(client, method, url, status, message):
    response = getattr(client, method)(url)
    assert_korean_page(response, status)
    assert message in page_text(response)


@pytest.mark.parametrize("url", ["/sentiment", "/similarity"])
def test_body_over_limit_is_a_korean_413_page(client, url):
    token = quote(csrf_token(client, url))
    body = f"csrf_token={token}&text={'a' * 2_000_000}"
    response = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
    assert_korean_page(response, 413)
    assert "너무 큽니다" in page_text(response)


@pytest.mark.parametrize("url, form", [
    ("/sentiment", {"text": "재밌다"}),
    ("/similarity", {"sentence1": "좋다", "sentence2": "싫다"}),
])
@pytest.mark.parametrize("token", [None, "forged", "from another session"])
def test_post_without_a_valid_token_is_refused(app, client, url, form, token):
    if token == "from another session":
        token = csrf_token(app.test_client(), url)
    data = form if token is None else {**form, "csrf_token": token}
    response = client.post(url, data=data)
    assert_korean_page(response, 400)
    assert CSRF_MESSAGE in page_text(response) and f'href="{url}"' in page_text(response)
    assert "<meter" not in page_text(response)  # nothing was analysed


def test_json_to_a_form_is_a_korean_error(client):
    headers = {"X-CSRFToken": csrf_token(client, "/sentiment")}
    response = client.post("/sentiment", json={"text": "재밌다"}, headers=headers)
    assert_korean_page(response, 400)  # the form reads form fields: its text is empty


def test_every_form_carries_a_token(client):
    for url in ("/sentiment", "/similarity"):
        text = page_text(client.get(url))
        assert text.count("<form") == len(TOKEN.findall(text)) == 4  # the form and 3 examples


@pytest.mark.parametrize("word, particle", [
    ("문장1", "과"), ("재밌다!", "와"), ("좋네요", "와"), ("하락했다.", "와"), ("책", "과"),
    ("OK", "과"), ("", "과"), ("!!", "과"),
])
def test_gwa_particle(word, particle):
    assert gwa(word) == particle


@pytest.mark.parametrize("url, form, task", [
    ("/sentiment", {"text": "재밌다"}, "sentiment"),
    ("/similarity", {"sentence1": "좋다", "sentence2": "싫다"}, "similarity"),
])
def test_busy_model_shows_a_korean_busy_page(app, client, monkeypatch, url, form, task):
    def refuse(inputs):
        raise Overloaded("full")

    monkeypatch.setattr(app.extensions["predictors"].get(task), "predict", refuse)
    response = post_form(client, url, form)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "잠시 후 다시 시도해 주세요" in page_text(response)


def test_sentiment_result_highlights_words(client):
    response = post_form(client, "/sentiment", {"text": "이 영화 정말 재밌다! 😀", "explain": "1"})
    text = page_text(response)
    spans = re.findall(r'<span class="word( (pos|neg)[123])?"( title="[+-]\d+\.\d%p")?>([^<]*)</span>',
                       text.split('class="highlights"')[1].split("</p>")[0])
    assert [span[3] for span in spans] == ["이", "영화", "정말", "재밌다!"]
    assert all(span[2] for span in spans)  # each word explained, with its change as a tooltip
    assert "긍정 쪽으로:" in text and "부정 쪽으로:" in text
    assert 'id="explain" name="explain" value="1" checked' in text


def test_highlights_are_off_when_unticked_or_disabled(client, tiny_config):
    unticked = page_text(post_form(client, "/sentiment", {"text": "재밌다"}))
    assert 'class="highlights"' not in unticked and 'name="explain" value="1">' in unticked
    assert 'name="explain" value="1" checked' in page_text(client.get("/sentiment"))
    disabled = create_app({**tiny_config, "EXPLAIN": False}).test_client()
    text = page_text(post_form(disabled, "/sentiment", {"text": "재밌다", "explain": "1"}))
    assert "<meter" in text and 'class="highlights"' not in text and 'name="explain"' not in text


def test_highlighted_words_are_escaped(client):
    text = page_text(post_form(client, "/sentiment", {"text": "<b>굵게</b> 좋다", "explain": "1"}))
    assert "&lt;b&gt;굵게&lt;/b&gt;</span>" in text and "<b>" not in text


def test_model_pages_are_linked_from_home_and_results(client):
    home = page_text(client.get("/"))
    assert 'href="/models/sentiment"' in home and 'href="/models/similarity"' in home
    result = page_text(post_form(client, "/similarity", {"sentence1": "좋다", "sentence2": "싫다"}))
    assert '<a href="/models/similarity">모델 정보</a>' in result
    result = page_text(post_form(client, "/sentiment", {"text": "좋다"}))
    assert '<a href="/models/sentiment">모델 정보</a>' in result


@pytest.mark.parametrize("task, title, plots", [
    ("sentiment", "감정 분석", ["confusion_matrix.png", "reliability.png", "accuracy_by_length.png"]),
    ("similarity", "문장 유사도", ["predicted_vs_gold.png", "score_distributions.png",
                               "threshold_metrics.png"]),
])
def test_model_page(client, carded_models, task, title, plots):
    response = client.get(f"/models/{task}")
    text = page_text(response)
    assert response.status_code == 200 and f"<h1>모델 정보: {title}</h1>" in text
    assert f"<td>{task}-tiny</td>" in text and "ElectraForSequenceClassification" in text
    parameters = client.get(f"/api/v1/models/{task}").json["parameters"]
    assert f"<td>{parameters:,}</td>" in text
    assert "Synthetic sentences (tests/conftest.py)." in text  # the card's data section
    assert "<td>synthetic.tsv</td>" in text  # the metrics table
    for name in plots:
        assert f'<img src="/models/{task}/plots/{name}"' in text
    assert f"<h3>{task}-tiny</h3>" in text  # the card, its headings under the page's own


def test_model_page_summary_and_comparison_come_first(tiny_config, carded_models, tmp_path):
    directory = tmp_path / "similarity-tiny"  # the name the model goes by
    shutil.copytree(carded_models["similarity"], directory)
    summary = {"what": "두 문장이 얼마나 비슷한지 매기는 모델", "how": "KorSTS로 미세조정",
               "notes": ["<b>주의</b>"]}
    (directory / "summary_ko.json").write_text(json.dumps(summary, ensure_ascii=False),
                                               encoding="utf-8")
    (directory / "evaluations.json").write_text(json.dumps([
        {"model": "similarity-tiny", "model_path": str(directory), "data": "x/korsts/sts-dev.tsv",
         "metrics": {"spearman": 0.8503, "n": 1500}},
        {"model": "tfidf-char-cosine", "data": "x/korsts/sts-dev.tsv",
         "metrics": {"spearman": 0.7427}}]))
    client = create_app({**tiny_config, "SIMILARITY_MODEL": str(directory)}).test_client()
    text = page_text(client.get("/models/similarity"))
    assert text.index("두 문장이 얼마나 비슷한지 매기는 모델") < text.index("KorSTS로 미세조정")
    assert "&lt;b&gt;주의&lt;/b&gt;" in text  # a note is text, never HTML
    rows = re.findall(r'<tr class="(\w+)"><td>([^<]+)</td><td>([^<]+)</td>\s*<td>([\d.]+)</td>',
                      text)
    assert rows[:2] == [("this", "similarity-tiny", "이 모델", "0.8503"),
                        ("baseline", "글자 n-gram TF-IDF 코사인 유사도", "기준선", "0.7427")]
    assert ("published", "KoELECTRA-Base-v3", "공개 수치", "0.8553") in rows
    # The developers' part (English card, every evaluation) is folded away, after the plots.
    details = text.index('<details class="card">')
    assert text.index("평가 그림") < details < text.index("<h3>similarity-tiny</h3>")
    assert text.index('<table class="metrics">') > details
    assert '<details class="card" open' not in text
    assert json.loads(client.get("/api/v1/models/similarity").data)["summary"] == summary


def test_model_page_without_a_summary_says_so(client, carded_models):
    text = page_text(client.get("/models/sentiment"))
    assert "한국어 요약(<code>summary_ko.json</code>)이 없습니다" in text
    assert "이 데이터로 잰 이 모델의 점수가 없습니다" in text  # synthetic.tsv is not NSMC test
    assert '<td>KcELECTRA-base-v2022</td><td>공개 수치</td>' in text and "91.97%" in text


@pytest.mark.parametrize("url", [
    "/models/sentiment/plots/predicted_vs_gold.png",  # a plot of the other task
    "/models/sentiment/plots/README.md", "/models/sentiment/plots/config.json",
    "/models/sentiment/plots/..%2Fconfig.json", "/models/sentiment/plots/../config.json",
    "/models/translation/plots/confusion_matrix.png", "/models/translation",
])
def test_only_known_plots_are_served(client, carded_models, url):
    response = client.get(url)
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_plot_is_served_as_png(client, carded_models):
    response = client.get("/models/sentiment/plots/confusion_matrix.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


HOSTILE_CARD = """---
license: mit
---
# <script>alert(1)</script> card

<img src=x onerror=alert(2)>

<div onclick="alert(3)">raw block</div>

[a link](javascript:alert(4)) and ![tracker](https://example.com/pixel.png)
and ![a plot](plots/confusion_matrix.png)

| metric | value |
|---|---|
| accuracy | <b>0.9</b> |

## Training data

NSMC <iframe src="https://example.com"></iframe>
"""


def test_card_html_is_shown_as_text(tiny_config, tiny_models, tmp_path):
    directory = tmp_path / "hostile"
    shutil.copytree(tiny_models["sentiment"], directory)
    (directory / "README.md").write_text(HOSTILE_CARD, encoding="utf-8")
    client = create_app({**tiny_config, "SENTIMENT_MODEL": str(directory)}).test_client()
    response = client.get("/models/sentiment")
    main = page_text(response).split("<main>")[1]
    for raw in ("<script>alert", "<img src=x", "<div onclick", "<iframe", "<b>0.9",
                'href="javascript:', "example.com/pixel.png", "license: mit"):
        assert raw not in main, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt; card" in main
    assert "&lt;iframe" in main and "<table>" in main  # the table itself is Markdown: rendered
    assert "tracker" in main  # an image from elsewhere: its alt text only
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("change, classes", [
    (None, "word"), (0.0, "word"), (0.009, "word"), (-0.009, "word"), (0.01, "word pos1"),
    (-0.07, "word neg2"), (0.15, "word pos3"), (-0.9, "word neg3"),
])
def test_highlight_strength(change, classes):
    assert strength(change) == classes


def test_pushed_words_are_the_strongest_three_each_way():
    words = [{"word": str(i), "contribution": value}
             for i, value in enumerate([0.2, -0.3, 0.005, 0.05, 0.1, 0.02, -0.01, None])]
    assert [item["word"] for item in pushed(words, 1)] == ["0", "4", "3"]
    assert [item["word"] for item in pushed(words, -1)] == ["1", "6"]


def test_long_text_says_only_the_first_words_were_explained(client):
    text = " ".join(["좋다", "싫다"] * 20)
    page = page_text(post_form(client, "/sentiment", {"text": text, "explain": "1"}))
    assert "앞의 30개 단어만 계산했습니다" in page
    assert page.count('title="') == 30  # a tooltip for each explained word only
