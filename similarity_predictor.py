"""Similarity: the cross-encoder predictor, its 0–5 grades, pair orders and number alignment."""
from korean_numbers import align_number_spellings
from model_files import SIMILARITY, serving_setting
from predictor import Predictor
from preprocessing import clean_if

SIMILAR_THRESHOLD = 3.0  # KLUE-STS binarises its 0–5 scores at 3.0
# What each whole score means in the 0–5 guideline of the training labels (KLUE-STS's; KorSTS
# follows SemEval STS, which grades alike), so 66% reads as "mostly the same, details differ".
SCORE_GRADES_KO = (
    "핵심 내용도 세부 내용도 겹치지 않습니다.",
    "핵심 내용은 다르지만 비슷한 주제를 다룹니다.",
    "핵심 내용은 다르지만 세부 내용 일부를 함께 담고 있습니다.",
    "핵심 내용은 대체로 같지만 세부 내용이 꽤 다릅니다.",
    "핵심 내용이 같고 세부 내용만 조금 다릅니다.",
    "핵심 내용과 세부 내용이 모두 같습니다.",
)


def clean_pair(first: str, second: str, cleaning: bool, align_numbers: bool) -> tuple:
    """Both sentences cleaned (if cleaning), then numbers spelled two ways in digits (if align_numbers)."""
    first, second = clean_if(first, cleaning), clean_if(second, cleaning)
    return align_number_spellings(first, second) if align_numbers else (first, second)


class SimilarityPredictor(Predictor):
    """A 0–5 similarity score for a sentence pair (a cross-encoder regression)."""

    task = SIMILARITY
    warm_up_input = ("안녕하세요", "반갑습니다")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A cross-encoder reads "A then B" and "B then A" a little differently; a model whose
        # export measured the mean of both orders better says "symmetric": true in serving.json.
        # It also makes the answer independent of which box a user typed each sentence in.
        self.symmetric = bool(serving_setting(self.serving_info, "symmetric"))
        # 「세 시」 on one side and 「3시」 on the other name one number; a model trained on pairs
        # that mostly write digits reads them as different words. "align_numbers": true in
        # serving.json writes such numbers in digits on both sides before scoring.
        self.align_numbers = bool(serving_setting(self.serving_info, "align_numbers"))

    def describe(self) -> dict:
        """The base description plus whether both pair orders are scored and numbers aligned."""
        return {**super().describe(), "symmetric": self.symmetric, "align_numbers": self.align_numbers}

    def clean_pair(self, first: str, second: str) -> tuple:
        """Both sentences as this model reads them (see clean_pair)."""
        return clean_pair(first, second, self.cleaning, self.align_numbers)

    def encode(self, pairs) -> list:
        """Each (sentence1, sentence2) pair cleaned and tokenized together (and swapped)."""
        cleaned = [self.clean_pair(a, b) for a, b in pairs]
        first = [a for a, _ in cleaned]
        second = [b for _, b in cleaned]
        encoded = self.tokenize([[a, b] for a, b in zip(first, second)], first, second)
        if self.symmetric:
            swapped = self.tokenize([[b, a] for a, b in zip(first, second)], second, first)
            for item, other in zip(encoded, swapped):
                item.swapped = other
                item.truncated = item.truncated or other.truncated
        return encoded

    def rows(self, encoded) -> list:
        """Each pair, then its swapped order when both are scored."""
        if not self.symmetric:
            return encoded
        return [row for item in encoded for row in (item, item.swapped)]

    def merge(self, encoded, logits) -> list:
        """The mean of each pair's two orders when both are scored."""
        if not self.symmetric:
            return logits
        return [(logits[i] + logits[i + 1]) / 2 for i in range(0, len(logits), 2)]

    def postprocess(self, encoded, logits) -> dict:
        """Raw regression output → clamped score, percent and verdict."""
        score = min(max(logits[0].item(), 0.0), 5.0)
        percent = round(score / 5 * 100)
        grade = int(score)  # the guideline's whole grade at or below: 2.9 is 2, so 비유사 agrees
        return {"score": score, "percent": percent, "similar": score >= SIMILAR_THRESHOLD,
                "message": f"유사도는 {percent}% 입니다", "grade": grade,
                "grade_ko": SCORE_GRADES_KO[grade],
                "cleaned": encoded.cleaned, "truncated": encoded.truncated}
