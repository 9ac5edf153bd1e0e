"""training.evaluate.score as served: the compute dtype it scores in, and the pair-order gap tool."""
import json

import numpy as np
import pytest

import hardware
from models import load_predictor
from training.evaluate import score

PAIRS = [("오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요", 4.2), ("최고", "시간 낭비했다 다신 안 봄", 0.4),
         ("좋다", "좋다", 5.0), ("내일 오후 3시에 회의가 열립니다", "회의는 내일 오후 세 시에 시작합니다", 4.6),
         ("주식 시장이 크게 하락했다", "음악이 아름답고 감동적이었다", 0.0), ("돈이 아깝다", "지루하고 재미없어요", 2.1)]


@pytest.fixture
def korsts_dev(tmp_path):
    """A KorSTS-format dev file of a few scored pairs."""
    path = tmp_path / "sts-dev.tsv"
    rows = [f"main\tf\t2012\t{i}\t{score}\t{a}\t{b}" for i, (a, b, score) in enumerate(PAIRS)]
    path.write_text("genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    return path


def run(model, data, **options) -> dict:
    """training.evaluate.score's result for the similarity model on data, with options."""
    return score.evaluate(score.EvaluateArgs(task="similarity", model=str(model), data=str(data),
                                                   device="cpu", **options))


def test_order_gap_scores_each_order_once_and_their_clamped_mean(pair_order_models, korsts_dev, tmp_path):
    saved = tmp_path / "outputs.json"
    result = run(pair_order_models["symmetric"], korsts_dev, order_gap=True, save_outputs=str(saved))
    one_order = load_predictor(pair_order_models["plain"], "similarity", device="cpu")
    forward = [r["score"] for r in one_order.predict([(a, b) for a, b, _ in PAIRS])]
    backward = [r["score"] for r in one_order.predict([(b, a) for a, b, _ in PAIRS])]
    served = [r["score"] for r in load_predictor(pair_order_models["symmetric"], "similarity",
                                                 device="cpu").predict([(a, b) for a, b, _ in PAIRS])]
    metrics = result["metrics"]
    assert metrics["pairs"] == len(PAIRS) and result["order_gap"] is True
    assert result["symmetric"] is True  # as the model is served, though each order ran alone
    gaps = np.abs(np.subtract(forward, backward))
    assert metrics["mean_absolute_gap"] == pytest.approx(gaps.mean(), abs=1e-4) and gaps.mean() > 1e-3
    assert metrics["max_absolute_gap"] == pytest.approx(gaps.max(), abs=1e-4)
    gold = [score for _, _, score in PAIRS]
    assert metrics["as_given"]["spearman"] == pytest.approx(score.score_similarity(
        {"gold": gold, "predicted": forward})["spearman"], abs=1e-6)
    assert metrics["swapped"]["mse"] == pytest.approx(score.score_similarity(
        {"gold": gold, "predicted": backward})["mse"], abs=1e-4)
    # The mean is what a symmetric model serves: saved for training.evaluate.compare as such.
    assert json.loads(saved.read_text())["predicted"] == pytest.approx(served, abs=1e-5)
    assert metrics["averaged"]["mse"] == pytest.approx(score.score_similarity(
        {"gold": gold, "predicted": served})["mse"], abs=1e-4)


def test_order_gap_refuses_what_it_cannot_measure(korsts_dev):
    with pytest.raises(ValueError, match="--order_gap"):
        score.EvaluateArgs(task="sentiment", model="m", data=str(korsts_dev), order_gap=True)
    with pytest.raises(ValueError, match="--order_gap"):
        score.EvaluateArgs(task="similarity", model="m", data=str(korsts_dev), order_gap=True,
                              symmetric=True)


@pytest.mark.parametrize("flags, dtype", [(["avx2", "avx512f"], "fp32"), (["avx512_bf16", "amx_bf16"], "bf16")])
def test_evaluate_scores_in_the_dtype_served_on_the_host_and_records_it(pair_order_models, korsts_dev,
                                                                        monkeypatch, flags, dtype):
    monkeypatch.setattr(hardware, "cpu_info", lambda: {"model": "fake", "flags": flags})
    result = run(pair_order_models["plain"], korsts_dev)
    assert (result["dtype"], result["quantized"]) == (dtype, False) and result["metrics"]["n"] == len(PAIRS)
    assert run(pair_order_models["plain"], korsts_dev, dtype="fp32")["dtype"] == "fp32"
    with pytest.raises(ValueError, match="--dtype"):
        score.EvaluateArgs(task="similarity", model="m", data=str(korsts_dev), dtype="fp64")
