"""The self-training teacher: a fine-tuned model and the n-gram model, probabilities averaged.

    python -m training.train.teacher --teacher runs/sentiment-e5/best --ngram runs/ngram-teacher.joblib \
        --data dev       # accuracy of each and of the ensemble on the NSMC dev split (or a file)
"""
import json
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from models import load_predictor
from training.arguments import parse_with_config
from training.data import sources
from training.data.dedup import nsmc_split
from training.metrics import sentiment_metrics
from training.train import ngram


class TeacherEnsemble:
    """P(positive) = (1 - w) · fine-tuned model + w · n-gram model (w = ngram_weight, 0.5 a mean).

    It labels only text neither member was fitted on: the unlabeled corpus (training.train.pseudolabel
    drops every corpus line that matches a training review before asking) and dev or test for
    scoring. It never labels the training reviews themselves: the fine-tuned model has seen them
    with their gold labels, so its probabilities there are in-sample, confident and mostly right,
    nothing like its behaviour on new text; out-of-fold model scores would take k fine-tunes,
    hours each on 2 cores, and the gold labels are there anyway.
    """

    def __init__(self, model_dir, ngram_path=None, ngram_weight=0.5, device=None, batch_size=64):
        self.predictor = load_predictor(model_dir, "sentiment", device=device, batch_size=batch_size,
                                        quantize=False)
        self.positive_index = self.predictor.labels.index("positive")
        self.ngram = ngram.load(ngram_path) if ngram_path else None
        self.ngram_weight = ngram_weight if self.ngram else 0.0

    def model_probability(self, texts) -> np.ndarray:
        """The fine-tuned model's P(positive), through the serving predictor (its own cleaning)."""
        results = self.predictor.predict(list(texts))
        return np.array([result["probabilities"]["positive"] for result in results])

    def components(self, texts, chunk=2048, progress=False) -> dict:
        """Each member's P(positive) and the ensemble's, in chunks with an optional progress bar."""
        texts = list(texts)
        starts = range(0, len(texts), chunk)
        parts = {"model": [], "ngram": []}
        for start in tqdm(starts, desc="teacher", unit="chunk", disable=not progress, mininterval=10):
            piece = texts[start:start + chunk]
            parts["model"].append(self.model_probability(piece))
            if self.ngram:
                parts["ngram"].append(ngram.positive_probability(self.ngram, piece))
        model = np.concatenate(parts["model"]) if texts else np.zeros(0)
        scores = {"model": model}
        if self.ngram:
            scores["ngram"] = np.concatenate(parts["ngram"]) if texts else np.zeros(0)
        scores["ensemble"] = (1 - self.ngram_weight) * model + self.ngram_weight * scores.get("ngram", 0.0)
        return scores


@dataclass
class TeacherArgs:
    teacher: str = field(metadata={"help": "Fine-tuned sentiment model directory."})
    data: str = field(metadata={"help": "`dev` (the NSMC train split's dev fifth) or a labeled NSMC-format file (test: once per candidate)."})
    ngram: str = field(default=None, metadata={"help": "N-gram model saved by training.train.ngram."})
    ngram_weight: float = field(default=0.5, metadata={"help": "Weight of the n-gram model (0.5: the mean)."})
    device: str = field(default=None, metadata={"help": "cpu or cuda (default: cuda when available)."})
    batch_size: int = field(default=64, metadata={"help": "Texts per forward pass."})
    limit: int = field(default=0, metadata={"help": "Score only the first N reviews (0 = all)."})
    data_dir: str = field(default=None, metadata={"help": "Data root for `--data dev` (default $KOTEXT_DATA_DIR or ../shared/data)."})


def evaluate(args: TeacherArgs) -> dict:
    """Accuracy of the model, the n-gram model and the ensemble on a labeled file."""
    frame = nsmc_split(args.data_dir)[1] if args.data == "dev" else sources.load_nsmc(args.data)
    frame = frame.iloc[:args.limit] if args.limit else frame
    started = time.time()
    ensemble = TeacherEnsemble(args.teacher, args.ngram, args.ngram_weight, args.device, args.batch_size)
    scores = ensemble.components(frame["text"], progress=True)
    labels = frame["label"].tolist()
    metrics = {name: sentiment_metrics(labels, (p >= 0.5).astype(int).tolist()) for name, p in scores.items()}
    report = {"teacher": args.teacher, "ngram": args.ngram, "ngram_weight": ensemble.ngram_weight,
              "data": args.data, "metrics": metrics, "seconds": round(time.time() - started, 1)}
    if "ngram" in scores:
        report["weight_sweep"] = weight_sweep(scores["model"], scores["ngram"], labels)
    return report


def weight_sweep(model, ngram_scores, labels, steps=10) -> dict:
    """Ensemble accuracy at n-gram weights 0, 0.1, …, 1 (choose the weight on dev, then use it on test)."""
    labels = np.asarray(labels)
    accuracy = {}
    for weight in np.linspace(0, 1, steps + 1):
        predicted = ((1 - weight) * model + weight * ngram_scores) >= 0.5
        accuracy[f"{weight:.1f}"] = round(float((predicted == labels).mean()), 5)
    return accuracy


def main(argv=None):
    """Print the teacher's metrics as JSON."""
    print(json.dumps(evaluate(parse_with_config(TeacherArgs, argv)), indent=2))


if __name__ == "__main__":
    main()
