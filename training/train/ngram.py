"""Fit the hashed word + character n-gram sentiment model on the NSMC train split.

    python -m training.train.ngram --out ~/.cache/kotext/runs/ngram.safetensors   # reports its dev accuracy

It is the self-training teacher's second member (training.train.teacher.TeacherEnsemble) and, saved into
a sentiment model directory by training.release.export, the served ensemble's (ngrams.HashedNgramModel).
It is fitted on the train split only, so the dev split it is scored on is text it never saw.
"""
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ngrams import HashedNgramModel
from training.arguments import parse_with_config
from training.data.dedup import nsmc_split
from training.metrics import sentiment_metrics


@dataclass
class NgramArgs:
    out: str = field(metadata={"help": "Where to save the fitted model (.safetensors)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    clean: bool = field(default=True, metadata={"help": "Apply preprocessing.clean() to texts first."})
    word_max: int = field(default=2, metadata={"help": "Longest word n-gram."})
    char_max: int = field(default=4, metadata={"help": "Longest character n-gram (inside word boundaries)."})
    C: float = field(default=3.0, metadata={"help": "Inverse regularisation strength of the logistic regression."})
    max_train_examples: int = field(default=0, metadata={"help": "Fit on only this many training reviews (0 = all)."})


def fit(args: NgramArgs) -> dict:
    """Fit on the train split, score the dev split, save; return the report."""
    started = time.time()
    train, dev = nsmc_split(args.data_dir)
    if args.max_train_examples:
        train = train.iloc[:args.max_train_examples]
    model = HashedNgramModel(args.word_max, args.char_max, clean=args.clean)
    model.fit(train["text"].tolist(), train["label"].to_numpy(), C=args.C)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    predicted = (load(args.out).positive_probability(dev["text"].tolist()) >= 0.5).astype(int)
    return {"model": "ngram-word-char-logreg (hashed)",
            "dev": sentiment_metrics(dev["label"].tolist(), predicted.tolist()),
            "train_examples": len(train), "seconds": round(time.time() - started, 1), **asdict(args)}


def load(path) -> HashedNgramModel:
    """A model saved by fit() (scored as saved: fp16 weights)."""
    return HashedNgramModel.load(path)


def positive_probability(model: HashedNgramModel, texts):
    """P(positive) for each text, cleaned the way the model was fitted."""
    return model.positive_probability(list(texts))


def main(argv=None):
    """Fit, save, print the dev report as JSON."""
    print(json.dumps(fit(parse_with_config(NgramArgs, argv)), indent=2))


if __name__ == "__main__":
    main()
