"""models.py and compute.py: batched and unbatched predictions agree; warm-up; int8 quantization on the CPU."""
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch

import compute
import hardware
import models
from conftest import similarity_copy
from contract import assert_similarity_result
from main import create_app
from models import BatchedPredictor, PredictorRegistry, load_predictor
from similarity_predictor import SCORE_GRADES_KO

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


def test_int8_leaves_the_feed_forward_outputs_and_the_head_in_fp32(tiny_models):
    model = load_predictor(tiny_models["similarity"], "similarity", device="cpu", quantize=True).model
    for name in ("attention.self.query", "attention.output.dense", "intermediate.dense"):
        assert "quantized" in type(model.get_submodule(f"electra.encoder.layer.1.{name}")).__module__, name
    for name in ("electra.encoder.layer.1.output.dense", "classifier.dense", "classifier.out_proj"):
        assert "quantized" not in type(model.get_submodule(name)).__module__, name


@pytest.fixture(scope="module")
def attention_int8_model(tiny_models, tmp_path_factory):
    """The tiny similarity model whose serving.json keeps int8 to the attention projections."""
    return similarity_copy(tiny_models["similarity"], tmp_path_factory.mktemp("attention-int8") / "m",
                           False, int8_layers="attention")


def test_int8_of_the_attention_only_leaves_the_feed_forward_in_fp32(attention_int8_model):
    predictor = load_predictor(attention_int8_model, "similarity", device="cpu", quantize=True)
    model = predictor.model
    for name in ("attention.self.query", "attention.self.value", "attention.output.dense"):
        assert "quantized" in type(model.get_submodule(f"electra.encoder.layer.1.{name}")).__module__, name
    for name in ("intermediate.dense", "output.dense"):
        assert "quantized" not in type(model.get_submodule(f"electra.encoder.layer.1.{name}")).__module__, name
    assert predictor.describe()["int8_layers"] == "attention"
    plain = load_predictor(attention_int8_model, "similarity", device="cpu", quantize=False)
    assert plain.describe()["int8_layers"] is None  # no int8, so no layers named


def test_an_unknown_int8_layer_set_is_refused(attention_int8_model):
    with pytest.raises(models.ModelLoadError, match="int8_layers must be one of attention"):
        load_predictor(attention_int8_model, "similarity", device="cpu", int8_layers="everything")


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


AMD_EPYC = {"model": "AMD EPYC", "flags": ["avx2", "avx512f", "fma"]}  # no native bf16
SAPPHIRE_RAPIDS = {"model": "Intel Xeon Platinum 8480+",
                   "flags": ["amx_bf16", "amx_tile", "avx2", "avx512_bf16", "avx512f"]}


@pytest.fixture
def fake_cpu(monkeypatch):
    """fake_cpu(info): models' host checks see that CPU (model name and flags) instead of this one."""
    def fake(info):
        monkeypatch.setattr(hardware, "cpu_info", lambda: info)
    return fake


@pytest.mark.parametrize("cpu, device, requested, expected", [
    (AMD_EPYC, "cpu", "auto", torch.float32), (SAPPHIRE_RAPIDS, "cpu", "auto", torch.bfloat16),
    (SAPPHIRE_RAPIDS, "cpu", None, torch.bfloat16), (AMD_EPYC, "cuda", "auto", torch.float16),
    (SAPPHIRE_RAPIDS, "cuda", "auto", torch.float16), (AMD_EPYC, "cpu", "bf16", torch.bfloat16),
    (SAPPHIRE_RAPIDS, "cpu", "fp32", torch.float32), (AMD_EPYC, "cuda", "bf16", torch.bfloat16),
])
def test_compute_dtype_follows_the_host(fake_cpu, cpu, device, requested, expected):
    fake_cpu(cpu)
    assert compute.compute_dtype(requested, torch.device(device)) == expected


