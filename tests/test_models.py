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


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_truncated_only_when_tokens_are_cut(tiny_models, task):
    predictor = load_predictor(tiny_models[task], task, device="cpu", max_length=12)

    def as_input(words):
        text = " ".join(["좋다"] * words)
        return text if task == "sentiment" else (text, "좋다")

    def token_count(words):
        texts = [as_input(words)] if task == "sentiment" else as_input(words)
        return len(predictor.tokenizer(*texts)["input_ids"])

    fits = max(n for n in range(1, 30) if token_count(n) <= 12)  # the most words that fit
    assert token_count(fits + 1) > 12
    results = predictor.predict([as_input(fits), as_input(fits + 1), as_input(1)])
    assert [result["truncated"] for result in results] == [False, True, False]


@pytest.mark.parametrize("setting, expected", [(None, True), (False, False), (True, True)])
def test_quantize_setting_on_the_cpu(tiny_models, setting, expected):
    # None (the app's default) quantizes on a CPU; on CUDA it never does (fp16 there).
    predictor = load_predictor(tiny_models["sentiment"], "sentiment", device="cpu", quantize=setting)
    assert predictor.quantized is expected
