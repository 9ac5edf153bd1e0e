"""security.py and friends: headers, CSP-clean templates, secret key, debug, input logging."""
import logging
import re

import pytest

from main import create_app
from security import CONTENT_SECURITY_POLICY, HEADERS
from serving import ROOT

TEMPLATES = sorted((ROOT / "templates").glob("*.html"))


@pytest.mark.parametrize("method, url, status", [
    ("get", "/", 200), ("get", "/sentiment", 200), ("get", "/static/style.css", 200),
    ("get", "/healthz", 200), ("get", "/metrics", 200), ("get", "/no-such-page", 404),
    ("post", "/sentiment", 400),  # no CSRF token
    ("get", "/api/v1/sentiment", 405), ("post", "/api/v1/sentiment", 400),
])
def test_every_response_has_the_security_headers(client, method, url, status):
    response = getattr(client, method)(url)
    assert response.status_code == status
    for header, value in HEADERS.items():
        assert response.headers[header] == value


def test_csp_allows_no_inline_code_nor_framing():
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_templates_have_no_inline_script_or_style(template):
    # The CSP would block them: inline <script>, <style>, style="", onclick="", javascript: URLs.
    html = template.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", html)
    assert "|safe" not in html.replace(" ", "") and "autoescape false" not in html


def test_secret_key_from_the_environment(monkeypatch, tiny_config):
    monkeypatch.setenv("FLASK_SECRET_KEY", "12345")  # read as JSON: a number, used as a string
    config = {key: value for key, value in tiny_config.items() if key != "SECRET_KEY"}
    assert create_app(config).config["SECRET_KEY"] == "12345"


def test_missing_secret_key_is_generated_with_a_warning(monkeypatch, caplog, tiny_config):
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    config = {key: value for key, value in tiny_config.items() if key != "SECRET_KEY"}
    with caplog.at_level(logging.WARNING):
        keys = {create_app(config).config["SECRET_KEY"] for _ in range(2)}
    assert len(keys) == 2 and all(len(key) == 64 for key in keys)  # random, 32 bytes
    warnings = [record.getMessage() for record in caplog.records
                if record.levelno == logging.WARNING and "FLASK_SECRET_KEY" in record.getMessage()]
    assert len(warnings) == 2 and "several workers" in warnings[0]


def test_debug_is_never_on_under_gunicorn(monkeypatch, caplog, tiny_config):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert create_app(tiny_config).debug  # flask run --debug: the developer's choice
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/27.0.1")  # what gunicorn's master sets
    with caplog.at_level(logging.WARNING):
        assert create_app(tiny_config).debug is False
    assert "debug mode is never on under gunicorn" in caplog.text


def test_session_cookie_is_http_only_and_same_site(client):
    cookie = client.get("/sentiment").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


SECRET_TEXT = "비밀 리뷰 내용\n[ERROR] 가짜\u2028로그 줄"


def logged_lines(caplog, config, url, body) -> list:
    """The app's log lines while the API answers body."""
    client = create_app(config).test_client()
    with caplog.at_level(logging.INFO, logger="main"):
        caplog.clear()
        assert client.post(url, json=body).status_code == 200
    return [record.getMessage() for record in caplog.records if record.name == "main"]


def test_inputs_are_not_logged_by_default(caplog, tiny_config):
    chars = len(SECRET_TEXT) + len("좋다")
    lines = logged_lines(caplog, tiny_config, "/api/v1/sentiment", {"texts": [SECRET_TEXT, "좋다"]})
    assert lines == [f"sentiment: 2 input(s), {chars} characters"]
    pair = {"sentence1": SECRET_TEXT, "sentence2": "좋다"}
    lines = logged_lines(caplog, tiny_config, "/api/v1/similarity", pair)
    assert lines == [f"similarity: 1 input(s), {chars} characters"]


def test_log_inputs_logs_them_on_one_line(caplog, tiny_config):
    config = {**tiny_config, "LOG_INPUTS": True}
    lines = logged_lines(caplog, config, "/api/v1/sentiment", {"text": SECRET_TEXT})
    assert lines == ['sentiment: ["비밀 리뷰 내용\\n[ERROR] 가짜\\u2028로그 줄"]']  # line breaks escaped


def test_an_unexpected_error_is_logged_not_shown(caplog, monkeypatch, tiny_config):
    app = create_app({**tiny_config, "TESTING": False})  # errors reach the handlers, as served
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/sentiment").get_data(as_text=True)).group(1)

    def fail(inputs):
        raise RuntimeError("internal detail /srv/secret")

    monkeypatch.setattr(app.extensions["predictors"].get("sentiment"), "predict", fail)
    with caplog.at_level(logging.ERROR):
        api = client.post("/api/v1/sentiment", json={"text": "재밌다"})
        page = client.post("/sentiment", data={"text": "재밌다", "csrf_token": token})
    assert (api.status_code, api.json["error"]["code"]) == (500, "internal_error")
    assert page.status_code == 500 and "서버 내부 오류입니다" in page.get_data(as_text=True)
    for response in (api, page):
        assert "secret" not in response.get_data(as_text=True)
        assert "Traceback" not in response.get_data(as_text=True)
    logged = [record.getMessage() for record in caplog.records if record.name == "main"]
    assert logged == ["Exception on /api/v1/sentiment [POST]", "Exception on /sentiment [POST]"]
    assert "RuntimeError: internal detail /srv/secret" in caplog.text  # with its stack trace
