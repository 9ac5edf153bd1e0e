"""training.evaluate.compare: the paired bootstrap between two models' saved evaluation outputs."""
import json
import random

import pytest

from training.evaluate import compare, score


def test_compare_finds_a_real_gain_and_none_between_equals():
    rng = random.Random(0)
    gold = [rng.uniform(0, 5) for _ in range(300)]
    noisy = [g + rng.gauss(0, 2) for g in gold]
    closer = [g + rng.gauss(0, 0.5) for g in gold]
    a = {"task": "similarity", "gold": gold, "predicted": noisy}
    better = compare.compare(a, {"task": "similarity", "gold": gold, "predicted": closer}, resamples=200)
    assert better["gain"] > 0 and better["interval_95"][0] > 0 and better["b_wins_share"] == 1.0
    same = compare.compare(a, a, resamples=50)
    assert same["gain"] == 0 and same["interval_95"] == [0, 0]
    with pytest.raises(ValueError, match="same examples"):
        compare.compare(a, {"task": "similarity", "gold": gold[::-1], "predicted": closer})


def test_compare_reads_paraphrase_outputs_by_auc():
    labels = [1, 1, 1, 0, 0, 0] * 20
    ranked = {"task": "similarity", "label": labels, "predicted": [4, 4, 4, 1, 1, 1] * 20}
    mixed = {"task": "similarity", "label": labels, "predicted": [4, 1, 4, 1, 4, 1] * 20}
    result = compare.compare(mixed, ranked, resamples=50)
    assert result["score_b"] == 1.0 and result["score_a"] == pytest.approx(2 / 3)  # 4 wins and 4 ties of 9
    assert result["interval_95"][0] > 0


def test_evaluate_saves_outputs_that_compare_reads(trained, data_root, tmp_path):
    path, model = data_root / "korsts" / "sts-dev.tsv", str(trained / "similarity" / "best")
    for name, order in (("one.json", False), ("both.json", True)):
        score.evaluate(score.EvaluateArgs(task="similarity", model=model, data=str(path),
                                                symmetric=order, save_outputs=str(tmp_path / name)))
    saved = json.loads((tmp_path / "one.json").read_text())
    assert saved["task"] == "similarity" and len(saved["gold"]) == len(saved["predicted"]) == 20
    result = compare.compare(saved, json.loads((tmp_path / "both.json").read_text()), resamples=20)
    assert result["n"] == 20 and result["gain"] == pytest.approx(result["score_b"] - result["score_a"], nan_ok=True)
