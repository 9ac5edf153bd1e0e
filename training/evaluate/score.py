"""Score a model through the serving predictor and print JSON metrics.

    python -m training.evaluate.score --task sentiment --model running_model/sentiment \
        --data ../shared/data/nsmc/ratings_test.txt
    python -m training.evaluate.score --task similarity --model running_model/similarity \
        --data ../shared/data/korsts/sts-dev.tsv      # or a KLUE-STS .json or .csv file
    python -m training.evaluate.score --task similarity --model running_model/similarity \
        --data ../shared/data/klue-sts/klue-sts-v1.1_train.csv --held_out true
    python -m training.evaluate.score --task similarity --model running_model/similarity \
        --data ../shared/data/extra/stylekqc/sts-dev.tsv   # 0/1 pairs: paraphrase metrics
    python -m training.evaluate.score --task similarity --model running_model/similarity \
        --data ../shared/data/korsts/sts-dev.tsv --numeral_variants true   # 3시 against 세 시
    python -m training.evaluate.score --task similarity --model running_model/similarity \
        --data ../shared/data/korsts/sts-dev.tsv --contrasts true   # 도착했다 against 도착하지 않았다
    python -m training.evaluate.score --task similarity --model running_model/similarity \
        --data ../shared/data/korsts/sts-dev.tsv --order_gap true   # s(a,b) against s(b,a)
    python -m training.evaluate.score --task sentiment --model runs/x/best \
        --data ../shared/data/nsmc/ratings_train.txt --held_out true --clean false   # dev, cleaning off

--dtype (default auto) computes in the dtype the app serves in on this host (compute.compute_dtype:
bf16 on a CPU with AMX or AVX-512 BF16, fp32 on other CPUs, fp16 on CUDA); the output records it.
--plots DIR also draws the evaluation plots (training/evaluate/plots.py) into DIR. On 0–5 similarity data
the metrics hold `fine_grading` (the correlations within the pairs scored 2.5 or more), and the
output holds `calibration`: the pairs in half-point bins of predicted score, with the annotators'
mean score in each (training.metrics.calibration_table). On KLUE-STS's held-out tenth the metrics
also hold `korsts_shaped`: the same on a sample of it spread over the 0–5 scale as KorSTS dev is.
"""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from transformers import HfArgumentParser

from compute import DTYPE_CHOICES
from models import load_predictor
from training.data import contrasts, numerals, sources
from training.train.teacher import weight_sweep
from training.metrics import calibration_table, paraphrase_metrics, sentiment_metrics, similarity_metrics


