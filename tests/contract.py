"""The API's answer contract, checked by the API, fuzzing and load tests alike."""
import pytest
from similarity_predictor import SCORE_GRADES_KO

# Every error code the API documents (docs/api.md, "JSON API"), by HTTP status.
ERROR_CODES = {
    400: {"invalid_json", "invalid_type", "missing_field", "unknown_field", "conflicting_fields",
          "empty_text", "empty_after_cleaning", "invalid_text", "empty_batch", "explain_disabled"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    413: {"text_too_long", "too_many_items", "payload_too_large"},
    503: {"overloaded", "timeout", "model_unavailable"},
}


def assert_sentiment_result(result, model):
    """Every key of one sentiment result, with its type and range ("explanation" optional)."""
    assert set(result) - {"explanation"} == {"label", "label_ko", "score", "probabilities",
                                             "cleaned", "truncated", "model"}
    if "explanation" in result:
        assert_explanation(result["explanation"], result["cleaned"])
    assert result["label"] in ("negative", "positive")
    assert result["label_ko"] == {"negative": "부정", "positive": "긍정"}[result["label"]]
    assert set(result["probabilities"]) == {"negative", "positive"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["score"] == max(result["probabilities"].values())
    assert isinstance(result["cleaned"], str) and isinstance(result["truncated"], bool)
    assert result["model"] == model


def assert_explanation(explanation, cleaned):
    """Per-word contributions: every word of the cleaned text, the first max_words explained."""
    assert set(explanation) == {"words", "max_words"}
    words = explanation["words"]
    assert [item["word"] for item in words] == cleaned.split()
    limit = explanation["max_words"]
    assert all(isinstance(item["contribution"], float) and -1 <= item["contribution"] <= 1
               for item in words[:limit])
    assert all(item["contribution"] is None for item in words[limit:])


def assert_similarity_result(result, model):
    """Every key of one similarity result, with its type and range."""
    assert {"score", "percent", "similar", "message", "grade", "grade_ko", "truncated", "model"} <= set(result)
    assert 0.0 <= result["score"] <= 5.0 and 0 <= result["percent"] <= 100
    assert result["similar"] == (result["score"] >= 3.0)
    assert result["grade"] == int(result["score"]) and result["grade_ko"] == SCORE_GRADES_KO[result["grade"]]
    assert result["message"] == f"유사도는 {result['percent']}% 입니다"
    assert isinstance(result["truncated"], bool) and result["model"] == model


def assert_error(response, status=None, code=None):
    """A documented JSON error response: its status and code (when given), a Korean message."""
    assert response.is_json, response.get_data(as_text=True)[:200]
    codes = ERROR_CODES[response.status_code] if code is None else {code}
    assert_error_body(response.json, response.status_code, codes)
    if status is not None:
        assert response.status_code == status


def assert_error_body(payload, status, codes):
    """An API error body: one of codes (each documented for status), and a Korean message."""
    assert codes <= ERROR_CODES[status], f"{codes} are not documented for {status}"
    error = payload["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] in codes, f"{error} is not one of {codes}"
    assert any("가" <= char <= "힣" for char in error["message"]), error
