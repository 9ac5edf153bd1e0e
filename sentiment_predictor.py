"""Sentiment: the predictor (with its optional n-gram ensemble), label names, word explanations."""
import itertools

import torch

from model_errors import ModelLoadError
from model_files import NGRAM_FILE, SENTIMENT, serving_setting
from predictor import Predictor

LABELS_KO = {"negative": "부정", "positive": "긍정"}
CONTRACT_LABELS = ("negative", "positive")
# Sentiment label names published models use, each (negative, positive), lower-cased. "0"/"1"
# and LABEL_0/LABEL_1 follow NSMC, where 1 is positive (as in daekeun-ml/koelectra-small-v3-nsmc).
LABEL_SCHEMES = (("0", "1"), ("label_0", "label_1"), ("negative", "positive"), ("neg", "pos"),
                 ("부정", "긍정"))


def sentiment_label_names(config, configured=None) -> list:
    """The contract's names (negative/positive) by class index, from config.id2label or configured."""
    if isinstance(configured, str):  # FLASK_SENTIMENT_LABELS=positive,negative
        configured = configured.split(",")
    elif configured is not None and not isinstance(configured, (list, tuple)):
        configured = [configured]  # a number or an object: refused below, as it was given
    names = configured if configured is not None else [config.id2label[i]
                                                       for i in range(config.num_labels)]
    names = [str(name).strip().lower() for name in names]
    for scheme in LABEL_SCHEMES:
        if len(names) == 2 and set(names) == set(scheme):
            return [CONTRACT_LABELS[scheme.index(name)] for name in names]
    source = "SENTIMENT_LABELS" if configured is not None else "its config.id2label"
    raise ModelLoadError(
        f"cannot tell negative from positive in {source} {names}: known label schemes are "
        f"{', '.join('/'.join(scheme) for scheme in LABEL_SCHEMES)} (any case); set "
        "FLASK_SENTIMENT_LABELS to the names by class index, e.g. '[\"positive\", \"negative\"]'")


class SentimentPredictor(Predictor):
    """Positive/negative with probabilities, label names from config.id2label."""

    task = SENTIMENT
    warm_up_input = "안녕하세요"

    def __init__(self, *args, labels=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = sentiment_label_names(self.config, labels)
        # An ensemble (serving.json `ngram_weight`): P(positive) mixes in the n-gram model saved
        # beside the weights, at that weight.
        self.ngram_weight = float(serving_setting(self.serving_info, "ngram_weight"))
        self.ngram = None
        if self.ngram_weight:
            import ngrams  # scikit-learn only for a model that needs it
            self.ngram = ngrams.load_if_present(self.directory)
        if self.ngram_weight and self.ngram is None:
            raise ModelLoadError(f"serving.json mixes in an n-gram model at weight {self.ngram_weight}, "
                                 f"but there is no {NGRAM_FILE} beside the weights")

    def describe(self) -> dict:
        """As Predictor's, plus the n-gram member's weight (0: the model alone)."""
        return {**super().describe(), "ngram_weight": self.ngram_weight}

    def encode(self, texts) -> list:
        """Each text cleaned and tokenized (and scored by the n-gram member, if any)."""
        cleaned = [self.clean(text) for text in texts]
        encoded = self.tokenize(cleaned, cleaned)
        if self.ngram is not None and encoded:
            for item, positive in zip(encoded, self.ngram.positive_probability(cleaned)):
                item.ngram_positive = float(positive)
        return encoded

    def probabilities(self, encoded, logits) -> list:
        """Class probabilities: the model's softmax, mixed with the n-gram member's if any."""
        probs = torch.softmax(logits, dim=-1).tolist()
        if encoded.ngram_positive is None:
            return probs
        positive = self.labels.index("positive")
        mixed = (1 - self.ngram_weight) * probs[positive] + self.ngram_weight * encoded.ngram_positive
        return [mixed if i == positive else 1.0 - mixed for i in range(len(probs))]

    def postprocess(self, encoded, logits) -> dict:
        """Logits of one text → label, Korean label, probabilities."""
        probs = self.probabilities(encoded, logits)
        best = max(range(len(probs)), key=probs.__getitem__)
        label = self.labels[best]
        return {"label": label, "label_ko": LABELS_KO.get(label, label),
                "score": probs[best],
                "probabilities": dict(zip(self.labels, probs)),
                "cleaned": encoded.cleaned, "truncated": encoded.truncated}


# Word explanations (serving.predict_explained): how much P(positive) moves without each word.
def leave_one_out(cleaned, max_words) -> tuple:
    """The words of a cleaned text, and the text without each of its first max_words words."""
    words = cleaned.split()
    variants = [" ".join(words[:i] + words[i + 1:]) for i in range(min(len(words), max_words))]
    return words, variants


def word_contributions(words, full, without) -> list:
    """Per word, the positive probability with it minus without it (None past the cap)."""
    base = full["probabilities"]["positive"]
    changes = [base - result["probabilities"]["positive"] for result in without]
    return [{"word": word, "contribution": change}
            for word, change in itertools.zip_longest(words, changes)]
