"""Soft labels for the unlabeled reviews from the teacher ensemble, for a self-training student.

    python -m training.train.pseudolabel --teacher runs/sentiment-e5/best --ngram runs/ngram-teacher.joblib \
        --out runs/pseudo/round1.tsv --min_confidence 0.9 --max_count 200000
    accelerate launch -m training.train.pseudolabel ...      # several GPUs: each scores a slice

Every corpus line is first matched against NSMC (training.data.dedup): a line equal to a test or dev
review (loose key) is dropped, and so is one equal to a training review (those have gold labels,
and the teacher's score on them would be in-sample). The rest are scored by
training.train.teacher.TeacherEnsemble, kept by confidence and written as TSV, most confident first
(text, positive = the ensemble's P(positive), and each member's), with a JSON report beside it.
"""
import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from training.arguments import parse_with_config
from training.data import sources
from training.data.dedup import exact_key, held_out_keys, loosen, nsmc_split
from training.train.teacher import TeacherEnsemble


@dataclass
class PseudoLabelArgs:
    teacher: str = field(metadata={"help": "Fine-tuned sentiment model directory (the last round's best)."})
    out: str = field(metadata={"help": "Output TSV; a .json report is written beside it."})
    ngram: str = field(default=None, metadata={"help": "N-gram model from training.train.ngram, averaged with the model."})
    ngram_weight: float = field(default=0.5, metadata={"help": "Weight of the n-gram model in the ensemble (0.5: the mean)."})
    corpus: str = field(default=None, metadata={"help": "Unlabeled reviews, one a line (default <data>/pretrain/movie_reviews.txt)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    novelty: bool = field(default=True, metadata={"help": "Also drop near-duplicates (loose key) of training reviews and of earlier corpus lines."})
    max_lines: int = field(default=0, metadata={"help": "Score a random sample of this many corpus lines that pass the filters (0 = all)."})
    min_confidence: float = field(default=0.0, metadata={"help": "Keep lines whose max(P, 1 - P) is at least this (0.5–1)."})
    max_count: int = field(default=0, metadata={"help": "Keep at most this many, the most confident (0 = no cap)."})
    balance: bool = field(default=True, metadata={"help": "Under the cap, take half from each predicted class where both have enough."})
    batch_size: int = field(default=64, metadata={"help": "Texts per forward pass."})
    seed: int = field(default=42, metadata={"help": "Seed of the --max_lines sample."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = torch's default)."})

    def __post_init__(self):
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("--min_confidence must be between 0 and 1")
        if not 0.0 <= self.ngram_weight <= 1.0:
            raise ValueError("--ngram_weight must be between 0 and 1")


def filter_corpus(lines, held_out: dict, train_texts, novelty=True):
    """Lines that may be pseudo-labeled, whitespace-normalised, and the count dropped per reason.

    held_out: loose keys by set name (test, dev): a match is always dropped. A line equal to a
    training review (exact key) is always dropped; with novelty, a near-duplicate of one (loose
    key) too, and repeats inside the corpus are dropped by loose key rather than exact key.
    """
    train_exact = {exact_key(text) for text in train_texts}
    train_loose = {loosen(key) for key in train_exact} if novelty else set()
    seen, kept = set(), []
    dropped = {"empty": 0, **{f"{name}_match": 0 for name in held_out}, "train_duplicate": 0,
               "train_near_duplicate": 0, "corpus_duplicate": 0}
    for line in lines:
        text = " ".join(line.split())
        key = exact_key(text)
        loose = loosen(key)
        reason = drop_reason(key, loose, held_out, train_exact, train_loose)
        seen_key = loose if novelty else key
        if reason is None and seen_key in seen:
            reason = "corpus_duplicate"
        if reason:
            dropped[reason] += 1
            continue
        seen.add(seen_key)
        kept.append(text)
    return kept, dropped


def drop_reason(key, loose, held_out, train_exact, train_loose):
    """Why a line with these keys may not be pseudo-labeled, or None."""
    if not key:
        return "empty"
    for name, keys in held_out.items():
        if loose in keys:
            return f"{name}_match"
    if key in train_exact:
        return "train_duplicate"
    if loose in train_loose:
        return "train_near_duplicate"
    return None


def select(frame: pd.DataFrame, min_confidence=0.0, max_count=0, balance=True) -> pd.DataFrame:
    """Rows whose confidence max(P, 1 - P) reaches min_confidence, at most max_count, most confident first."""
    frame = frame.assign(confidence=np.maximum(frame["positive"], 1 - frame["positive"]))
    frame = frame[frame["confidence"] >= min_confidence]
    frame = frame.sort_values("confidence", ascending=False, kind="stable")
    if max_count and len(frame) > max_count:
        if balance:
            positive = frame[frame["positive"] >= 0.5]
            negative = frame[frame["positive"] < 0.5]
            # Half each; a class short of its half leaves its share to the other.
            take_positive = min(len(positive), max(max_count // 2, max_count - len(negative)))
            frame = pd.concat([positive.iloc[:take_positive], negative.iloc[:max_count - take_positive]])
            frame = frame.sort_values("confidence", ascending=False, kind="stable")
        else:
            frame = frame.iloc[:max_count]
    return frame.reset_index(drop=True)


def candidate_texts(args: PseudoLabelArgs, state) -> tuple:
    """The corpus lines allowed through filter_corpus (sampled to --max_lines) and the report counts."""
    root = sources.data_dir(args.data_dir)
    corpus = args.corpus or root / "pretrain" / "movie_reviews.txt"
    train, _ = nsmc_split(root)
    lines = list(sources.iter_corpus(corpus))
    kept, dropped = filter_corpus(lines, held_out_keys(root), train["text"], args.novelty)
    if args.max_lines and len(kept) > args.max_lines:
        chosen = np.random.default_rng(args.seed).choice(len(kept), args.max_lines, replace=False)
        kept = [kept[i] for i in sorted(chosen)]
    counts = {"corpus_lines": len(lines), "dropped": dropped, "scored": len(kept)}
    if state.is_main_process:
        print(f"pseudolabel: {json.dumps(counts)}", flush=True)
    return kept, counts


def score_shards(texts, args: PseudoLabelArgs, state) -> dict:
    """The ensemble's scores for all texts: each process scores its slice, all gather them."""
    ensemble = TeacherEnsemble(args.teacher, args.ngram, args.ngram_weight, state.device, args.batch_size)
    with state.split_between_processes(texts) as mine:
        scores = ensemble.components(mine, progress=state.is_main_process)
    rows = gather_object(list(zip(*scores.values())))  # slices come back in process order
    return {name: np.array([row[i] for row in rows]) for i, name in enumerate(scores)}


def write(frame: pd.DataFrame, path, report: dict):
    """The TSV (no quoting: texts hold no tabs once whitespace is normalised) and its report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_NONE, float_format="%.6f")
    path.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False))


def pseudolabel(args: PseudoLabelArgs) -> dict:
    """Filter, score (sharded), select and write; returns the report (on every process)."""
    started = time.time()
    state = Accelerator()  # reads `accelerate launch`'s settings (ACCELERATE_USE_CPU included)
    texts, report = candidate_texts(args, state)
    scores = score_shards(texts, args, state)
    frame = pd.DataFrame({"text": texts, "positive": scores.pop("ensemble"), **scores})
    chosen = select(frame, args.min_confidence, args.max_count, args.balance)
    report.update(selected=len(chosen), positive_share=round(float((chosen["positive"] >= 0.5).mean()), 4)
                  if len(chosen) else None, processes=state.num_processes,
                  seconds=round(time.time() - started, 1), args=asdict(args))
    if state.is_main_process:
        write(chosen.drop(columns="confidence"), args.out, report)
        print(json.dumps({k: v for k, v in report.items() if k != "args"}), flush=True)
    state.wait_for_everyone()
    return report


def main(argv=None):
    """Parse arguments and pseudo-label the corpus."""
    args = parse_with_config(PseudoLabelArgs, argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pseudolabel(args)


if __name__ == "__main__":
    main()
