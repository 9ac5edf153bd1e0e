"""Numbers in digits or in Korean words (training.numerals): spelling and the variant pairs."""
import random

import pandas as pd
import pytest

from training import numerals


@pytest.mark.parametrize("text, spelled", [
    ("내일 오후 3시에 회의가 열립니다", "내일 오후 세 시에 회의가 열립니다"),
    ("3시간 동안", "세 시간 동안"),            # 시간 before 시
    ("20살 대학생", "스무 살 대학생"),
    ("소 21마리", "소 스물한 마리"),
    ("249명을 뽑는다", "이백사십구 명을 뽑는다"),  # above 99: Sino-Korean, even for 명
    ("21개국", "이십일 개국"),                # 개국 before 개
    ("5000원에 관람", "오천 원에 관람"),
    ("2020년 3개월", "이천이십 년 삼 개월"),
    ("30% 할인", "삼십 퍼센트 할인"),
    ("100명", "백 명"),
])
def test_spell_out_writes_numbers_before_counters_in_words(text, spelled):
    assert numerals.spell_out(text) == spelled


@pytest.mark.parametrize("text", ["3.5% 올랐다", "10:30에 만나", "1,000원", "0개", "12000원", "2시즌",
                                  "4대 밀집시설", "2번 출구", "6월", "숫자 없는 문장"])
def test_spell_out_leaves_decimals_lists_and_ambiguous_counters_alone(text):
    assert numerals.spell_out(text) == text


def test_native_and_sino_numbers():
    assert [numerals.native_number(n) for n in (1, 2, 3, 4, 10, 11, 20, 25, 99)] == [
        "한", "두", "세", "네", "열", "열한", "스무", "스물다섯", "아흔아홉"]
    assert [numerals.sino_number(n) for n in (1, 10, 12, 100, 105, 1000, 2020, 9999)] == [
        "일", "십", "십이", "백", "백오", "천", "이천이십", "구천구백구십구"]


PAIRS = pd.DataFrame({"sentence1": ["고양이 3마리", "숫자 없음", "2명", "비 온다"],
                      "sentence2": ["고양이 세 마리", "여전히 없음", "5개", "해 뜬다"],
                      "score": [5.0, 1.0, 0.5, 2.0]})


def test_numeral_variants_spell_out_one_side_of_pairs_with_numbers_and_keep_the_score():
    variants = numerals.numeral_variants(PAIRS, seed=0)
    assert variants["score"].tolist() == [5.0, 0.5]
    assert variants.iloc[0].tolist()[:2] == ["고양이 세 마리", "고양이 세 마리"]
    both_sides = {tuple(numerals.numeral_variants(PAIRS, seed).iloc[1][:2]) for seed in range(20)}
    assert both_sides == {("두 명", "5개"), ("2명", "다섯 개")}  # one side at a time, either side


def test_variant_pairs_line_up_with_the_pairs_they_come_from():
    originals, variants = numerals.variant_pairs(PAIRS)
    assert originals["sentence1"].tolist() == ["고양이 3마리", "2명"]
    assert len(variants) == 2 and variants["score"].tolist() == originals["score"].tolist()
    for (first, second), (spelled_first, spelled_second) in zip(
            originals[["sentence1", "sentence2"]].values, variants[["sentence1", "sentence2"]].values):
        assert numerals.spelled_pair(first, second, random.Random(0)) is not None
        assert (first == spelled_first) != (second == spelled_second)  # exactly one side changed
