"""Paired bootstrap: is model (or setting) B better than A on the same examples, beyond the noise?

    python -m training.evaluate.score … --save_outputs a.json
    python -m training.evaluate.score … --save_outputs b.json
    python -m training.evaluate.compare --a a.json --b b.json        # Spearman, AUC or accuracy, 2,000 resamples

Both files must hold the same examples in the same order. The examples are resampled with
replacement, and the headline metric of B minus that of A is taken on each resample: the report
gives the difference on all examples, its 95% interval, and the share of resamples where B wins.
On 0–5 similarity scores `fine_grading` reports the same for the Spearman within the pairs whose
gold score is at least 2.5 (training.metrics.fine_grading), from the same resamples.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from transformers import HfArgumentParser

from training.metrics import FINE_GRADING_FROM


@dataclass
class CompareArgs:
    a: str = field(metadata={"help": "training.evaluate.score --save_outputs file of the baseline."})
    b: str = field(metadata={"help": "The same for the candidate (same examples, same order)."})
    resamples: int = field(default=2000, metadata={"help": "Bootstrap resamples."})
    seed: int = field(default=0, metadata={"help": "Seed of the resampling."})


def headline_of(outputs, index) -> float:
    """On the examples at index: Spearman (0–5 scores), ROC AUC (0/1 paraphrase labels) or accuracy."""
    if "label" in outputs:
        return roc_auc_score(outputs["label"][index], outputs["predicted"][index])
    if outputs["task"] == "similarity":
        return spearmanr(outputs["gold"][index], outputs["predicted"][index]).statistic
    return float(np.mean(outputs["labels"][index] == outputs["predictions"][index]))


def fine_grading_of(outputs, index) -> float:
    """Spearman within the pairs at index whose gold score is at least FINE_GRADING_FROM."""
    index = index[outputs["gold"][index] >= FINE_GRADING_FROM]
    return spearmanr(outputs["gold"][index], outputs["predicted"][index]).statistic


def as_arrays(outputs) -> dict:
    """The saved lists as numpy arrays (the task name stays a string)."""
    return {key: value if key == "task" else np.asarray(value) for key, value in outputs.items()}


def gold_of(outputs):
    """The gold values: 0–5 scores or 0/1 paraphrase labels (similarity), labels (sentiment)."""
    if outputs["task"] == "similarity":
        return outputs["label"] if "label" in outputs else outputs["gold"]
    return outputs["labels"]


def check_same_examples(a, b) -> None:
    """Refuse two files that do not score the same gold values in the same order."""
    if a["task"] != b["task"] or not np.array_equal(gold_of(a), gold_of(b)):
        raise ValueError("the two files do not hold the same examples in the same order")


def compare(a, b, resamples=2000, seed=0) -> dict:
    """B's headline metric minus A's (and the fine-grading Spearman's, on 0–5 scores): on all
    examples, and over paired bootstrap resamples."""
    a, b = as_arrays(a), as_arrays(b)
    check_same_examples(a, b)
    every = np.arange(len(gold_of(a)))
    rng = np.random.default_rng(seed)
    samples = [rng.choice(every, size=len(every), replace=True) for _ in range(resamples)]
    result = {"task": a["task"], "n": len(every), **gain_report(headline_of, a, b, every, samples)}
    if "gold" in a:
        result["fine_grading"] = gain_report(fine_grading_of, a, b, every, samples)
    return result | {"resamples": resamples}


def gain_report(metric, a, b, every, samples) -> dict:
    """The metric for A and B on all examples, B's gain, its 95% interval and B's share of wins."""
    gains = np.asarray([metric(b, index) - metric(a, index) for index in samples])
    low, high = np.percentile(gains, [2.5, 97.5])
    return {"score_a": float(metric(a, every)), "score_b": float(metric(b, every)),
            "gain": float(metric(b, every) - metric(a, every)), "interval_95": [float(low), float(high)],
            "b_wins_share": float(np.mean(gains > 0))}


def main(argv=None):
    """Parse arguments and print the comparison as JSON."""
    (args,) = HfArgumentParser(CompareArgs).parse_args_into_dataclasses(argv)
    outputs = [json.loads(Path(path).read_text()) for path in (args.a, args.b)]
    result = compare(*outputs, resamples=args.resamples, seed=args.seed)
    print(json.dumps({"file_a": args.a, "file_b": args.b, **result}, indent=2))


if __name__ == "__main__":
    main()
