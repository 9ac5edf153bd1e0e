"""The task pages: home, the sentiment and similarity forms and results, word highlights, and
the pages when a model is busy or cannot load."""
import re
from html import escape

import pytest

from conftest import similarity_copy
from main import create_app
from microbatch import Overloaded
from similarity_predictor import SCORE_GRADES_KO
from page_forms import page_text, post_form
from pages import SENTIMENT_EXAMPLES, SIMILARITY_EXAMPLES, gwa, pushed, strength


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
