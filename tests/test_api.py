"""The JSON API contract, its errors, and the health probes."""
import json

import pytest

from contract import assert_error, assert_sentiment_result, assert_similarity_result
from main import create_app
from microbatch import Overloaded, Timeout

SENTIMENT = "/api/v1/sentiment"
SIMILARITY = "/api/v1/similarity"


def post_json(client, url, body):
    """POST body serialised as JSON (or sent as-is when it is already a string)."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


def test_sentiment_single(client):
    response = post_json(client, SENTIMENT, {"text": "이 영화 정말 재밌다! 😀"})
    assert response.status_code == 200
    assert_sentiment_result(response.json, "sentiment-tiny")
    assert response.json["cleaned"] == "이 영화 정말 재밌다!"


def test_sentiment_batch(client):
    texts = ["이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "돈이 아깝다"]
    response = post_json(client, SENTIMENT, {"texts": texts})
    assert response.status_code == 200
    assert response.json["model"] == "sentiment-tiny" and len(response.json["results"]) == 3
    for text, result in zip(texts, response.json["results"]):
        assert_sentiment_result(result, "sentiment-tiny")
        assert result["cleaned"] == text


def test_similarity_single(client):
    body = {"sentence1": "오늘 날씨가 정말 좋네요", "sentence2": "오늘은 날씨가 맑고 화창하네요"}
    response = post_json(client, SIMILARITY, body)
    assert response.status_code == 200
    assert_similarity_result(response.json, "similarity-tiny")


def test_similarity_batch(client):
    pairs = [["오늘 날씨가 정말 좋네요", "주식 시장이 크게 하락했다"], ["돈이 아깝다", "지루하고 재미없어요"]]
    response = post_json(client, SIMILARITY, {"pairs": pairs})
    assert response.status_code == 200
    assert response.json["model"] == "similarity-tiny" and len(response.json["results"]) == 2
    for result in response.json["results"]:
        assert_similarity_result(result, "similarity-tiny")


def test_long_text_is_truncated(tiny_config):
    client = create_app({**tiny_config, "MAX_LENGTH": 8}).test_client()
    response = post_json(client, SENTIMENT, {"texts": ["이 영화 정말 재밌다! " * 10, "돈이 아깝다"]})
    assert [result["truncated"] for result in response.json["results"]] == [True, False]


def test_korean_is_not_escaped(client):
    raw = post_json(client, SENTIMENT, {"text": "이 영화 정말 재밌다!"}).data
    assert "긍정".encode() in raw or "부정".encode() in raw
    assert b"\\u" not in raw
    error = post_json(client, SENTIMENT, {"text": " "}).data
    assert "비어 있습니다".encode() in error


LONG = "가" * 1001
BAD_REQUESTS = [
    # url, body, status, error code
    (SENTIMENT, "{not json", 400, "invalid_json"),
    (SENTIMENT, "", 400, "invalid_json"),
    (SENTIMENT, b"\xff\xfe", 400, "invalid_json"),
    (SENTIMENT, "[" * 100_000 + "]" * 100_000, 400, "invalid_json"),
    (SENTIMENT, "null", 400, "invalid_type"),
    (SENTIMENT, '"just a string"', 400, "invalid_type"),
    (SENTIMENT, [1, 2], 400, "invalid_type"),
    (SENTIMENT, {}, 400, "missing_field"),
    (SENTIMENT, {"txt": "오타"}, 400, "unknown_field"),
    (SENTIMENT, {"text": None}, 400, "invalid_type"),
    (SENTIMENT, {"text": 42}, 400, "invalid_type"),
    (SENTIMENT, {"text": ["a"]}, 400, "invalid_type"),
    (SENTIMENT, {"text": {"nested": "object"}}, 400, "invalid_type"),
    (SENTIMENT, {"text": ""}, 400, "empty_text"),
    (SENTIMENT, {"text": " \n\t "}, 400, "empty_text"),
    (SENTIMENT, {"text": "😀😂👍"}, 400, "empty_after_cleaning"),
    (SENTIMENT, {"text": "https://example.com/a ★"}, 400, "empty_after_cleaning"),
    (SENTIMENT, '{"text": "\\ud800"}', 400, "invalid_text"),
    (SENTIMENT, {"text": LONG}, 413, "text_too_long"),
    (SENTIMENT, {"texts": "not a list"}, 400, "invalid_type"),
    (SENTIMENT, {"texts": []}, 400, "empty_batch"),
    (SENTIMENT, {"texts": ["좋다"] * 65}, 413, "too_many_items"),
    (SENTIMENT, {"texts": ["좋다", None]}, 400, "invalid_type"),
    (SENTIMENT, {"texts": ["좋다", True]}, 400, "invalid_type"),
    (SENTIMENT, {"texts": ["좋다", 1.5]}, 400, "invalid_type"),
    (SENTIMENT, {"texts": ["좋다", "  "]}, 400, "empty_text"),
    (SENTIMENT, {"texts": ["좋다", "🎉"]}, 400, "empty_after_cleaning"),
    (SENTIMENT, {"texts": ["좋다", LONG]}, 413, "text_too_long"),
    (SENTIMENT, {"text": "좋다", "texts": ["좋다"]}, 400, "conflicting_fields"),
    (SIMILARITY, {}, 400, "missing_field"),
    (SIMILARITY, {"sentence1": "좋다"}, 400, "missing_field"),
    (SIMILARITY, {"sentence1": "좋다", "sentence2": 3}, 400, "invalid_type"),
    (SIMILARITY, {"sentence1": "", "sentence2": "좋다"}, 400, "empty_text"),
    (SIMILARITY, {"sentence1": "좋다", "sentence2": "🙂"}, 400, "empty_after_cleaning"),
    (SIMILARITY, {"sentence1": "좋다", "sentence2": LONG}, 413, "text_too_long"),
    (SIMILARITY, {"pairs": {"a": "b"}}, 400, "invalid_type"),
    (SIMILARITY, {"pairs": []}, 400, "empty_batch"),
    (SIMILARITY, {"pairs": [["좋다", "싫다"]] * 65}, 413, "too_many_items"),
    (SIMILARITY, {"pairs": [["좋다"]]}, 400, "invalid_type"),
    (SIMILARITY, {"pairs": [["좋다", "싫다", "음"]]}, 400, "invalid_type"),
    (SIMILARITY, {"pairs": ["좋다 싫다"]}, 400, "invalid_type"),
    (SIMILARITY, {"pairs": [["좋다", None]]}, 400, "invalid_type"),
    (SIMILARITY, {"pairs": [["좋다", " "]]}, 400, "empty_text"),
    (SIMILARITY, {"pairs": [["좋다", "싫다"]], "sentence2": "음"}, 400, "conflicting_fields"),
    # The hardening matrix: nulls, odd whitespace, control characters, symbols, sizes, extras.
    (SENTIMENT, b'{"text": "\xff\xfe"}', 400, "invalid_json"),  # invalid UTF-8 inside a string
    (SENTIMENT, {"texts": None}, 400, "invalid_type"),
    (SIMILARITY, {"pairs": None}, 400, "invalid_type"),
    (SIMILARITY, {"sentence1": None, "sentence2": "좋다"}, 400, "invalid_type"),
    (SENTIMENT, {"text": "\u3000\u00a0\u2028"}, 400, "empty_text"),  # Unicode spaces only
    (SENTIMENT, {"text": "\x00\x07\x1b\x7f"}, 400, "empty_after_cleaning"),  # control characters
    (SENTIMENT, {"text": "\u200b\ufeff"}, 400, "empty_after_cleaning"),  # zero-width characters
    (SENTIMENT, {"text": "★☆※♥→■"}, 400, "empty_after_cleaning"),
    (SIMILARITY, {"sentence1": "좋다", "sentence2": "\ufffd\ufffd"}, 400, "empty_after_cleaning"),
    (SIMILARITY, '{"pairs": [["좋다", "\\udc00"]]}', 400, "invalid_text"),  # a lone low surrogate
    (SENTIMENT, {"text": "가" * 10_000}, 413, "text_too_long"),
    (SENTIMENT, {"texts": ["가" * 10_000]}, 413, "text_too_long"),
    (SENTIMENT, {"text": "좋다", "lang": "ko"}, 400, "unknown_field"),
    (SENTIMENT, {"texts": ["좋다"], "sentence1": "좋다"}, 400, "unknown_field"),
    (SIMILARITY, {"sentence1": "좋다", "sentence2": "싫다", "text": "음"}, 400, "unknown_field"),
    # "explain" is a JSON boolean, for one text only, and the sentiment endpoint's only.
    (SENTIMENT, {"text": "좋다", "explain": "true"}, 400, "invalid_type"),
    (SENTIMENT, {"text": "좋다", "explain": 1}, 400, "invalid_type"),
    (SENTIMENT, {"text": "좋다", "explain": 0}, 400, "invalid_type"),
    (SENTIMENT, {"text": "좋다", "explain": None}, 400, "invalid_type"),
    (SENTIMENT, {"text": "좋다", "explain": []}, 400, "invalid_type"),
    (SENTIMENT, {"text": "좋다", "explain": {"on": True}}, 400, "invalid_type"),
    (SENTIMENT, {"texts": ["좋다"], "explain": True}, 400, "conflicting_fields"),
    (SENTIMENT, {"explain": True}, 400, "missing_field"),
    (SIMILARITY, {"sentence1": "좋다", "sentence2": "싫다", "explain": True}, 400, "unknown_field"),
]


@pytest.mark.parametrize("url, body, status, code", BAD_REQUESTS)
def test_bad_requests(client, url, body, status, code):
    assert_error(post_json(client, url, body), status, code)


@pytest.mark.parametrize("url, body", [
    (SENTIMENT, {"text": "좋\x00다\x1b[31m 재밌\x07다"}),  # control characters inside a text
    (SENTIMENT, {"text": "...!!!"}),  # punctuation the model reads
    (SENTIMENT, {"texts": ["좋다"] * 64}),  # exactly the most items
    (SENTIMENT, {"text": "가" * 1000}),  # exactly the longest text
    (SIMILARITY, {"pairs": [["좋다", "싫다"]] * 64}),
])
def test_edge_inputs_are_accepted(client, url, body):
    assert post_json(client, url, body).status_code == 200


@pytest.mark.parametrize("content_type, data, status, code", [
    ("application/x-www-form-urlencoded", "text=좋다", 400, "invalid_json"),
    ("multipart/form-data; boundary=x", "--x--", 400, "invalid_json"),
    ("text/plain", json.dumps({"text": "좋다"}), 200, None),  # the body decides, not the header
    ("application/json; charset=utf-8", json.dumps({"text": "좋다"}), 200, None),
])
def test_content_types(client, content_type, data, status, code):
    response = client.post(SENTIMENT, data=data, content_type=content_type)
    if code is None:
        assert response.status_code == status
    else:
        assert_error(response, status, code)


@pytest.mark.parametrize("size", [1_100_000, 2_000_000])
def test_body_over_limit_is_413(client, size):
    body = json.dumps({"text": "a" * size})
    assert_error(post_json(client, SENTIMENT, body), 413, "payload_too_large")


def test_json_without_content_type_is_accepted(client):
    response = client.post(SENTIMENT, data=json.dumps({"text": "재밌다"}))
    assert response.status_code == 200


@pytest.mark.parametrize("method, url, status, code", [
    ("get", SENTIMENT, 405, "method_not_allowed"),
    ("put", SIMILARITY, 405, "method_not_allowed"),
    ("post", "/api/v1/nothing", 404, "not_found"),
    ("get", "/api/v2/sentiment", 404, "not_found"),
    ("get", "/api", 404, "not_found"),
])
def test_http_errors_under_api_are_json(client, method, url, status, code):
    response = getattr(client, method)(url)
    assert response.status_code == status and response.is_json
    assert response.json["error"]["code"] == code


def test_http_errors_elsewhere_are_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["ready"] is True
    models = response.json["models"]
    assert models["sentiment"]["name"] == "sentiment-tiny"
    assert models["similarity"]["device"] == "cpu"


@pytest.mark.parametrize("error, code", [(Overloaded("full"), "overloaded"),
                                         (Timeout("late"), "timeout")])
@pytest.mark.parametrize("url, body, task", [
    (SENTIMENT, {"text": "재밌다"}, "sentiment"),
    (SIMILARITY, {"sentence1": "좋다", "sentence2": "싫다"}, "similarity"),
])
def test_busy_model_is_503_with_retry_after(app, client, monkeypatch, error, code, url, body, task):
    def refuse(inputs):
        raise error

    monkeypatch.setattr(app.extensions["predictors"].get(task), "predict", refuse)
    response = post_json(client, url, body)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.json["error"]["code"] == code
    assert any("가" <= char <= "힣" for char in response.json["error"]["message"])


def unquantized_client(tiny_config, **settings):
    """A client whose tiny models run in fp32, so batch-mates cannot move a score (int8 can)."""
    return create_app({**tiny_config, "QUANTIZE": False, **settings}).test_client()


def count_forward_passes(client, monkeypatch) -> list:
    """The number of rows of each forward pass the client's sentiment model runs from now on."""
    predictor = client.application.extensions["predictors"].get("sentiment").predictor
    forward, rows = predictor.forward, []

    def counted(batch):
        rows.append(len(batch["input_ids"]))
        return forward(batch)
    monkeypatch.setattr(predictor, "forward", counted)
    return rows