@dataclass
class EvaluateArgs:
    task: str = field(metadata={"help": "sentiment or similarity."})
    model: str = field(metadata={"help": "Model directory or model id."})
    data: str = field(metadata={"help": "NSMC TSV, KorSTS TSV, or KLUE-STS JSON or CSV file."})
    held_out: bool = field(default=False, metadata={"help": "Score only the part of a train file training never sees: KLUE-STS train's fixed held-out tenth, NSMC train's dev fifth."})
    clean: Optional[bool] = field(default=None, metadata={"help": "Override the model's cleaning choice (serving.json `clean`) to measure it on or off."})
    symmetric: Optional[bool] = field(default=None, metadata={"help": "Similarity: override the model's pair-order choice (serving.json `symmetric`: score both orders and average)."})
    align_numbers: Optional[bool] = field(default=None, metadata={"help": "Similarity: override the model's number-spelling choice (serving.json `align_numbers`: 「세 시」 against 「3시」 read as 「3시」 on both sides)."})
    device: str = field(default=None, metadata={"help": "cpu or cuda (default: cuda when available)."})
    batch_size: int = field(default=64, metadata={"help": "Inputs per forward pass."})
    limit: int = field(default=0, metadata={"help": "Score only the first N examples (0 = all)."})
    quantize: bool = field(default=False, metadata={"help": "int8 dynamic quantization, as QUANTIZE serves (CPU only)."})
    int8_layers: Optional[str] = field(default=None, metadata={"help": "With --quantize: the Linear layers int8 takes, attention+feed-forward or attention (default: the model's serving.json `int8_layers`)."})
    dtype: str = field(default="auto", metadata={"help": "Compute dtype, as COMPUTE_DTYPE serves: auto (this host's serving choice: bf16 with AMX/AVX-512 BF16, else fp32; fp16 on CUDA), fp32, bf16 or fp16."})
    plots: str = field(default=None, metadata={"help": "Directory to write the evaluation plots (PNG) into (training/evaluate/plots.py)."})
    save_outputs: str = field(default=None, metadata={"help": "Write every example's gold and predicted value to this JSON file (for training.evaluate.compare)."})
    numeral_variants: bool = field(default=False, metadata={"help": "Similarity: score only the pairs with a number before a counter, as they are and with one side's numbers in Korean words (3시 → 세 시; training.data.numerals), and report how far the scores move."})
    contrasts: bool = field(default=False, metadata={"help": "Similarity: score only the pairs scored 4 or more that a meaning-flipping edit applies to, as they are and with one side edited (training.data.contrasts), and report how far the scores drop."})
    order_gap: bool = field(default=False, metadata={"help": "Similarity: score every pair in both orders, once each, and report the mean |s(a,b) - s(b,a)| and the metrics of each order alone and of their mean (serving.json `symmetric`)."})

    def __post_init__(self):
        if self.task not in ("sentiment", "similarity"):
            raise ValueError(f"--task must be sentiment or similarity, not {self.task!r}")
        if self.numeral_variants and (self.task != "similarity" or self.plots):
            raise ValueError("--numeral_variants scores similarity pairs, without --plots")
        if self.contrasts and (self.task != "similarity" or self.plots or self.numeral_variants):
            raise ValueError("--contrasts scores similarity pairs, without --plots or --numeral_variants")
        if self.order_gap and (self.task != "similarity" or self.plots or self.numeral_variants
                               or self.contrasts or self.symmetric is not None):
            raise ValueError("--order_gap scores similarity pairs in both orders itself, without "
                             "--plots, --numeral_variants, --contrasts or --symmetric")
        if self.int8_layers and not self.quantize:
            raise ValueError("--int8_layers chooses the layers of --quantize true's int8")
        if self.dtype not in DTYPE_CHOICES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPE_CHOICES)}, not {self.dtype!r}")


def sentiment_outputs(predictor, frame) -> dict:
    """Every review's gold and predicted label (1 = positive), positive probability and length;
    for an ensemble also each member's P(positive)."""
    results = predictor.predict(frame["text"].tolist())
    outputs = {"labels": frame["label"].tolist(),
               "predictions": [int(result["label"] == "positive") for result in results],
               "positive": [result["probabilities"]["positive"] for result in results],
               "lengths": frame["text"].str.len().tolist()}
    if getattr(predictor, "ngram", None) is not None:
        outputs["members"] = ensemble_members(predictor, frame["text"], outputs["positive"])
    return outputs


def ensemble_members(predictor, texts, mixed) -> dict:
    """Each member's P(positive): the n-gram model's scored again (cheap), the ELECTRA model's
    taken back out of the mix (mixed = (1 - w) · model + w · n-gram), so one forward pass serves."""
    weight = predictor.ngram_weight
    ngram = predictor.ngram.positive_probability([predictor.clean(text) for text in texts])
    model = (np.asarray(mixed) - weight * ngram) / (1 - weight) if weight < 1 else np.full(len(ngram), np.nan)
    return {"model": np.clip(model, 0.0, 1.0).tolist(), "ngram": ngram.tolist(), "weight": weight}


def score_members(outputs) -> dict:
    """Accuracy of each member alone and of the mix at n-gram weights 0, 0.1, …, 1 (choose on dev)."""
    members, labels = outputs["members"], np.asarray(outputs["labels"])
    model, ngram = np.asarray(members["model"]), np.asarray(members["ngram"])
    return {"weight": members["weight"],
            "model_alone": sentiment_metrics(labels.tolist(), (model >= 0.5).astype(int).tolist()),
            "ngram_alone": sentiment_metrics(labels.tolist(), (ngram >= 0.5).astype(int).tolist()),
            "weight_sweep": weight_sweep(model, ngram, labels)}


