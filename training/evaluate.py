"""Score a model through the serving predictor and print JSON metrics.

    python -m training.evaluate --task sentiment --model running_model/sentiment \
        --data ../shared/data/nsmc/ratings_test.txt
    python -m training.evaluate --task similarity --model running_model/similarity \
        --data ../shared/data/korsts/sts-dev.tsv      # or a KLUE-STS .json file
"""
import json
import time
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from models import load_predictor
from training import data
from training.metrics import sentiment_metrics, similarity_metrics


@dataclass
class EvaluateArgs:
    task: str = field(metadata={"help": "sentiment or similarity."})
    model: str = field(metadata={"help": "Model directory or model id."})
    data: str = field(metadata={"help": "NSMC TSV, KorSTS TSV or KLUE-STS JSON file."})
    device: str = field(default=None, metadata={"help": "cpu or cuda (default: cuda when available)."})
    batch_size: int = field(default=64, metadata={"help": "Inputs per forward pass."})
    limit: int = field(default=0, metadata={"help": "Score only the first N examples (0 = all)."})
    quantize: bool = field(default=False, metadata={"help": "int8 dynamic quantization, as QUANTIZE serves (CPU only)."})

    def __post_init__(self):
        if self.task not in ("sentiment", "similarity"):
            raise ValueError(f"--task must be sentiment or similarity, not {self.task!r}")


def score_sentiment(predictor, frame) -> dict:
    """Predict every review and compare with its label."""
    index = {label: i for i, label in enumerate(predictor.labels)}
    results = predictor.predict(frame["text"].tolist())
    predictions = [index[result["label"]] for result in results]
    return sentiment_metrics(frame["label"].tolist(), predictions)


def score_similarity(predictor, frame) -> dict:
    """Score every pair and compare with the gold 0–5 scores."""
    pairs = list(zip(frame["sentence1"], frame["sentence2"]))
    predicted = [result["score"] for result in predictor.predict(pairs)]
    return similarity_metrics(frame["score"].tolist(), predicted)


def evaluate(args: EvaluateArgs) -> dict:
    """Metrics plus what was scored, how, and how long it took."""
    frame = data.load_task_data(args.task, args.data)
    if args.limit:
        frame = frame.iloc[:args.limit]
    predictor = load_predictor(args.model, args.task, device=args.device, batch_size=args.batch_size,
                               quantize=args.quantize)
    started = time.time()
    scorer = score_sentiment if args.task == "sentiment" else score_similarity
    metrics = scorer(predictor, frame)
    return {"task": args.task, "model": predictor.name, "model_path": args.model,
            "data": args.data, "device": str(predictor.device), "clean": predictor.cleaning,
            "quantized": predictor.quantized, "metrics": metrics, "seconds": round(time.time() - started, 1)}


def main(argv=None):
    """Parse arguments and print the evaluation as JSON."""
    (args,) = HfArgumentParser(EvaluateArgs).parse_args_into_dataclasses(argv)
    print(json.dumps(evaluate(args), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
