"""models.py: batched and unbatched predictions agree; warm-up; int8 quantization on the CPU."""
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch

from models import SCORE_GRADES_KO, BatchedPredictor, PredictorRegistry, load_predictor

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


PAIRS = [("오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요"), ("최고", "시간 낭비했다 다신 안 봄"),
         ("좋다", "좋다")]


@pytest.fixture
def pair_models(pair_order_models):
    """Predictors of the same weights: one order (plain) and both orders (symmetric)."""
    return {name: load_predictor(directory, "similarity", device="cpu")
            for name, directory in pair_order_models.items()}


def test_symmetric_similarity_is_the_mean_of_both_orders(pair_models):
    plain, both = pair_models["plain"], pair_models["symmetric"]
    assert (plain.symmetric, both.symmetric) == (False, True) and both.describe()["symmetric"] is True
    forward = [r["score"] for r in plain.predict(PAIRS)]
    backward = [r["score"] for r in plain.predict([(b, a) for a, b in PAIRS])]
    assert forward != pytest.approx(backward, abs=1e-3)  # the random model is order-sensitive…
    assert all(0 < score < 5 for score in forward + backward)  # inside the clamp: raw outputs
    expected = [(f + b) / 2 for f, b in zip(forward, backward)]
    assert [r["score"] for r in both.predict(PAIRS)] == pytest.approx(expected, abs=1e-5)
    swapped = [r["score"] for r in both.predict([(b, a) for a, b in PAIRS])]
    assert swapped == pytest.approx(expected, abs=1e-5)  # …the symmetric one is not
    assert [r["cleaned"] for r in both.predict(PAIRS)] == [list(pair) for pair in PAIRS]


def test_symmetric_similarity_batched_matches_direct(pair_models):
    direct = pair_models["symmetric"]
    batched = BatchedPredictor(direct, max_wait_ms=2, max_batch_items=3)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(batched.predict, [PAIRS, PAIRS[1:], PAIRS[:1]]))
    finally:
        batched.close()
    expected = [r["score"] for r in direct.predict(PAIRS)]
    assert [r["score"] for r in answers[0]] == pytest.approx(expected, abs=1e-5)
    assert [r["score"] for r in answers[1]] == pytest.approx(expected[1:], abs=1e-5)
    assert [r["score"] for r in answers[2]] == pytest.approx(expected[:1], abs=1e-5)


def test_symmetric_pair_is_truncated_if_either_order_is(pair_models):
    both = pair_models["symmetric"]
    both.max_length = 12
    long = " ".join(["좋다"] * 30)
    assert [r["truncated"] for r in both.predict([(long, "좋다"), ("좋다", "싫다")])] == [True, False]


def test_aligned_numbers_are_scored_and_shown_as_digits_on_both_sides(pair_models):
    both = pair_models["symmetric"]
    spelled, digits = ("회의는 세 시에 시작", "3시에 회의"), ("회의는 3시에 시작", "3시에 회의")
    assert both.align_numbers is False and both.describe()["align_numbers"] is False
    as_typed = both.predict([spelled, digits])
    assert as_typed[0]["cleaned"] == list(spelled) and as_typed[0]["score"] != pytest.approx(as_typed[1]["score"])
    both.align_numbers = True  # as "align_numbers": true in serving.json sets it
    aligned = both.predict([spelled, digits[::-1]])
    assert aligned[0]["cleaned"] == list(digits)  # the page shows what the model read
    assert aligned[0]["score"] == pytest.approx(as_typed[1]["score"], abs=1e-5)
    assert aligned[1]["score"] == pytest.approx(as_typed[1]["score"], abs=1e-5)  # either box


@pytest.mark.parametrize("raw, grade", [(-0.4, 0), (2.99, 2), (3.0, 3), (4.65, 4), (5.0, 5), (6.2, 5)])
def test_a_similarity_score_reads_as_the_guideline_grade_at_or_below_it(pair_models, raw, grade):
    predictor = pair_models["symmetric"]
    encoded = SimpleNamespace(cleaned=["가", "나"], truncated=False)
    result = predictor.postprocess(encoded, torch.tensor([raw]))
    assert result["grade"] == grade and result["grade_ko"] == SCORE_GRADES_KO[grade]
    assert result["similar"] is (grade >= 3)  # the grade never contradicts 유사 / 비유사