def test_explain_gives_each_words_contribution(tiny_config, monkeypatch):
    client = unquantized_client(tiny_config)
    passes = count_forward_passes(client, monkeypatch)
    answer = post_json(client, SENTIMENT, {"text": "이 영화 정말 재밌다! 😀", "explain": True}).json
    assert passes == [5]  # the text and its four leave-one-out variants, in one forward pass
    assert_sentiment_result(answer, "sentiment-tiny")  # with its explanation
    explanation = answer["explanation"]
    words = [item["word"] for item in explanation["words"]]
    assert words == ["이", "영화", "정말", "재밌다!"] and explanation["max_words"] == 30
    variants = [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]
    alone = post_json(client, SENTIMENT, {"texts": variants}).json["results"]
    positive = answer["probabilities"]["positive"]
    assert positive == pytest.approx(
        post_json(client, SENTIMENT, {"text": "이 영화 정말 재밌다! 😀"}).json["probabilities"]["positive"], abs=1e-5)
    for item, result in zip(explanation["words"], alone):
        assert item["contribution"] == pytest.approx(positive - result["probabilities"]["positive"], abs=1e-5)


def test_explain_caps_the_words_of_a_long_text(tiny_config, monkeypatch):
    client = unquantized_client(tiny_config)
    passes = count_forward_passes(client, monkeypatch)
    text = " ".join(["좋다", "싫다", "영화"] * 14)  # 42 words
    explained = post_json(client, SENTIMENT, {"text": text, "explain": True}).json["explanation"]
    contributions = [item["contribution"] for item in explained["words"]]
    assert len(contributions) == 42 and contributions[30:] == [None] * 12
    assert all(isinstance(value, float) for value in contributions[:30])
    assert passes == [31]


