"""The HTML pages: forms, results, kept input, Korean error messages, example buttons."""
import re
from html import escape

import pytest

from batching import Overloaded
from main import create_app
from pages import SENTIMENT_EXAMPLES, SIMILARITY_EXAMPLES, gwa


def page_text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def test_index_lists_tasks_and_models(client):
    text = page_text(client.get("/"))
    assert 'href="/sentiment"' in text and 'href="/similarity"' in text
    assert "sentiment-tiny" in text and "similarity-tiny" in text and "cpu" in text


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
    response = client.post("/sentiment", data={"text": "이 영화 정말 재밌다! 😀"})
    text = page_text(response)
    assert response.status_code == 200
    assert re.search(r"(긍정|부정) \(\d+%\)", text)
    assert "이 영화 정말 재밌다! 😀</textarea>" in text  # the input stays in the form
    assert "<q>이 영화 정말 재밌다!</q>" in text  # the cleaned text
    assert "sentiment-tiny" in text and "<meter" in text


def test_similarity_result(client):
    form = {"sentence1": "오늘 날씨가 정말 좋네요", "sentence2": "내일 오후 3시에 회의가 열립니다"}
    response = client.post("/similarity", data=form)
    text = page_text(response)
    assert response.status_code == 200
    assert re.search(r"「오늘 날씨가 정말 좋네요」와 「내일 오후 3시에 회의가 열립니다」의 유사도는 \d+% 입니다", text)
    assert re.search(r"점수 \d\.\d\d / 5 · (유사|비유사)", text)
    assert 'value="오늘 날씨가 정말 좋네요"' in text and "similarity-tiny" in text


def test_truncation_is_noted(tiny_config):
    client = create_app({**tiny_config, "MAX_LENGTH": 8}).test_client()
    long_text = page_text(client.post("/sentiment", data={"text": "이 영화 정말 재밌다! " * 10}))
    short_text = page_text(client.post("/sentiment", data={"text": "재밌다"}))
    assert "앞부분(8 토큰)만 분석했습니다" in long_text and "토큰)만" not in short_text


def test_page_when_model_cannot_load(tiny_config, tmp_path):
    config = {**tiny_config, "LOAD_MODELS_AT_START": False, "SENTIMENT_MODEL": str(tmp_path)}
    response = create_app(config).test_client().post("/sentiment", data={"text": "좋다"})
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
]


@pytest.mark.parametrize("url, form, message", BAD_FORMS)
def test_bad_input_shows_message_and_keeps_it(client, url, form, message):
    response = client.post(url, data=form)
    text = page_text(response)
    assert response.status_code == 400 and message in text and 'role="alert"' in text
    for value in form.values():
        assert escape(value) in text


def test_input_is_escaped(client):
    text = page_text(client.post("/sentiment", data={"text": "<b>굵게</b>"}))
    assert "<b>굵게" not in text and "&lt;b&gt;굵게" in text


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
    response = client.post(url, data=form)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "잠시 후 다시 시도해 주세요" in page_text(response)
