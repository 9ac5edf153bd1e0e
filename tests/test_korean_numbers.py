"""Numbers in digits or in Korean words (korean_numbers): spelling, and aligning a pair's spellings."""
import pytest

import korean_numbers
from korean_numbers import align_number_spellings


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
    assert korean_numbers.spell_out(text) == spelled


@pytest.mark.parametrize("text", ["3.5% 올랐다", "10:30에 만나", "1,000원", "0개", "12000원", "2시즌",
                                  "4대 밀집시설", "2번 출구", "6월", "숫자 없는 문장"])
def test_spell_out_leaves_decimals_lists_and_ambiguous_counters_alone(text):
    assert korean_numbers.spell_out(text) == text


def test_native_and_sino_numbers():
    assert [korean_numbers.native_number(n) for n in (1, 2, 3, 4, 10, 11, 20, 25, 99)] == [
        "한", "두", "세", "네", "열", "열한", "스무", "스물다섯", "아흔아홉"]
    assert [korean_numbers.sino_number(n) for n in (1, 10, 12, 100, 105, 1000, 2020, 9999)] == [
        "일", "십", "십이", "백", "백오", "천", "이천이십", "구천구백구십구"]


@pytest.mark.parametrize("first, second, aligned", [
    # The page's meeting example: words on one side, digits on the other → digits on both.
    ("회의는 내일 오후 세 시에 시작합니다", "내일 오후 3시에 회의가 열립니다",
     ("회의는 내일 오후 3시에 시작합니다", "내일 오후 3시에 회의가 열립니다")),
    ("방이 3개 있어요", "방이 세 개 있어요", ("방이 3개 있어요", "방이 3개 있어요")),  # either side
    ("침대 두개", "2개의 침대", ("침대 2개", "2개의 침대")),                          # no space
    ("이백사십구 명을 뽑는다", "249명 선발", ("249명을 뽑는다", "249명 선발")),
    ("삼십 퍼센트 할인", "30% 할인", ("30% 할인", "30% 할인")),                      # spoken %
    ("3시와 열 시", "세 시와 10시", ("3시와 10시", "3시와 10시")),                    # both ways
])
def test_align_number_spellings_writes_a_number_spelled_both_ways_in_digits(first, second, aligned):
    assert align_number_spellings(first, second) == aligned


@pytest.mark.parametrize("first, second", [
    ("회의는 세 시에 시작합니다", "회의는 열 시에 시작합니다"),  # both in words: one spelling already
    ("회의는 세 시에 시작합니다", "회의는 10시에 시작합니다"),   # different numbers stay different
    ("문을 열 시간이다", "3시간 뒤에 보자"),                   # 열 "to open": no 10 on the other side
    ("스물두 명이 왔다", "2명이 왔다"),                        # 두 inside 스물두 is not 2
    ("3천분의 1", "1000분의 1"),                              # 천 after a digit is part of 3천
    ("이 분이 선생님이세요", "2분만 기다려 주세요"),            # 이 분 "this person", not 2 minutes
    ("오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요"),  # no numbers
])
def test_align_number_spellings_leaves_other_pairs_alone(first, second):
    assert align_number_spellings(first, second) == (first, second)
