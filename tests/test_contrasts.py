"""training.data.contrasts: edits that turn one side of an STS pair against the other."""
import json
import random

import pandas as pd
import pytest

from training.data import contrasts
from training.evaluate import score


@pytest.mark.parametrize("sentence, negated", [
    ("한 남자가 기타를 치고 있다.", "한 남자가 기타를 치고 있지 않다."),
    ("그는 어제 서울에 도착했다", "그는 어제 서울에 도착하지 않았다"),
    ("숙소는 매우 깨끗합니다!", "숙소는 매우 깨끗하지 않습니다!"),
    ("공원에 사람들이 있습니다", "공원에 사람들이 없습니다"),
    ("여기서 표를 살 수 있다", "여기서 표를 살 수 없다"),
    ("오늘 날씨가 정말 좋네요", "오늘 날씨가 정말 좋지 않네요"),
    ("그 법안은 통과된다", "그 법안은 통과되지 않는다"),
])
def test_negate_turns_the_final_predicate(sentence, negated):
    assert contrasts.negate(sentence) == negated


@pytest.mark.parametrize("sentence", [
    "그는 어제 서울에 도착하지 않았다",  # already negated
    "여기에는 아무것도 없다",
    "한 남자가 기타를 친다",  # an ending no rule handles
    "있다",  # nothing before the predicate
])
def test_negate_leaves_what_it_cannot_negate_safely(sentence):
    assert contrasts.negate(sentence) is None


def test_no_ending_is_hidden_behind_a_shorter_one_it_ends_with():
    endings = [ending for ending, _ in contrasts.NEGATED_ENDINGS]
    for i, earlier in enumerate(endings):
        assert not [later for later in endings[i + 1:] if later.endswith(earlier)], earlier


def test_antonym_is_swapped_only_when_the_other_side_says_it_too():
    assert contrasts.swap_antonym("한 남자가 노래한다", "남자가 노래를 부른다") == "한 여자가 노래한다"
    assert contrasts.swap_antonym("이 식당은 맛없어요", "음식이 맛없다") == "이 식당은 맛있어요"
    assert contrasts.swap_antonym("한 남자가 노래한다", "사람이 노래를 부른다") is None
    # The other side already holds the opposite word: the swap would not contradict it.
    assert contrasts.swap_antonym("주가가 상승했다", "주가가 상승 후 하락했다") is None


def test_number_changes_only_when_shared_and_stays_plausible():
    rng = random.Random(0)
    for _ in range(20):
        changed = contrasts.change_number("회의는 3시에 시작한다", "3시에 회의가 있다", rng)
        hour = int(changed.removeprefix("회의는 ").split("시")[0])
        assert hour != 3 and 1 <= hour <= 12
    assert contrasts.change_number("2019년에 249명이 왔다", "249명이 왔다", rng).startswith("2019년에 ")
    assert contrasts.change_number("3시에 시작한다", "오후에 시작한다", rng) is None
    assert contrasts.change_number("3.5점을 받았다", "3.5점이다", rng) is None  # decimals are left alone


def test_contrast_triplets_edit_one_side_of_high_pairs_only():
    pairs = pd.DataFrame({
        "sentence1": ["한 남자가 기타를 치고 있다", "개가 공을 쫓는다", "그는 도착했다", "비가 온다"],
        "sentence2": ["남자가 기타를 연주하고 있다", "개 한 마리가 공을 쫓아간다", "그는 도착했다", "눈이 온다"],
        "score": [4.6, 4.2, 3.9, 4.0],
    })
    triplets = contrasts.contrast_triplets(pairs)
    # Row 2 is under 4.0; row 1 has no edit that applies; row 4's other side is negation-free but
    # 「온다」 has no rule.
    assert triplets.values.tolist() == [
        ["한 남자가 기타를 치고 있다", "남자가 기타를 연주하고 있다", "여자가 기타를 연주하고 있다", "antonym"]]


def test_a_negated_premise_gets_no_negated_edit():
    pairs = pd.DataFrame({"sentence1": ["그는 오지 않았다"], "sentence2": ["그는 도착하지 못했다"], "score": [4.5]})
    assert contrasts.contrast_triplets(pairs).empty