@pytest.mark.parametrize("cpu, requested, quantize, allows_int8, expected", [
    (AMD_EPYC, "auto", None, True, (torch.float32, True)),  # int8 where the model allows it…
    (SAPPHIRE_RAPIDS, "auto", None, True, (torch.float32, True)),
    (AMD_EPYC, "auto", None, False, (torch.float32, False)),  # …else the host's dtype
    (SAPPHIRE_RAPIDS, "auto", None, False, (torch.bfloat16, False)),
    (SAPPHIRE_RAPIDS, "auto", False, True, (torch.bfloat16, False)),
    (AMD_EPYC, "bf16", None, True, (torch.bfloat16, False)),  # a forced dtype wins over auto int8
    (AMD_EPYC, "fp32", None, True, (torch.float32, True)),
    (SAPPHIRE_RAPIDS, "auto", True, False, (torch.float32, True)),  # QUANTIZE=true obeys
])
def test_serving_precision_on_a_cpu(fake_cpu, cpu, requested, quantize, allows_int8, expected):
    fake_cpu(cpu)
    assert compute.serving_precision(requested, torch.device("cpu"), quantize, allows_int8) == expected


@pytest.mark.parametrize("cpu, requested, quantize, expected", [
    (AMD_EPYC, "auto", None, (torch.float32, True)),  # int8 of the attention beats fp32…
    (SAPPHIRE_RAPIDS, "auto", None, (torch.bfloat16, False)),  # …but not native bf16
    (SAPPHIRE_RAPIDS, "fp32", None, (torch.float32, True)),
    (SAPPHIRE_RAPIDS, "auto", True, (torch.float32, True)),  # QUANTIZE=true obeys
])
def test_attention_only_int8_gives_way_to_native_bf16(fake_cpu, cpu, requested, quantize, expected):
    fake_cpu(cpu)
    assert compute.serving_precision(requested, torch.device("cpu"), quantize, True,
                                     compute.INT8_ATTENTION) == expected


def test_serving_precision_never_quantizes_cuda_and_refuses_conflicts(fake_cpu):
    fake_cpu(SAPPHIRE_RAPIDS)
    assert compute.serving_precision("auto", torch.device("cuda"), True) == (torch.float16, False)
    with pytest.raises(models.ModelLoadError, match="conflicts with COMPUTE_DTYPE=bf16"):
        compute.serving_precision("bf16", torch.device("cpu"), True)
    with pytest.raises(models.ModelLoadError, match="auto, fp32, bf16, fp16"):
        compute.compute_dtype("float64", torch.device("cpu"))


@pytest.fixture(scope="module")
def no_int8_model(tiny_models, tmp_path_factory):
    """The tiny similarity model with `"quantize": false` in serving.json, as the e5 model has."""
    return similarity_copy(tiny_models["similarity"], tmp_path_factory.mktemp("no-int8") / "m",
                           False, quantize=False)


def test_a_bf16_host_serves_a_model_without_int8_in_bf16(fake_cpu, no_int8_model):
    fake_cpu(SAPPHIRE_RAPIDS)
    # Eager, so that the hook below sees the encoder (a trace runs no Python hooks).
    bf16 = load_predictor(no_int8_model, "similarity", device="cpu", trace=False)
    fake_cpu(AMD_EPYC)
    fp32 = load_predictor(no_int8_model, "similarity", device="cpu")
    assert (bf16.describe()["dtype"], bf16.quantized) == ("bf16", False)
    assert (fp32.describe()["dtype"], fp32.quantized) == ("fp32", False)
    seen = []  # what the encoder really computes in, not only what the weights are stored in
    bf16.model.electra.encoder.register_forward_hook(
        lambda module, inputs, output: seen.append(output.last_hidden_state.dtype))
    assert {parameter.dtype for parameter in bf16.model.parameters()} == {torch.bfloat16}
    scores = [[r["score"] for r in p.predict(PAIRS)] for p in (bf16, fp32)]
    assert seen == [torch.bfloat16]
    assert scores[0] == pytest.approx(scores[1], abs=0.1)  # bf16 keeps ~3 significant digits
    assert scores[0] != scores[1]  # …and is not fp32 in disguise


