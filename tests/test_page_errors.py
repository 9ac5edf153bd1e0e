"""Bad requests to the pages: Korean error pages that keep (escaped) input, HTTP errors, and CSRF."""
from html import escape
from urllib.parse import quote

import markupsafe
import pytest

from page_forms import TOKEN, assert_korean_page, csrf_token, page_text, post_form
from pages import CSRF_MESSAGE

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
