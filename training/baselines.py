"""Linear reference baselines, scored in the same JSON format as training.evaluate.

    python -m training.baselines --task sentiment    # char_wb 1–4-gram TF-IDF + logistic regression
    python -m training.baselines --task similarity   # char_wb 1–3-gram TF-IDF cosine
"""
import json
import time
from dataclasses import dataclass, field

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import paired_cosine_distances
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline, make_union
from transformers import HfArgumentParser

from preprocessing import clean_if
from training import data
from training.metrics import sentiment_metrics, similarity_metrics


@dataclass
class BaselineArgs:
    task: str = field(metadata={"help": "sentiment or similarity."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    eval_file: str = field(default=None, metadata={"help": "File to score (default NSMC test / KorSTS dev)."})
    clean: bool = field(default=True, metadata={"help": "Apply preprocessing.clean() first."})
    held_out: bool = field(default=False, metadata={"help": "Score only the fixed held-out tenth of a KLUE-STS train file."})
    max_ngram: int = field(default=0, metadata={"help": "Longest char n-gram (default 4 sentiment, 3 similarity)."})


def tfidf(max_ngram) -> TfidfVectorizer:
    """Character n-grams inside word boundaries, sublinear term frequencies."""
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, max_ngram), sublinear_tf=True, min_df=2)


def sentiment_classifier(max_ngram=4):
    """Char n-gram TF-IDF followed by logistic regression, as one scikit-learn pipeline."""
    return make_pipeline(tfidf(max_ngram), LogisticRegression(C=3.0, max_iter=1000))


def ngram_classifier(word_max=2, char_max=4, C=3.0):
    """Word 1–word_max-grams and char_wb 1–char_max-grams, TF-IDF each, one logistic regression.

    Words catch whole slang forms and short phrases ("노잼", "돈 아깝다") that character n-grams
    inside one word cannot join across the space; characters catch spelling variants.
    """
    words = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=(1, word_max),
                            sublinear_tf=True, min_df=2)
    return make_pipeline(make_union(words, tfidf(char_max)), LogisticRegression(C=C, max_iter=1000))


def sentiment_baseline(args, root, evaluation) -> dict:
    """Logistic regression on char n-grams, trained on all of NSMC train."""
    train = data.load_nsmc(root / "nsmc" / "ratings_train.txt")
    classifier = sentiment_classifier(args.max_ngram or 4)
    classifier.fit([clean_if(t, args.clean) for t in train["text"]], train["label"])
    predicted = classifier.predict([clean_if(t, args.clean) for t in evaluation["text"]])
    return sentiment_metrics(evaluation["label"].tolist(), predicted.tolist())


def out_of_fold_probabilities(texts, labels, folds=5, seed=42, classifier=None):
    """Class probabilities of the sentiment baseline for each text, from a model that never saw it.

    Each fold is scored by a classifier fitted on the other folds, so the probabilities are as
    uncertain as on unseen text (a teacher's soft labels for distillation). classifier: an
    unfitted scikit-learn estimator (default the char n-gram baseline), cloned for each fold.
    """
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(classifier or sentiment_classifier(), list(texts), list(labels),
                             cv=splitter, method="predict_proba")


def fit_cosine_scorer(train, cleaning=True, max_ngram=3):
    """A function scoring sentence pairs 0–5: cosine of char n-gram TF-IDF fitted on train's pairs."""
    vectorizer = tfidf(max_ngram)
    vectorizer.fit([clean_if(t, cleaning) for t in list(train["sentence1"]) + list(train["sentence2"])])

    def score(first, second):
        first = vectorizer.transform([clean_if(t, cleaning) for t in first])
        second = vectorizer.transform([clean_if(t, cleaning) for t in second])
        return 5 * (1 - paired_cosine_distances(first, second))
    return score


def similarity_baseline(args, root, evaluation) -> dict:
    """Cosine of char n-gram TF-IDF vectors fitted on KorSTS train, scaled to 0–5."""
    score = fit_cosine_scorer(data.load_korsts(root / "korsts" / "sts-train.tsv"), args.clean,
                              args.max_ngram or 3)
    predicted = score(evaluation["sentence1"], evaluation["sentence2"])
    return similarity_metrics(evaluation["score"].tolist(), predicted.tolist())


def main(argv=None):
    """Fit the baseline and print its metrics as JSON."""
    (args,) = HfArgumentParser(BaselineArgs).parse_args_into_dataclasses(argv)
    root = data.data_dir(args.data_dir)
    default = root / ("nsmc/ratings_test.txt" if args.task == "sentiment" else "korsts/sts-dev.tsv")
    eval_file = args.eval_file or str(default)
    evaluation = data.load_eval_data(args.task, eval_file, args.held_out)
    started = time.time()
    run = sentiment_baseline if args.task == "sentiment" else similarity_baseline
    metrics = run(args, root, evaluation)
    name = "tfidf-char-logreg" if args.task == "sentiment" else "tfidf-char-cosine"
    print(json.dumps({"task": args.task, "model": name, "data": eval_file, "held_out": args.held_out,
                      "clean": args.clean,
                      "metrics": metrics, "seconds": round(time.time() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
