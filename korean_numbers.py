"""Numbers in digits or in Korean words: 「오후 세 시」 and 「오후 3시」 say the same.

`spell_out` writes the digits before a counter in Korean words (native numerals for 시, 명, 개 …,
Sino-Korean ones for 분, 층, 원 …). `align_number_spellings` goes the other way for a sentence
pair: where one side has 「3시」 and the other 「세 시」, the words become 「3시」, so the model reads
one spelling. Serving uses it (no pandas here); training.data.numerals builds training pairs from it.
"""
import re

# Counters read with native Korean numerals up to 99 (한 시, 두 명, 스무 살); Sino-Korean above.
NATIVE_COUNTERS = ("시간", "시", "명", "개", "살", "마리", "잔", "권", "장", "달", "사람",
                   "곳", "가지", "병", "벌", "켤레", "그릇", "군데", "채", "송이")
# Counters read with Sino-Korean numerals (삼 분, 오 층, 이천 원).
SINO_COUNTERS = ("개월", "개국", "분", "초", "일", "년", "원", "층", "호", "회", "주", "세", "인분", "박",
                 "점", "위", "퍼센트", "%")
# Left out as ambiguous or irregular: 번 (「두 번」 twice, 「2번 출구」 exit 2), 대 (「차 두 대」 but
# 「4대 시설」 four major ones), 월 (유월, 시월).
SPOKEN_COUNTER = {"%": "퍼센트"}
# Numbers in words that are also everyday words before these counters: 「이 분」 "this person",
# 「이 주」 "this week". Pairs are not aligned on them.
DEMONSTRATIVES = ("이",)
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


def digits_as_in(text: str, other: str) -> str:
    """text with each number in words that other writes in digits (before the same counter) in digits.

    Only numbers the other sentence has in digits are rewritten, so a word that merely looks like a
    numeral (「문을 열 시간」: 열 "to open", not ten) changes only if the other side says 「10시」.
    """
    for match in NUMBER_BEFORE_COUNTER.finditer(other):
        counter = match.group(2)
        words = number_in_words(int(match.group(1)), counter)
        if words is None or words in DEMONSTRATIVES:
            continue
        # Not inside a longer number or word: 「스물두 명」 is not 「두 명」, 「3천 분」 not 「천 분」.
        spoken = SPOKEN_COUNTER.get(counter, counter)
        spelled = re.compile(rf"(?<![가-힣\d]){re.escape(words)} ?{re.escape(spoken)}")
        text = spelled.sub(match.group(0), text)
    return text


def align_number_spellings(first: str, second: str) -> tuple:
    """The pair with numbers that one side writes in words and the other in digits, in digits on both."""
    return digits_as_in(first, second), digits_as_in(second, first)
