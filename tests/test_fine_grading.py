"""The similarity fine-grading measure: correlation within the pairs scored 2.5 or more."""
import numpy as np
import pytest

from training.data import sources
from training.evaluate.compare import compare
from training.metrics import fine_grading, headline, similarity_metrics

# Four unrelated pairs and four close ones. "Coarse" tells the two groups apart perfectly but
# ranks the close pairs backwards; "fine" ranks every pair right.
GOLD = [0.0, 0.5, 1.0, 1.5, 3.0, 3.5, 4.0, 5.0]
COARSE = [0.1, 0.2, 0.3, 0.4, 4.9, 4.8, 4.7, 4.6]
FINE = [0.1, 0.2, 0.3, 0.4, 4.6, 4.7, 4.8, 4.9]


def test_fine_grading_reads_only_the_close_pairs():
    assert fine_grading(GOLD, COARSE) == pytest.approx({"pearson": -0.9827, "spearman": -1.0, "n": 4}, abs=1e-4)
    assert fine_grading(GOLD, FINE)["spearman"] == pytest.approx(1.0)
    # Overall the coarse model still looks good: the split between the groups dominates.
    assert similarity_metrics(GOLD, COARSE)["spearman"] > 0.5


def test_fine_grading_is_undefined_without_two_close_pairs():
    assert fine_grading([0.0, 1.0, 4.0], [0.0, 1.0, 4.0]) == {"pearson": None, "spearman": None, "n": 1}
    assert fine_grading([3.0, 4.0], [2.0, 2.0])["spearman"] is None  # constant predictions


def test_selection_weighs_fine_grading():
    coarse, fine = similarity_metrics(GOLD, COARSE), similarity_metrics(GOLD, FINE)
    assert headline("similarity", coarse) == pytest.approx((coarse["spearman"] - 1.0) / 2)
    assert headline("similarity", fine) > headline("similarity", coarse)
    # A model that fails to grade close pairs loses to one with a lower overall Spearman.
    flat_overall = [0.1, 0.2, 0.3, 0.4, 3.0, 3.1, 3.2, 3.3]
    worse_overall = [0.1, 0.2, 3.5, 0.4, 3.0, 3.1, 3.2, 3.3]
    assert similarity_metrics(GOLD, worse_overall)["spearman"] < similarity_metrics(GOLD, COARSE)["spearman"]
    assert headline("similarity", similarity_metrics(GOLD, worse_overall)) > headline("similarity", coarse)
    assert headline("similarity", similarity_metrics(GOLD, flat_overall)) == pytest.approx(1.0)


def test_compare_reports_the_fine_grading_gain():
    outputs = {name: {"task": "similarity", "gold": GOLD * 10, "predicted": predicted * 10}
               for name, predicted in (("coarse", COARSE), ("fine", FINE))}
    result = compare(outputs["coarse"], outputs["fine"], resamples=200)
    assert result["gain"] > 0  # overall Spearman improves a little
    assert result["fine_grading"]["score_a"] == pytest.approx(-1.0)
    assert result["fine_grading"]["score_b"] == pytest.approx(1.0)
    assert result["fine_grading"]["gain"] == pytest.approx(2.0)
    assert result["fine_grading"]["interval_95"][0] > 1.5
    assert result["fine_grading"]["b_wins_share"] == 1.0


def test_shaped_like_follows_the_reference_spread():
    scores = [0.2] * 50 + [1.5] * 10 + [2.5] * 10 + [3.5] * 10 + [4.8] * 50
    reference = [0.0, 1.0, 2.0, 3.0, 4.5]  # one pair in each one-point bin
    index = sources.shaped_like(scores, reference)
    picked = np.asarray(scores)[index]
    assert sorted(np.unique(picked, return_counts=True)[1].tolist()) == [10, 10, 10, 10, 10]
    assert list(index) == sorted(set(index.tolist()))  # distinct, in the file's order
    assert list(sources.shaped_like(scores, reference)) == list(index)  # seeded