def write_korsts(path, rows):
    """A KorSTS-format TSV of (score, sentence1, sentence2) rows."""
    lines = ["genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"]
    lines += [f"main\tf\t2012\t{i}\t{score}\t{a}\t{b}" for i, (score, a, b) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_evaluate_contrasts_scores_each_high_pair_against_its_edit(pair_order_models, tmp_path):
    path = tmp_path / "dev.tsv"
    write_korsts(path, [(4.6, "한 남자가 기타를 치고 있다", "남자가 기타를 연주하고 있다"),
                        (4.2, "그는 어제 서울에 도착했다", "그가 어제 서울에 왔다"),
                        (4.8, "회의는 3시에 시작한다", "3시에 회의가 열린다"),
                        (1.0, "고양이가 잔다", "남자가 달린다")])
    outputs = tmp_path / "outputs.json"
    result = score.evaluate(score.EvaluateArgs(
        task="similarity", model=str(pair_order_models["symmetric"]), data=str(path), contrasts=True,
        save_outputs=str(outputs)))
    metrics = result["metrics"]
    assert metrics["pairs"] == 3 and result["contrasts"] is True
    assert {kind: summary["pairs"] for kind, summary in metrics["by_edit"].items()} == {
        "negation": 1, "antonym": 1, "number": 1}
    saved = json.loads(outputs.read_text())
    assert saved["label"] == [1, 1, 1, 0, 0, 0]
    drops = [a - b for a, b in zip(saved["predicted"][:3], saved["predicted"][3:])]
    assert metrics["mean_drop"] == pytest.approx(sum(drops) / 3, abs=1e-4)
    assert 0.0 <= metrics["auc"] <= 1.0


def test_evaluate_contrasts_refuses_files_without_scores(pair_order_models, tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("similarity\tsentence1\tsentence2\n1\t그는 도착했다\t그가 왔다\n", encoding="utf-8")
    with pytest.raises(ValueError, match="0/1 labels"):
        score.evaluate(score.EvaluateArgs(task="similarity", model=str(pair_order_models["symmetric"]),
                                                data=str(path), contrasts=True))
    with pytest.raises(ValueError, match="without --plots"):
        score.EvaluateArgs(task="similarity", model="m", data=str(path), contrasts=True, numeral_variants=True)


def test_self_contrast_triplets_pair_each_sentence_with_itself_and_its_edit():
    sentences = ["저는 커피를 좋아해요", "게임 재미있어.", "오늘은 안 가요", "하늘"]
    triplets = contrasts.self_contrast_triplets(sentences, seed=1)
    assert triplets[["premise", "entailed", "contradicted", "edit"]].values.tolist() == [
        ["저는 커피를 좋아해요", "저는 커피를 좋아해요", "저는 커피를 싫어해요", "antonym"],
        ["게임 재미있어.", "게임 재미있어.", "게임 재미없어.", "antonym"]]  # a negated side and no rule: left out


def test_contrast_kinds_limit_the_edits_made():
    pairs = pd.DataFrame({"sentence1": ["회의는 3시에 시작한다", "한 남자가 기타를 치고 있다"],
                          "sentence2": ["3시에 회의가 열린다", "남자가 기타를 연주하고 있다"], "score": [4.8, 4.6]})
    assert contrasts.contrast_triplets(pairs)["edit"].tolist() == ["number", "antonym"]
    # Without numbers, the meeting pair's other side is negated (「열린다」 has no rule, 「시작한다」
    # has); with negation alone, the guitar pair's 「있다」 is negated instead of the antonym.
    assert contrasts.contrast_triplets(pairs, kinds=("antonym", "negation"))["contradicted"].tolist() == [
        "회의는 3시에 시작하지 않는다", "여자가 기타를 연주하고 있다"]
    assert contrasts.contrast_triplets(pairs, kinds=("negation",))["contradicted"].tolist() == [
        "회의는 3시에 시작하지 않는다", "남자가 기타를 연주하고 있지 않다"]