def similarity_outputs(predictor, frame) -> dict:
    """Every pair's gold 0–5 score (or 0/1 paraphrase label) and predicted 0–5 score."""
    pairs = list(zip(frame["sentence1"], frame["sentence2"]))
    predicted = [result["score"] for result in predictor.predict(pairs)]
    if "score" in frame:
        return {"gold": frame["score"].tolist(), "predicted": predicted}
    return {"label": frame["label"].tolist(), "predicted": predicted}


def score_sentiment(outputs) -> dict:
    """Predicted labels compared with the gold ones."""
    return sentiment_metrics(outputs["labels"], outputs["predictions"])


def score_similarity(outputs) -> dict:
    """Predicted scores compared with the gold 0–5 scores, or with 0/1 paraphrase labels."""
    if "label" in outputs:
        return paraphrase_metrics(outputs["label"], outputs["predicted"])
    return similarity_metrics(outputs["gold"], outputs["predicted"])


MIN_SHAPED_PAIRS = 50


def korsts_shaped(outputs) -> dict | None:
    """The metrics on the sample of the pairs whose scores are spread as KorSTS dev's are (the
    KLUE-STS tenth leans to unrelated and near-identical pairs), or None without KorSTS dev."""
    reference = sources.data_dir() / "korsts" / "sts-dev.tsv"
    if not reference.exists():
        return None
    index = sources.shaped_like(outputs["gold"], sources.load_korsts(reference)["score"])
    if len(index) < MIN_SHAPED_PAIRS:
        return None  # too few pairs in some score band to shape a sample worth a correlation
    return similarity_metrics([outputs["gold"][i] for i in index], [outputs["predicted"][i] for i in index])


def numeral_outputs(predictor, frame) -> tuple:
    """(metrics of the pairs with numbers as written, then spelled out, and the change; outputs)."""
    originals, variants = numerals.variant_pairs(frame)
    before, after = similarity_outputs(predictor, originals), similarity_outputs(predictor, variants)
    change = np.subtract(after["predicted"], before["predicted"])
    metrics = {"pairs": len(originals), "as_written": score_similarity(before),
               "spelled_out": score_similarity(after), "mean_change": round(float(change.mean()), 4),
               "mean_absolute_change": round(float(np.abs(change).mean()), 4)}
    return metrics, after


def contrast_outputs(predictor, frame) -> tuple:
    """(metrics of the high pairs as written against one side edited, by edit kind; outputs with
    the pairs as written labelled 1 and the edited ones 0, for training.evaluate.compare's AUC)."""
    if "score" not in frame:
        raise ValueError("--contrasts edits pairs scored 0–5; this file has 0/1 labels")
    triplets = contrasts.contrast_triplets(frame, seed=0)
    before, after = (np.array([result["score"] for result in
                               predictor.predict(list(zip(triplets["premise"], triplets[column])))])
                     for column in ("entailed", "contradicted"))
    drop = before - after
    kinds = {}
    for kind in contrasts.EDIT_KINDS:
        mask = (triplets["edit"] == kind).to_numpy()
        if mask.any():
            kinds[kind] = {"pairs": int(mask.sum()), "mean_drop": round(float(drop[mask].mean()), 4)}
    outputs = {"label": [1] * len(before) + [0] * len(after), "predicted": before.tolist() + after.tolist()}
    metrics = {"pairs": len(triplets), "as_written_mean": round(float(before.mean()), 4),
               "edited_mean": round(float(after.mean()), 4), "mean_drop": round(float(drop.mean()), 4),
               "dropped_a_point": round(float((drop >= 1.0).mean()), 4), "by_edit": kinds,
               "auc": score_similarity(outputs)["auc"]}
    return metrics, outputs


def raw_pair_scores(predictor, pairs) -> np.ndarray:
    """The model's unclamped 0–5 output for each pair, in the order given (one row per pair)."""
    return np.array([row[0].item() for row in predictor.logits(predictor.encode(pairs))])


