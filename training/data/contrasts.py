"""Meaning-flipping edits of STS pairs: 「도착했다」 → 「도착하지 않았다」, 남자 → 여자, 3 → 7.

A cross-encoder trained on STS pairs learns that shared words mean similar sentences, so
「저는 커피를 좋아해요」 / 「저는 커피를 싫어해요」 reads as nearly the same. `contrast_triplets` takes
the pairs scored 4 or more and edits one side so that it no longer says what the other does:
a sentence-final predicate negated, one word of an antonym pair swapped, or a number changed. The
edit touches only what the other side also says (the same antonym word, the same number), and
sides that already hold a negation are left alone. Each kept pair gives a triplet in the columns
of `sources.nli_triplets` (premise: the unedited side, entailed: the other side as written,
contradicted: the edited one), plus the kind of edit. A mix's `ranking.contrasts` (training.data.mix) adds them to
the ranking loss: the edit must score a margin below the original, whatever both score.
`self_contrast_triplets` does the same for single everyday sentences against themselves
(`ranking.everyday`).
`evaluate --contrasts` makes the same edits of held-out pairs and measures how far scores drop. The edits are simple
string rules, checked on the endings they handle; anything else is left out, not guessed.
"""
import random
import re

import pandas as pd

NEGATION_MARKERS = ("않", "없", "못", "아니", "안 ", "말고", "마라", "마세요")
# Sentence-final predicates and their negation. The first match wins, so an ending stands before
# any shorter one it ends with (고 있다 before 있다).
NEGATED_ENDINGS = (
    ("고 있습니다", "고 있지 않습니다"), ("고 있어요", "고 있지 않아요"), ("고 있다", "고 있지 않다"),
    ("수 있습니다", "수 없습니다"), ("수 있어요", "수 없어요"), ("수 있다", "수 없다"),
    ("있습니다", "없습니다"), ("있어요", "없어요"), ("있다", "없다"),
    ("했습니다", "하지 않았습니다"), ("했어요", "하지 않았어요"), ("했다", "하지 않았다"),
    ("합니다", "하지 않습니다"), ("해요", "하지 않아요"), ("한다", "하지 않는다"),
    ("됐습니다", "되지 않았습니다"), ("되었습니다", "되지 않았습니다"), ("됩니다", "되지 않습니다"),
    ("됐다", "되지 않았다"), ("되었다", "되지 않았다"), ("된다", "되지 않는다"),
    ("좋았습니다", "좋지 않았습니다"), ("좋았어요", "좋지 않았어요"), ("좋았다", "좋지 않았다"),
    ("좋습니다", "좋지 않습니다"), ("좋아요", "좋지 않아요"), ("좋네요", "좋지 않네요"), ("좋다", "좋지 않다"),
)
# Word pairs of opposite meaning whose forms conjugate alike, so either replaces the other in
# place. Left out: words with a second meaning (부정 is also fraud, 이전 also relocation) and
# pairs whose endings differ (크다/작다: 큰, 작은).
ANTONYMS = (
    ("맛있", "맛없"), ("재미있", "재미없"), ("좋아하", "싫어하"), ("좋아해", "싫어해"), ("좋아했", "싫어했"),
    ("남자", "여자"), ("증가", "감소"), ("상승", "하락"), ("성공", "실패"), ("찬성", "반대"),
    ("승리", "패배"), ("허용", "금지"), ("최대", "최소"), ("최고", "최저"), ("흑자", "적자"),
    ("유죄", "무죄"), ("높은", "낮은"), ("높다", "낮다"), ("높아", "낮아"), ("높게", "낮게"),
    ("더운", "추운"), ("덥다", "춥다"), ("빠른", "느린"), ("빠르게", "느리게"), ("쉬운", "어려운"),
    ("오른쪽", "왼쪽"),
)
EDIT_KINDS = ("antonym", "number", "negation")  # tried in this order; the first that applies wins
TRAILING = re.compile(r"[\s.!?~]*$")
WHOLE_NUMBER = re.compile(r"(?<![\d.,])\d+(?![\d.,])")


def negate(sentence):
    """The sentence with its final predicate negated, or None when no rule fits."""
    if any(marker in sentence for marker in NEGATION_MARKERS):
        return None
    tail = TRAILING.search(sentence).group()
    body = sentence[:len(sentence) - len(tail)]
    for ending, negated in NEGATED_ENDINGS:
        if body.endswith(ending) and len(body) > len(ending):
            return body[:-len(ending)] + negated + tail
    return None


def swap_antonym(sentence, other):
    """sentence with an antonym word it shares with other swapped for its opposite, or None."""
    for first, second in ANTONYMS:
        for word, opposite in ((first, second), (second, first)):
            if word in sentence and word in other and opposite not in other:
                return sentence.replace(word, opposite)
    return None


def other_number(number, rng) -> int:
    """A different number of the same kind: 1–12 for small ones (months, hours), else a bit more."""
    if number <= 12:
        return rng.choice([n for n in range(1, 13) if n != number])
    return number + rng.randint(1, 9)


def change_number(sentence, other, rng):
    """sentence with a whole number it shares with other changed to another, or None."""
    shared = set(WHOLE_NUMBER.findall(other))
    for match in WHOLE_NUMBER.finditer(sentence):
        if match.group() in shared:
            changed = str(other_number(int(match.group()), rng))
            return sentence[:match.start()] + changed + sentence[match.end():]
    return None


def contrast(sentence, other, rng, kinds=EDIT_KINDS):
    """(kind, edited sentence) of the first edit of kinds (in EDIT_KINDS order) that applies; None when none does."""
    if any(marker in other for marker in NEGATION_MARKERS):
        return None  # a negated premise could agree with the negated edit
    edits = {"antonym": lambda: swap_antonym(sentence, other),
             "number": lambda: change_number(sentence, other, rng),
             "negation": lambda: negate(sentence)}
    for kind in (kind for kind in EDIT_KINDS if kind in kinds):
        result = edits[kind]()
        if result and result != sentence:
            return kind, result
    return None


def contrast_triplets(pairs, min_score=4.0, seed=42, kinds=EDIT_KINDS) -> pd.DataFrame:
    """Triplets (premise, entailed, contradicted, and the edit's kind) from the pairs scored
    min_score or more: the second sentence edited when an edit applies, else the first."""
    rng = random.Random(seed)
    rows = []
    for first, second, score in zip(pairs["sentence1"], pairs["sentence2"], pairs["score"]):
        if score < min_score:
            continue
        for premise, hypothesis in ((first, second), (second, first)):
            found = contrast(hypothesis, premise, rng, kinds)
            if found:
                rows.append((premise, hypothesis, found[1], found[0]))
                break
    return pd.DataFrame(rows, columns=["premise", "entailed", "contradicted", "edit"])


def self_contrast_triplets(sentences, seed=42, kinds=EDIT_KINDS) -> pd.DataFrame:
    """Triplets of a sentence against itself: (sentence, sentence) must score above (sentence,
    its edit). Everyday utterances say 「좋아해요」 and 「재미있어」 far more than STS's news and
    captions do, so these put the edits in the register people type into the page."""
    rng = random.Random(seed)
    rows = [(sentence, sentence, found[1], found[0]) for sentence in sentences
            if (found := contrast(sentence, sentence, rng, kinds))]
    return pd.DataFrame(rows, columns=["premise", "entailed", "contradicted", "edit"])
