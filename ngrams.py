"""A hashed word + character n-gram sentiment model: P(positive) from TF-IDF and logistic regression.

It sits beside the ELECTRA sentiment model in a model directory (`ngram.safetensors`) when the
two are served as an ensemble: the n-gram model catches slang forms and spelling variants that the
encoder's pieces split up, and their mean was measured better than either alone. Features are
hashed (scikit-learn's HashingVectorizer), so the file holds arrays only (the IDF weights, the
coefficients), no vocabulary: a few MB of fp16 in safetensors, like the rest of the directory.
"""
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from model_files import NGRAM_FILE
from preprocessing import clean_if

N_FEATURES = 2 ** 20  # per analyzer; collisions cost little at NSMC's few million n-grams


class HashedNgramModel:
    """Word 1–word_max-grams and char_wb 1–char_max-grams, sublinear TF-IDF each, one logistic regression."""

    def __init__(self, word_max=2, char_max=4, n_features=N_FEATURES, clean=True):
        self.word_max, self.char_max, self.n_features, self.clean = word_max, char_max, n_features, clean
        self.vectorizers = (
            HashingVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=(1, word_max),
                              n_features=n_features, alternate_sign=False, norm=None),
            HashingVectorizer(analyzer="char_wb", ngram_range=(1, char_max),
                              n_features=n_features, alternate_sign=False, norm=None))
        self.idf = self.coef = None
        self.intercept = 0.0

    def settings(self) -> dict:
        """What rebuilds the vectorizers (kept in the file's metadata)."""
        return {"word_max": self.word_max, "char_max": self.char_max,
                "n_features": self.n_features, "clean": self.clean}

    def counts(self, texts) -> list:
        """Sublinear term frequencies (1 + log tf) of each analyzer, as CSR matrices."""
        texts = [clean_if(text, self.clean) for text in texts]
        matrices = []
        for vectorizer in self.vectorizers:
            matrix = vectorizer.transform(texts).astype(np.float32).tocsr()
            np.log(matrix.data, out=matrix.data)
            matrix.data += 1.0
            matrices.append(matrix)
        return matrices

    def features(self, texts) -> sparse.csr_matrix:
        """TF-IDF rows, each analyzer's part L2-normalised, side by side."""
        return sparse.hstack(self.weighted(self.counts(texts)), format="csr")

    def weighted(self, matrices) -> list:
        """Each analyzer's counts times its IDF, rows L2-normalised (in place, CSR)."""
        for matrix, idf in zip(matrices, self.idf):
            matrix.data *= idf[matrix.indices]
            matrix.eliminate_zeros()  # n-grams dropped by min_df
            normalize(matrix, copy=False)
        return matrices

    def fit(self, texts, labels, C=3.0, min_df=2):
        """Fit IDF (smoothed, as scikit-learn's; n-grams in fewer than min_df texts dropped) and the regression."""
        matrices = self.counts(texts)
        rows = len(texts)
        self.idf = []
        for matrix in matrices:
            df = np.bincount(matrix.indices, minlength=self.n_features)
            idf = (np.log((1 + rows) / (1 + df)) + 1).astype(np.float32)
            idf[df < min_df] = 0.0  # a hashed stand-in for TfidfVectorizer's min_df
            self.idf.append(idf)
        regression = LogisticRegression(C=C, max_iter=1000).fit(self.features(texts), labels)
        positive = list(regression.classes_).index(1)
        sign = 1.0 if positive == 1 else -1.0
        self.coef = (sign * regression.coef_[0]).astype(np.float32)
        self.intercept = float(sign * regression.intercept_[0])
        return self

    def positive_probability(self, texts) -> np.ndarray:
        """P(positive) for each text."""
        if not len(texts):
            return np.zeros(0)
        parts = self.weighted(self.counts(texts))
        # The coefficients are the two analyzers' blocks side by side, as in features().
        logits = sum(part @ self.coef[i * self.n_features:(i + 1) * self.n_features]
                     for i, part in enumerate(parts)) + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def save(self, path):
        """fp16 arrays in one safetensors file; the settings in its metadata."""
        tensors = {"word_idf": self.idf[0], "char_idf": self.idf[1], "coef": self.coef,
                   "intercept": np.array([self.intercept], dtype=np.float32)}
        tensors = {name: array.astype(np.float16) for name, array in tensors.items()}
        save_file(tensors, str(path), metadata={"settings": json.dumps(self.settings())})

    @classmethod
    def load(cls, path) -> "HashedNgramModel":
        """A model written by save()."""
        from safetensors import safe_open
        with safe_open(str(path), framework="numpy") as handle:
            settings = json.loads(handle.metadata()["settings"])
        tensors = {name: array.astype(np.float32) for name, array in load_file(str(path)).items()}
        model = cls(**settings)
        model.idf = [tensors["word_idf"], tensors["char_idf"]]
        model.coef, model.intercept = tensors["coef"], float(tensors["intercept"][0])
        return model


def load_if_present(directory):
    """The n-gram model saved in a model directory, or None."""
    path = Path(directory) / NGRAM_FILE if directory else None
    return HashedNgramModel.load(path) if path and path.is_file() else None
