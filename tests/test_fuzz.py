"""Property-based fuzzing (hypothesis): whatever arrives, no 5xx and an answer in the contract."""
import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from api import FIELDS
from contract import assert_error, assert_sentiment_result, assert_similarity_result
from main import DEFAULTS
from preprocessing import clean
from serving import is_encodable

URLS = {task: f"/api/v1/{task}" for task in FIELDS}
MAX_TEXT_CHARS = DEFAULTS["MAX_TEXT_CHARS"]  # the session's app runs with the defaults
# Examples share the session's app (views never change it), each with a client of its own.
# too_slow: drawing nested JSON can be slow on a busy CI machine; that is not a failure.
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# All of Unicode, with Korean, emoji and spaces often enough to reach every outcome.
KOREAN = st.sampled_from("재밌다 영화 좋네요ㅋ😀!. \n\t\u3000")
CHARS = st.one_of(st.characters(exclude_categories=()), KOREAN, KOREAN)
# A form is sent as UTF-8, which cannot carry lone surrogates (the API tests cover those).
FORM_CHARS = st.characters(exclude_categories=["Cs"])
PLAIN = st.lists(CHARS, max_size=40).map("".join)  # joined: st.text() leaves surrogates out
TEXTS = st.one_of(
    PLAIN, PLAIN, st.sampled_from(["", " ", "\n\t", "\u3000\u00a0"]),
    st.builds(lambda before, lone, after: before + lone + after,  # a lone surrogate inside
              PLAIN, st.characters(categories=["Cs"]), PLAIN),
    st.builds(lambda chars, times: "".join(chars) * times,  # around MAX_TEXT_CHARS
              st.lists(CHARS, min_size=1, max_size=5), st.integers(150, 400)))
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXTS
KNOWN_KEYS = [field for fields in FIELDS.values() for field in fields]
KEYS = st.sampled_from(KNOWN_KEYS) | st.text(max_size=6)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=6)
                    | st.dictionaries(KEYS, inner, max_size=4), max_leaves=30)
BODIES = st.dictionaries(KEYS, JSON, max_size=4) | JSON
WORDS = st.sampled_from(["재밌다", "영화 좋네요", "ㅋㅋㅋ 웃겨요", "The movie", "지루하다!"])
GOOD_PAIRS = st.tuples(WORDS, WORDS)
# Valid batches of every size around the limit, and short ones with anything in them.
BATCHES = st.one_of(st.lists(GOOD_PAIRS, max_size=64),
                    st.lists(GOOD_PAIRS, min_size=60, max_size=70),
                    st.lists(st.tuples(TEXTS, TEXTS) | GOOD_PAIRS, max_size=8))


def post(client, task, body):
    """POST body as JSON (NaN and lone surrogates escaped as Python's json writes them)."""
    return client.post(URLS[task], data=json.dumps(body), content_type="application/json")


def expected_error(text):
    """The error code a single text must get (the order serving.check_text checks), or None."""
    if not text.strip():
        return "empty_text"
    if len(text) > MAX_TEXT_CHARS:
        return "text_too_long"
    if not is_encodable(text):
        return "invalid_text"
    if not clean(text):
        return "empty_after_cleaning"
    return None


def assert_in_contract(response, task, body):
    """Any answer: 200 with a result per input, or a documented error; never a 5xx."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    event(f"{response.status_code} {response.json.get('error', {}).get('code', '')}")
    if response.status_code != 200:
        assert_error(response)
        return
    check = assert_sentiment_result if task == "sentiment" else assert_similarity_result
    results = response.json.get("results", [response.json])
    for result in results:
        check(result, f"{task}-tiny")
    batch = body.get("texts", body.get("pairs"))
    assert len(results) == (len(batch) if "results" in response.json else 1)


@FUZZ
@given(task=st.sampled_from(sorted(FIELDS)), body=BODIES)
def test_any_json_gets_an_answer_in_the_contract(app, task, body):
    assert_in_contract(post(app.test_client(), task, body), task, body)


@FUZZ
@given(task=st.sampled_from(sorted(FIELDS)), data=st.binary(max_size=200),
       content_type=st.sampled_from(["application/json", "text/plain", "", "application/xml",
                                     "application/x-www-form-urlencoded"]))
def test_any_bytes_get_an_answer_in_the_contract(app, task, data, content_type):
    response = app.test_client().post(URLS[task], data=data, content_type=content_type)
    assert response.status_code < 500 and response.is_json
    if response.status_code != 200:
        assert_error(response)


@FUZZ
@given(text=TEXTS)
def test_a_text_is_scored_or_refused_for_the_right_reason(app, text):
    response = post(app.test_client(), "sentiment", {"text": text})
    code = expected_error(text)
    event(str(code))  # --hypothesis-show-statistics: how often each outcome was reached
    if code is None:
        assert response.status_code == 200 and response.json["cleaned"] == clean(text)
    else:
        assert_error(response, 413 if code == "text_too_long" else 400, code)


@FUZZ
@given(pairs=BATCHES)
def test_a_batch_is_scored_whole_or_refused_naming_the_item(app, pairs):
    response = post(app.test_client(), "similarity", {"pairs": pairs})
    bad = [(f"pairs[{i}][{j}]", expected_error(text)) for i, pair in enumerate(pairs)
           for j, text in enumerate(pair) if expected_error(text)]
    event(f"{response.status_code} {bad[0][1] if bad else ''}")
    if not pairs:
        assert_error(response, 400, "empty_batch")
    elif len(pairs) > 64:
        assert_error(response, 413, "too_many_items")
    elif bad:
        field, code = bad[0]
        assert_error(response, 413 if code == "text_too_long" else 400, code)
        assert response.json["error"]["message"].startswith(f"{field}: ")
    else:
        assert response.status_code == 200 and len(response.json["results"]) == len(pairs)
        assert [result["cleaned"] for result in response.json["results"]] == [
            [clean(first), clean(second)] for first, second in pairs]


@settings(FUZZ, max_examples=100)
@given(form=st.dictionaries(st.sampled_from(["text", "sentence1", "sentence2", "other"]),
                            st.text(FORM_CHARS, max_size=60), max_size=3))
@pytest.mark.parametrize("url", ["/sentiment", "/similarity"])
def test_any_form_gets_a_korean_page(app, url, form):
    client = app.test_client()
    page = client.get(url).get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(url, data={**form, "csrf_token": token})
    text = response.get_data(as_text=True)
    assert response.status_code in (200, 400) and response.mimetype == "text/html"
    assert ('role="alert"' in text) == (response.status_code == 400)
    assert "Traceback" not in text