def test_explain_false_answers_as_without_it(client):
    answer = post_json(client, SENTIMENT, {"text": "재밌다", "explain": False}).json
    assert_sentiment_result(answer, "sentiment-tiny")
    batch = post_json(client, SENTIMENT, {"texts": ["재밌다"], "explain": False})
    assert batch.status_code == 200 and "explanation" not in batch.json["results"][0]


def test_explain_is_refused_when_the_setting_is_off(tiny_config):
    client = create_app({**tiny_config, "EXPLAIN": False}).test_client()
    assert_error(post_json(client, SENTIMENT, {"text": "재밌다", "explain": True}), 400,
                 "explain_disabled")
    assert post_json(client, SENTIMENT, {"text": "재밌다", "explain": False}).status_code == 200


@pytest.mark.parametrize("task, plots", [
    ("sentiment", {"confusion_matrix.png", "reliability.png", "accuracy_by_length.png"}),
    ("similarity", {"predicted_vs_gold.png", "score_distributions.png", "threshold_metrics.png"}),
])
def test_model_info(client, carded_models, task, plots):
    info = client.get(f"/api/v1/models/{task}").json
    assert info["name"] == f"{task}-tiny" and info["task"] == task and info["device"] == "cpu"
    assert info["architecture"].startswith("ElectraForSequenceClassification: layers 2, hidden 32")
    assert info["parameters"] > 10_000 and isinstance(info["quantized"], bool)
    assert info["training_data"] == "Synthetic sentences (tests/conftest.py)."
    assert [row["data"] for row in info["metrics"]] == ["synthetic.tsv"]
    assert {plot["file"] for plot in info["plots"]} == plots
    for plot in info["plots"]:
        image = client.get(plot["url"])
        assert image.status_code == 200 and image.mimetype == "image/png"
    assert info["card"].startswith(f"# {task}-tiny")
    assert ("labels" in info) == (task == "sentiment")


def test_model_info_of_an_unknown_task_is_404(client):
    assert_error(client.get("/api/v1/models/translation"), 404, "not_found")