def test_the_app_setting_reaches_readyz_and_the_model_page(tiny_config, no_int8_model):
    config = {**tiny_config, "SIMILARITY_MODEL": str(no_int8_model), "COMPUTE_DTYPE": "bf16"}
    client = create_app(config).test_client()
    ready = client.get("/readyz").json["models"]
    assert ready["similarity"]["dtype"] == "bf16" and ready["similarity"]["quantized"] is False
    assert (ready["sentiment"]["dtype"], ready["sentiment"]["quantized"]) == ("bf16", False)
    assert "<th>연산 정밀도</th><td>bf16</td>" in client.get("/models/similarity").get_data(as_text=True)
    with pytest.raises(models.ModelLoadError, match="COMPUTE_DTYPE"):
        create_app({**config, "COMPUTE_DTYPE": "double"})


def test_a_pair_scored_in_one_pass_keeps_the_api_contract(tiny_config, pair_order_models, monkeypatch):
    rows = []
    forward = models.Predictor.forward
    monkeypatch.setattr(models.Predictor, "forward",
                        lambda self, batch: rows.append(len(batch["input_ids"])) or forward(self, batch))
    client = create_app({**tiny_config, "SIMILARITY_MODEL": str(pair_order_models["plain"])}).test_client()
    rows.clear()  # the warm-up's
    first, second = PAIRS[0]
    result = client.post("/api/v1/similarity", json={"sentence1": first, "sentence2": second}).json
    assert rows == [1]  # one forward pass of one row: the pair in the order given
    assert_similarity_result(result, "plain")
    expected = load_predictor(pair_order_models["plain"], "similarity", quantize=None).predict([PAIRS[0]])
    assert result["score"] == pytest.approx(expected[0]["score"], abs=1e-5)
    assert result["cleaned"] == [first, second]


@pytest.mark.parametrize("quantize", [False, True])
def test_a_cpu_model_runs_traced_with_the_eager_models_results(tiny_models, quantize):
    traced = {task: load_predictor(location, task, device="cpu", quantize=quantize)
              for task, location in tiny_models.items()}
    eager = {task: load_predictor(location, task, device="cpu", quantize=quantize, trace=False)
             for task, location in tiny_models.items()}
    assert all(p.describe()["traced"] and p.traced is not None for p in traced.values())
    assert not any(p.describe()["traced"] for p in eager.values())
    # Batches of other sizes and lengths than the traced one, padded and not.
    for inputs in (TEXTS, TEXTS[:1], TEXTS[1:4]):
        assert [r["probabilities"]["positive"] for r in traced["sentiment"].predict(inputs)] == \
            pytest.approx([r["probabilities"]["positive"] for r in eager["sentiment"].predict(inputs)], abs=1e-6)
    for pairs in (PAIRS, PAIRS[:1]):
        assert [r["score"] for r in traced["similarity"].predict(pairs)] == \
            pytest.approx([r["score"] for r in eager["similarity"].predict(pairs)], abs=1e-6)


def test_a_trace_that_fails_or_differs_leaves_the_model_eager(tiny_models, monkeypatch, caplog):
    def broken_trace(model, **kwargs):
        raise RuntimeError("cannot trace this model")
    monkeypatch.setattr(torch.jit, "trace", broken_trace)
    failed = load_predictor(tiny_models["sentiment"], "sentiment", device="cpu")
    assert failed.traced is None and "cannot trace this model" in caplog.text

    class Shifted(torch.nn.Module):  # a "trace" whose logits are off by 0.01
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, **batch):
            return {"logits": self.model(**batch).logits + 0.01}
    monkeypatch.setattr(torch.jit, "trace", lambda model, **kwargs: Shifted(model))
    differs = load_predictor(tiny_models["sentiment"], "sentiment", device="cpu")
    assert differs.traced is None and "differ from the model's by 0.01" in caplog.text
    assert differs.predict(TEXTS[:2])[0]["label"] in ("negative", "positive")


def test_tracing_is_on_for_a_cpu_by_default_and_follows_the_setting(tiny_config):
    assert compute.use_trace(None, torch.device("cpu")) is True
    assert compute.use_trace(None, torch.device("cuda")) is False
    assert compute.use_trace(False, torch.device("cpu")) is False
    ready = create_app({**tiny_config, "TRACE_MODEL": False}).test_client().get("/readyz").json["models"]
    assert ready["sentiment"]["traced"] is False and ready["similarity"]["traced"] is False
    ready = create_app(tiny_config).test_client().get("/readyz").json["models"]
    assert ready["sentiment"]["traced"] is True and ready["similarity"]["traced"] is True
