"""Linear reference baselines, scored in the same JSON format as training.evaluate.score.

    python -m training.evaluate.baselines --task sentiment    # char_wb 1–4-gram TF-IDF + logistic regression
    python -m training.evaluate.baselines --task similarity   # char_wb 1–3-gram TF-IDF cosine
"""
import json
import time
from dataclasses import dataclass, field

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import paired_cosine_distances
from sklearn.pipeline import make_pipeline
from transformers import HfArgumentParser

from preprocessing import clean_if
from training.data import sources
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


def sentiment_baseline(args, root, evaluation) -> dict:
    """Logistic regression on char n-grams, trained on all of NSMC train."""
    train = sources.load_nsmc(root / "nsmc" / "ratings_train.txt")
    classifier = sentiment_classifier(args.max_ngram or 4)
    classifier.fit([clean_if(t, args.clean) for t in train["text"]], train["label"])
    predicted = classifier.predict([clean_if(t, args.clean) for t in evaluation["text"]])
    return sentiment_metrics(evaluation["label"].tolist(), predicted.tolist())


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
    score = fit_cosine_scorer(sources.load_korsts(root / "korsts" / "sts-train.tsv"), args.clean,
                              args.max_ngram or 3)
    predicted = score(evaluation["sentence1"], evaluation["sentence2"])
    return similarity_metrics(evaluation["score"].tolist(), predicted.tolist())


def main(argv=None):
    """Fit the baseline and print its metrics as JSON."""
    (args,) = HfArgumentParser(BaselineArgs).parse_args_into_dataclasses(argv)
    root = sources.data_dir(args.data_dir)
    default = root / ("nsmc/ratings_test.txt" if args.task == "sentiment" else "korsts/sts-dev.tsv")
    eval_file = args.eval_file or str(default)
    evaluation = sources.load_eval_data(args.task, eval_file, args.held_out)
    started = time.time()
    run = sentiment_baseline if args.task == "sentiment" else similarity_baseline
    metrics = run(args, root, evaluation)
    name = "tfidf-char-logreg" if args.task == "sentiment" else "tfidf-char-cosine"
    print(json.dumps({"task": args.task, "model": name, "data": eval_file, "held_out": args.held_out,
                      "clean": args.clean,
                      "metrics": metrics, "seconds": round(time.time() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
