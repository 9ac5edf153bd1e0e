"""Training and evaluation pairs with numbers in Korean words (training.data.numerals)."""
import random

import pandas as pd

from training.data import numerals


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
