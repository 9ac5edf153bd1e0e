"""Numbers in digits or in Korean words: 「오후 세 시」 and 「오후 3시」 say the same.

The STS training pairs mostly write counted numbers in digits, so a cross-encoder learns that
「세 시」 and 「3시」 are different words. `spell_out` writes the digits before a counter in Korean
words (native numerals for 시, 명, 개 …, Sino-Korean ones for 분, 층, 원 …); `numeral_variants`
adds copies of training pairs with one side spelled out, the score unchanged; `variant_pairs`
builds the same kind of pairs from held-out data to measure how far a model's score moves.
"""
import random
import re

import pandas as pd

# Counters read with native Korean numerals up to 99 (한 시, 두 명, 스무 살); Sino-Korean above.
NATIVE_COUNTERS = ("시간", "시", "명", "개", "살", "마리", "잔", "권", "장", "달", "사람",
                   "곳", "가지", "병", "벌", "켤레", "그릇", "군데", "채", "송이")
# Counters read with Sino-Korean numerals (삼 분, 오 층, 이천 원).
SINO_COUNTERS = ("개월", "개국", "분", "초", "일", "년", "원", "층", "호", "회", "주", "세", "인분", "박",
                 "점", "위", "퍼센트", "%")
# Left out as ambiguous or irregular: 번 (「두 번」 twice, 「2번 출구」 exit 2), 대 (「차 두 대」 but
# 「4대 시설」 four major ones), 월 (유월, 시월).
SPOKEN_COUNTER = {"%": "퍼센트"}
NATIVE_UNITS = ("", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉")
NATIVE_TENS = ("", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔")
SINO_DIGITS = ("", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
SINO_PLACES = ((1000, "천"), (100, "백"), (10, "십"))
LARGEST = 9999  # beyond this, spelled numbers need 만-grouping; such numbers are left as digits
# Longest counters first, so that 시간 wins over 시 and 개월 over 개. Digits that are part of a
# decimal, a list or a time (3.5, 1,000, 10:30) are not matched.
COUNTER = "|".join(sorted(map(re.escape, NATIVE_COUNTERS + SINO_COUNTERS), key=len, reverse=True))
# 시 is no counter in 「2시즌」 or 「3시리즈」.
NUMBER_BEFORE_COUNTER = re.compile(rf"(?<![\d.,:])(\d+)(?![\d.,:])\s?({COUNTER})(?!즌|리즈)")


def native_number(n: int) -> str:
    """1–99 in native Korean numerals, in the form used before a counter (한, 스무, 서른두)."""
    if n == 20:
        return "스무"
    tens, units = divmod(n, 10)
    return NATIVE_TENS[tens] + NATIVE_UNITS[units]


def sino_number(n: int) -> str:
    """1–9999 in Sino-Korean numerals (삼, 십이, 이천이십); 1 before a place is left out (백, 천)."""
    words = []
    for place, name in SINO_PLACES:
        digit, n = divmod(n, place)
        if digit:
            words.append(("" if digit == 1 else SINO_DIGITS[digit]) + name)
    return "".join(words) + SINO_DIGITS[n]


def number_in_words(n: int, counter: str):
    """n as Korean words before counter, or None where it stays in digits (0, above LARGEST)."""
    if not 1 <= n <= LARGEST:
        return None
    if counter in NATIVE_COUNTERS and n < 100:
        return native_number(n)
    return sino_number(n)


def spell_out(text: str) -> str:
    """text with every number before a counter written in Korean words (「3시에」 → 「세 시에」)."""
    def replace(match):
        counter = match.group(2)
        words = number_in_words(int(match.group(1)), counter)
        return match.group(0) if words is None else f"{words} {SPOKEN_COUNTER.get(counter, counter)}"
    return NUMBER_BEFORE_COUNTER.sub(replace, text)


def spelled_pair(first: str, second: str, rng: random.Random):
    """The pair with one side's numbers spelled out (a random side where both have some), or None."""
    first_spelled, second_spelled = spell_out(first), spell_out(second)
    options = ([(first_spelled, second)] if first_spelled != first else []) + \
        ([(first, second_spelled)] if second_spelled != second else [])
    return rng.choice(options) if options else None


def numeral_variants(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A copy of every pair with numbers before counters, one side spelled out, the score kept."""
    rng = random.Random(seed)
    rows = []
    for row in frame.itertuples(index=False):
        pair = spelled_pair(row.sentence1, row.sentence2, rng)
        if pair:
            rows.append({**row._asdict(), "sentence1": pair[0], "sentence2": pair[1]})
    return pd.DataFrame(rows, columns=frame.columns)


def variant_pairs(frame: pd.DataFrame, seed: int = 0) -> tuple:
    """(the pairs of frame that have a number before a counter, the same pairs spelled out)."""
    variants = numeral_variants(frame.reset_index(drop=True).assign(row=range(len(frame))), seed)
    originals = frame.reset_index(drop=True).iloc[variants["row"].tolist()].reset_index(drop=True)
    return originals, variants.drop(columns="row").reset_index(drop=True)