def order_gap_outputs(predictor, frame) -> tuple:
    """(metrics of each pair order alone and of their mean, with the gap between the orders;
    outputs of the mean). The mean is clamped after averaging, as a symmetric model serves."""
    if "score" not in frame:
        raise ValueError("--order_gap compares 0–5 metrics; this file has 0/1 labels")
    pairs = list(zip(frame["sentence1"], frame["sentence2"]))
    served, predictor.symmetric = predictor.symmetric, False  # each order once, here
    try:
        forward = raw_pair_scores(predictor, pairs)
        backward = raw_pair_scores(predictor, [(b, a) for a, b in pairs])
    finally:
        predictor.symmetric = served  # the output records how the model is served
    gold = frame["score"].tolist()
    clamped = {name: np.clip(scores, 0.0, 5.0).tolist() for name, scores in
               (("as_given", forward), ("swapped", backward), ("averaged", (forward + backward) / 2))}
    gap = np.abs(np.clip(forward, 0, 5) - np.clip(backward, 0, 5))
    metrics = {"pairs": len(pairs), "mean_absolute_gap": round(float(gap.mean()), 4),
               "median_absolute_gap": round(float(np.median(gap)), 4),
               "max_absolute_gap": round(float(gap.max()), 4),
               "pairs_gap_over_0_5": int((gap > 0.5).sum()),
               **{name: score_similarity({"gold": gold, "predicted": scores})
                  for name, scores in clamped.items()}}
    return metrics, {"gold": gold, "predicted": clamped["averaged"]}


def evaluate(args: EvaluateArgs) -> dict:
    """Metrics plus what was scored, how, and how long it took."""
    frame = sources.load_eval_data(args.task, args.data, args.held_out)
    if args.plots and "label" in frame and args.task == "similarity":
        raise ValueError("--plots draws 0–5 score plots; this file has 0/1 paraphrase labels")
    if args.limit:
        frame = frame.iloc[:args.limit]
    predictor = load_predictor(args.model, args.task, device=args.device, batch_size=args.batch_size,
                               quantize=args.quantize, int8_layers=args.int8_layers, dtype=args.dtype)
    if args.clean is not None:
        predictor.cleaning = args.clean
    if args.symmetric is not None and args.task == "similarity":
        predictor.symmetric = args.symmetric
    if args.align_numbers is not None and args.task == "similarity":
        predictor.align_numbers = args.align_numbers
    started = time.time()
    calibration = None
    if args.task == "sentiment":
        outputs = sentiment_outputs(predictor, frame)
        metrics = score_sentiment(outputs)
        if "members" in outputs:
            metrics["ensemble"] = score_members(outputs)
    elif args.numeral_variants:
        metrics, outputs = numeral_outputs(predictor, frame)
    elif args.contrasts:
        metrics, outputs = contrast_outputs(predictor, frame)
    elif args.order_gap:
        metrics, outputs = order_gap_outputs(predictor, frame)
    else:
        outputs = similarity_outputs(predictor, frame)
        metrics = score_similarity(outputs)
        if "gold" in outputs:
            calibration = calibration_table(outputs["gold"], outputs["predicted"])
        if "gold" in outputs and args.held_out:
            metrics["korsts_shaped"] = korsts_shaped(outputs)
    if args.save_outputs:
        Path(args.save_outputs).write_text(json.dumps({"task": args.task, **outputs}))
    if args.plots:
        from training.evaluate.plots import write_plots  # matplotlib only when plots are asked for
        write_plots(args.task, outputs, args.plots)
    return {"task": args.task, "model": predictor.name, "model_path": args.model,
            "data": args.data, "held_out": args.held_out, "numeral_variants": args.numeral_variants,
            "contrasts": args.contrasts, "order_gap": args.order_gap,
            "device": str(predictor.device), "dtype": predictor.describe()["dtype"],
            "clean": predictor.cleaning,
            "quantized": predictor.quantized,
            "int8_layers": predictor.describe()["int8_layers"],
            "symmetric": getattr(predictor, "symmetric", None),
            "align_numbers": getattr(predictor, "align_numbers", None), "metrics": metrics,
            "calibration": calibration, "seconds": round(time.time() - started, 1)}


def main(argv=None):
    """Parse arguments and print the evaluation as JSON."""
    (args,) = HfArgumentParser(EvaluateArgs).parse_args_into_dataclasses(argv)
    print(json.dumps(evaluate(args), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
