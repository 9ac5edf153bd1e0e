"""Fit the word + character n-gram teacher on the NSMC train split and save it for pseudo-labeling.

    python -m training.ngram --out runs/ngram-teacher.joblib     # reports its dev accuracy

The same classifier gives `training.finetune --distill_teacher word_char` its out-of-fold soft
labels; this saved copy, fitted on the whole train split, labels text it never saw (the dev split
for its report, and the unlabeled corpus through `training.teacher.TeacherEnsemble`).
"""
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import joblib

from preprocessing import clean_if
from training.arguments import parse_with_config
from training.baselines import ngram_classifier
from training.dedup import nsmc_split
from training.metrics import sentiment_metrics


@dataclass
class NgramArgs:
    out: str = field(default="runs/ngram-teacher.joblib", metadata={"help": "Where to save the fitted model (joblib)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    clean: bool = field(default=True, metadata={"help": "Apply preprocessing.clean() to texts first."})
    word_max: int = field(default=2, metadata={"help": "Longest word n-gram."})
    char_max: int = field(default=4, metadata={"help": "Longest character n-gram (inside word boundaries)."})
    C: float = field(default=3.0, metadata={"help": "Inverse regularisation strength of the logistic regression."})
    max_train_examples: int = field(default=0, metadata={"help": "Fit on only this many training reviews (0 = all)."})


def fit(args: NgramArgs) -> dict:
    """Fit on the train split, score the dev split, save {pipeline, clean, args}; return the report."""
    started = time.time()
    train, dev = nsmc_split(args.data_dir)
    if args.max_train_examples:
        train = train.iloc[:args.max_train_examples]
    pipeline = ngram_classifier(args.word_max, args.char_max, args.C)
    pipeline.fit([clean_if(text, args.clean) for text in train["text"]], train["label"])
    model = {"pipeline": pipeline, "clean": args.clean, "args": asdict(args)}
    predicted = positive_probability(model, dev["text"]) >= 0.5
    report = {"model": "ngram-word-char-logreg", "dev": sentiment_metrics(dev["label"].tolist(),
                                                                          predicted.astype(int).tolist()),
              "train_examples": len(train), "seconds": round(time.time() - started, 1), **asdict(args)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out)
    return report


def load(path) -> dict:
    """A model saved by fit()."""
    return joblib.load(path)


def positive_probability(model: dict, texts):
    """P(positive) for each text, cleaned the way the model was fitted."""
    pipeline = model["pipeline"]
    column = list(pipeline.classes_).index(1)
    return pipeline.predict_proba([clean_if(text, model["clean"]) for text in texts])[:, column]


def main(argv=None):
    """Fit, save, print the dev report as JSON."""
    print(json.dumps(fit(parse_with_config(NgramArgs, argv)), indent=2))


if __name__ == "__main__":
    main()
