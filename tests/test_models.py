"""models.py: batched and unbatched predictions agree; warm-up; int8 quantization on the CPU."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from models import BatchedPredictor, PredictorRegistry, load_predictor

TEXTS = ["이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "돈이 아깝다 " * 20, "최고", "ㅋㅋㅋㅋㅋ 웃겨요"]


def test_batched_predictions_match_direct_ones_under_concurrency(tiny_models):
    direct = load_predictor(tiny_models["sentiment"], "sentiment", max_length=16)
    batched = BatchedPredictor(direct, max_wait_ms=2, max_batch_items=4)
    try:
        requests = [TEXTS[i % 5:] + TEXTS[:i % 3] for i in range(40)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(batched.predict, requests))
    finally:
        batched.close()
    for request, answer in zip(requests, answers):
        expected = direct.predict(request)
        assert [a["cleaned"] for a in answer] == [e["cleaned"] for e in expected]
        assert [a["truncated"] for a in answer] == [e["truncated"] for e in expected]
        assert [a["score"] for a in answer] == pytest.approx([e["score"] for e in expected],
                                                            abs=1e-5)
    assert batched.name == direct.name and batched.describe() == direct.describe()


def test_registry_warms_up_and_batches(tiny_models, monkeypatch):
    warmed = []
    monkeypatch.setattr("models.Predictor.warm_up", lambda self: warmed.append(self.task))
    registry = PredictorRegistry(tiny_models, batcher_options={"max_wait_ms": 1})
    try:
        registry.load_all()
        assert sorted(warmed) == ["sentiment", "similarity"]
        assert isinstance(registry.get("similarity"), BatchedPredictor)
        assert registry.get("similarity").predict([("좋다", "싫다")])[0]["cleaned"] == ["좋다", "싫다"]
    finally:
        registry.close()


def test_quantized_cpu_predictor(tiny_models):
    quantized = load_predictor(tiny_models["sentiment"], "sentiment", device="cpu", quantize=True)
    plain = load_predictor(tiny_models["sentiment"], "sentiment", device="cpu")
    assert quantized.describe()["quantized"] is True and plain.describe()["quantized"] is False
    assert "DynamicQuantizedLinear" in repr(quantized.model)
    result = quantized.predict(["이 영화 정말 재밌다!"])[0]
    assert result["label"] in ("negative", "positive")
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_predict_of_nothing_is_empty(tiny_models):
    assert load_predictor(tiny_models["similarity"], "similarity").predict([]) == []
