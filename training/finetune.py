"""Fine-tune ElectraForSequenceClassification for one task, from random init or --init.

    python -m training.finetune --task sentiment            # uses training/configs/sentiment.json
    python -m training.finetune --task similarity --init runs/pretrain/discriminator
    python -m training.finetune --task sentiment --resume   # continue from the last checkpoint
"""
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import (AutoTokenizer, ElectraConfig, ElectraForSequenceClassification,
                          get_linear_schedule_with_warmup)

from models import SERVING_FILE
from preprocessing import clean_if
from training import data
from training.arguments import parse_with_config
from training.batching import collate, encode_task, length_grouped_batches, sorted_batches
from training.metrics import headline, sentiment_metrics, similarity_metrics

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
LABELS = {0: "negative", 1: "positive"}


@dataclass
class FinetuneArgs:
    task: str = field(metadata={"help": "sentiment (NSMC) or similarity (KorSTS)."})
    out: str = field(default=None, metadata={"help": "Output directory (default runs/<task>)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    tokenizer: str = field(default="runs/tokenizer-wp32k", metadata={"help": "Tokenizer directory or id (ignored with --init)."})
    init: str = field(default=None, metadata={"help": "Pretrained discriminator directory or model id; random init when unset."})
    clean: bool = field(default=True, metadata={"help": "Apply preprocessing.clean() to texts (recorded for serving)."})
    # Architecture for random init: KoELECTRA-Small-v3 by default.
    embedding_size: int = field(default=128, metadata={"help": "Token embedding width."})
    hidden_size: int = field(default=256, metadata={"help": "Transformer width."})
    num_layers: int = field(default=12, metadata={"help": "Transformer layers."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads."})
    intermediate_size: int = field(default=1024, metadata={"help": "Feed-forward width."})
    dropout: float = field(default=0.1, metadata={"help": "Hidden and attention dropout."})
    max_length: int = field(default=128, metadata={"help": "Tokens per input (pairs: both together)."})
    # Optimisation.
    epochs: int = field(default=3, metadata={"help": "Passes over the training data."})
    batch_size: int = field(default=32, metadata={"help": "Examples per step."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps with linear warmup."})
    seed: int = field(default=42, metadata={"help": "Seed for init, shuffling and dropout."})
    evals_per_epoch: int = field(default=1, metadata={"help": "Dev evaluations (and best-model checks) per epoch."})
    checkpoint_every: int = field(default=500, metadata={"help": "Steps between resumable checkpoints."})
    resume: bool = field(default=False, metadata={"help": "Resume from <out>/checkpoint.pt if present."})
    swap_pairs: bool = field(default=False, metadata={"help": "Similarity: also train on every pair in swapped order."})
    anchor_pairs: int = field(default=0, metadata={"help": "Similarity: add this many identical (5.0) and random (0.0) pairs."})
    teacher_pairs: int = field(default=0, metadata={"help": "Similarity: add this many unlabeled pairs scored by the TF-IDF cosine baseline."})
    distill_weight: float = field(default=0.0, metadata={"help": "Sentiment: weight of the TF-IDF teacher's soft labels in the loss (0 = off, 1 = teacher only)."})
    teacher_folds: int = field(default=5, metadata={"help": "Sentiment distillation: folds for the teacher's out-of-fold probabilities."})
    extra_train: str = field(default=None, metadata={"help": "A TSV in the task's NSMC or KorSTS format (`flask --app main feedback export`) added to the training data, minus texts of dev or the held-out set."})
    max_train_examples: int = field(default=0, metadata={"help": "Use only this many training examples (0 = all)."})
    max_dev_examples: int = field(default=0, metadata={"help": "Use only this many dev examples (0 = all)."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores)."})

    def __post_init__(self):
        if self.task not in ("sentiment", "similarity"):
            raise ValueError(f"--task must be sentiment or similarity, not {self.task!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be divisible by num_heads")
        self.out = self.out or f"runs/{self.task}"
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError("--distill_weight must be between 0 and 1")
        if self.distill_weight and self.task != "sentiment":
            raise ValueError("--distill_weight applies to the sentiment task only")
        if not self.init and self.tokenizer.startswith("runs/") and not Path(self.tokenizer).exists():
            raise ValueError(f"no tokenizer at {self.tokenizer}: train it first with "
                             f"`python -m training.tokenizer --out {self.tokenizer}`")

    @property
    def regression(self) -> bool:
        return self.task == "similarity"


def parse_args(argv=None) -> FinetuneArgs:
    """Defaults ← training/configs/<task>.json (or --config FILE) ← command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return parse_with_config(FinetuneArgs, argv, _task_config(argv))


def _task_config(argv):
    """training/configs/<task>.json when --task is given and that file exists."""
    if "--task" in argv:
        path = CONFIG_DIR / f"{argv[argv.index('--task') + 1]}.json"
        return str(path) if path.exists() else None
    return None


def seed_everything(seed):
    """Fix Python, NumPy and torch seeds."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(args: FinetuneArgs, vocab_size: int):
    """A classifier from --init, or a random-init ELECTRA of the configured size."""
    task_kwargs = ({"num_labels": 1, "problem_type": "regression"} if args.regression else
                   {"num_labels": 2, "id2label": LABELS, "label2id": {v: k for k, v in LABELS.items()},
                    "problem_type": "single_label_classification"})
    if args.init:
        # The head is new for this task; a classifier --init of another shape keeps only its encoder.
        return ElectraForSequenceClassification.from_pretrained(
            args.init, ignore_mismatched_sizes=True, **task_kwargs)
    config = ElectraConfig(
        vocab_size=vocab_size, embedding_size=args.embedding_size, hidden_size=args.hidden_size,
        num_hidden_layers=args.num_layers, num_attention_heads=args.num_heads,
        intermediate_size=args.intermediate_size, hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.dropout, max_position_embeddings=512, **task_kwargs)
    return ElectraForSequenceClassification(config)


def load_splits(args: FinetuneArgs):
    """Train and dev frames: NSMC train split 80:20, or KorSTS train/dev."""
    root = data.data_dir(args.data_dir)
    if args.task == "sentiment":
        train, dev = data.split_nsmc_train(data.load_nsmc(root / "nsmc" / "ratings_train.txt"))
    else:
        train = data.load_korsts(root / "korsts" / "sts-train.tsv")
        dev = data.load_korsts(root / "korsts" / "sts-dev.tsv")
    if args.max_train_examples:
        train = train.iloc[:args.max_train_examples]
    if args.max_dev_examples:
        dev = dev.iloc[:args.max_dev_examples]
    korsts_train = train
    if args.regression and args.anchor_pairs:
        train = with_anchor_pairs(train, args.anchor_pairs, args.seed)
    if args.regression and args.teacher_pairs:
        pairs = teacher_scored_pairs(korsts_train, root, args.teacher_pairs, args.seed, args.clean)
        train = pd.concat([train, pairs], ignore_index=True)
    if args.extra_train:
        train = with_extra_train(train, dev, args, root)
    if args.regression and args.swap_pairs:
        train = with_swapped_pairs(train)
    return train, dev


HELD_OUT = {"sentiment": "nsmc/ratings_test.txt", "similarity": "korsts/sts-dev.tsv"}


def with_extra_train(train, dev, args, root):
    """train plus the --extra_train file's rows, except those with a text of dev or the held-out set."""
    extra = data.load_task_data(args.task, args.extra_train)
    columns = ["sentence1", "sentence2"] if args.regression else ["text"]
    held_out = set(dev[columns].stack())
    if (root / HELD_OUT[args.task]).exists():
        held_out |= set(data.load_task_data(args.task, root / HELD_OUT[args.task])[columns].stack())
    kept = extra[~extra[columns].isin(held_out).any(axis=1)]
    print(f"--extra_train: {len(kept)} of {len(extra)} rows added "
          f"({len(extra) - len(kept)} share a text with dev or held-out data)")
    return pd.concat([train, kept[train.columns]], ignore_index=True)


def with_anchor_pairs(frame, count, seed):
    """Add count identical pairs scored 5 and count random pairings scored 0.

    A model trained from scratch on a few thousand pairs does not learn that the same sentence
    twice is the most similar pair; these anchor the two ends of the scale (random KorSTS
    sentences are almost never related).
    """
    sentences = pd.concat([frame["sentence1"], frame["sentence2"]]).drop_duplicates()
    chosen = sentences.sample(n=min(count, len(sentences)), random_state=seed).tolist()
    partners = sentences.sample(n=len(chosen), random_state=seed + 1).tolist()
    identical = pd.DataFrame({"sentence1": chosen, "sentence2": chosen, "score": 5.0})
    unrelated = pd.DataFrame({"sentence1": chosen, "sentence2": partners, "score": 0.0})
    unrelated = unrelated[unrelated["sentence1"] != unrelated["sentence2"]]
    return pd.concat([frame, identical, unrelated], ignore_index=True)


def teacher_scored_pairs(korsts_train, root, count, seed, cleaning):
    """count unlabeled pairs scored 0–5 by the TF-IDF cosine baseline fitted on KorSTS train.

    From 5,749 gold pairs a randomly initialised model learns almost nothing; the baseline
    reaches 0.74 Spearman from word overlap alone, and a teacher can score any number of pairs
    for the student to learn that overlap from. The pairs are the extra paraphrase sets'
    (PAWS-X, question pairs; their labels unused) and KorSTS train sentences paired with a
    perturbed copy of themselves, which spans the scale from unrelated to identical.
    """
    from training.baselines import fit_cosine_scorer  # scikit-learn only when asked for
    rng = random.Random(seed)
    sentences = pd.concat([korsts_train["sentence1"], korsts_train["sentence2"]]).drop_duplicates().tolist()
    natural = data.load_paraphrase_pairs(root)[["sentence1", "sentence2"]]
    sources = rng.choices(sentences, k=max(0, count - len(natural)))
    perturbed = pd.DataFrame({"sentence1": sources,
                              "sentence2": [perturb(s, rng.choice(sentences), rng) for s in sources]})
    pairs = pd.concat([natural, perturbed], ignore_index=True).sample(n=count, random_state=seed)
    score = fit_cosine_scorer(korsts_train, cleaning)
    return pairs.assign(score=score(pairs["sentence1"], pairs["sentence2"])).reset_index(drop=True)


def perturb(sentence, donor, rng):
    """sentence with a random share of its words dropped and some of donor's words put in."""
    keep = rng.uniform(0.0, 1.0)
    words = [word for word in sentence.split() if rng.random() < keep]
    extra = donor.split()
    for word in rng.sample(extra, rng.randint(0, len(extra))):
        words.insert(rng.randint(0, len(words)), word)
    return " ".join(words) or donor


def with_swapped_pairs(frame):
    """Each pair in both orders: similarity is symmetric, and this doubles a small train set."""
    swapped = frame.rename(columns={"sentence1": "sentence2", "sentence2": "sentence1"})
    return pd.concat([frame, swapped[frame.columns]], ignore_index=True)


def predict_dev(model, dataset, args, device, pad_id):
    """Predicted labels or scores for a tokenized dataset, in its original order."""
    model.eval()
    lengths = [len(ids) for ids in dataset["input_ids"]]
    outputs = [None] * len(lengths)
    with torch.inference_mode():
        for indices in sorted_batches(lengths, 128):
            batch = collate(dataset, indices, pad_id, args.regression)
            batch.pop("labels")
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu()
            values = logits[:, 0].tolist() if args.regression else logits.argmax(-1).tolist()
            for i, value in zip(indices, values):
                outputs[i] = value
    model.train()
    return outputs


def dev_metrics(model, dataset, args, device, pad_id) -> dict:
    """Dev metrics of the current model."""
    predictions = predict_dev(model, dataset, args, device, pad_id)
    if args.regression:
        return similarity_metrics(dataset["labels"], [min(max(p, 0.0), 5.0) for p in predictions])
    return sentiment_metrics(dataset["labels"], predictions)


def save_model(model, tokenizer, args, directory, metrics):
    """A complete save_pretrained directory plus serving metadata and dev metrics."""
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    serving = {"name": Path(args.out).name, "task": args.task, "clean": args.clean}
    Path(directory, SERVING_FILE).write_text(json.dumps(serving, indent=2))
    Path(directory, "train_args.json").write_text(json.dumps(asdict(args), indent=2))
    Path(directory, "dev_metrics.json").write_text(json.dumps(metrics, indent=2))


def teacher_probabilities(train, args):
    """Out-of-fold TF-IDF + logistic regression probabilities for each training review."""
    from training.baselines import out_of_fold_probabilities  # scikit-learn only when distilling
    started = time.time()
    texts = [clean_if(text, args.clean) for text in train["text"]]
    probabilities = out_of_fold_probabilities(texts, train["label"], args.teacher_folds, args.seed)
    agreement = float((probabilities.argmax(1) == train["label"].to_numpy()).mean())
    print(f"teacher: out-of-fold accuracy {agreement:.4f} on {len(texts)} training reviews "
          f"({time.time() - started:.0f} s)", flush=True)
    return probabilities.tolist()


def soft_cross_entropy(logits, target_probabilities):
    """Cross-entropy against a distribution (the teacher's), averaged over the batch."""
    return -(target_probabilities * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


class Trainer:
    """The loop: length-grouped batches, AdamW + warmup/decay, evals, checkpoints, resume."""

    def __init__(self, args: FinetuneArgs):
        self.args = args
        self.out = Path(args.out)
        seed_everything(args.seed)  # the same run gives the same model, whoever calls it
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        source = args.init or args.tokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.pad_id = self.tokenizer.pad_token_id
        train, dev = load_splits(args)
        self.train = encode_task(self.tokenizer, train, args.task, args.max_length, args.clean)
        self.dev = encode_task(self.tokenizer, dev, args.task, args.max_length, args.clean)
        if args.distill_weight:
            self.train["teacher"] = teacher_probabilities(train, args)
        self.lengths = [len(ids) for ids in self.train["input_ids"]]
        self.model = build_model(args, len(self.tokenizer)).to(self.device)
        self.steps_per_epoch = math.ceil(len(self.lengths) / args.batch_size)
        total = self.steps_per_epoch * args.epochs
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.learning_rate,
                                           weight_decay=args.weight_decay)
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, int(total * args.warmup_ratio), total)
        self.step, self.best, self.history = 0, -math.inf, []
        self.elapsed, self.started = 0.0, time.time()  # training seconds, summed over resumes

    def seconds(self) -> float:
        """Training wall time so far, including earlier runs this one resumed."""
        return self.elapsed + time.time() - self.started

    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save_checkpoint(self):
        """Everything needed to continue exactly where we are."""
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "step": self.step, "best": self.best,
                 "history": self.history, "torch_rng": torch.get_rng_state(),
                 "elapsed": self.seconds()}
        tmp = self.checkpoint_path().with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path())  # atomic: a kill mid-save keeps the old one

    def load_checkpoint(self):
        """Restore a checkpoint written by save_checkpoint."""
        state = torch.load(self.checkpoint_path(), map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best, self.history = state["step"], state["best"], state["history"]
        self.elapsed, self.started = state.get("elapsed", 0.0), time.time()
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {self.step}", flush=True)

    def evaluate(self, epoch_progress):
        """Dev evaluation; the best model so far is saved to <out>/best."""
        metrics = dev_metrics(self.model, self.dev, self.args, self.device, self.pad_id)
        metrics.update(step=self.step, epoch=round(epoch_progress, 3),
                       train_seconds=round(self.seconds()), device=str(self.device))
        self.history.append(metrics)
        print(json.dumps(metrics), flush=True)
        first = not (self.out / "best").exists()
        if headline(self.args.task, metrics) > self.best or first:
            self.best = headline(self.args.task, metrics)
            save_model(self.model, self.tokenizer, self.args, self.out / "best", metrics)

    def train_step(self, batch) -> float:
        """One optimisation step; returns the loss."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        teacher = batch.pop("teacher", None)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            output = self.model(**batch)
        loss = output.loss
        if teacher is not None:
            weight = self.args.distill_weight
            loss = (1 - weight) * loss + weight * soft_cross_entropy(output.logits.float(), teacher)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def run(self):
        """Train all epochs, resuming mid-epoch when a checkpoint says so."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.args.resume and self.checkpoint_path().exists():
            self.load_checkpoint()
        else:
            shutil.rmtree(self.out / "best", ignore_errors=True)  # a fresh run starts a fresh best
        self.model.train()
        eval_every = max(1, self.steps_per_epoch // self.args.evals_per_epoch)
        for epoch in range(self.step // self.steps_per_epoch, self.args.epochs):
            # The batch order depends only on seed and epoch, so a resumed run skips what it did.
            batches = length_grouped_batches(self.lengths, self.args.batch_size, self.args.seed + epoch)
            done = self.step - epoch * self.steps_per_epoch
            self.run_epoch(epoch, batches, done, eval_every)
        self.save_checkpoint()
        return self.best

    def run_epoch(self, epoch, batches, done, eval_every):
        """The remaining steps of one epoch, with a progress bar of loss and throughput."""
        bar = tqdm(batches[done:], desc=f"epoch {epoch + 1}/{self.args.epochs}", mininterval=10,
                   initial=done, total=len(batches))
        started, seen, smoothed = time.time(), 0, None
        for indices in bar:
            loss = self.train_step(collate(self.train, indices, self.pad_id, self.args.regression))
            self.step += 1
            seen += len(indices)
            smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
            bar.set_postfix(loss=f"{smoothed:.4f}", ex_per_s=f"{seen / (time.time() - started):.0f}",
                            refresh=False)
            in_epoch = self.step - epoch * self.steps_per_epoch
            if in_epoch % eval_every == 0 or in_epoch == len(batches):
                self.evaluate(epoch + in_epoch / len(batches))
            if self.step % self.args.checkpoint_every == 0:
                self.save_checkpoint()


def main(argv=None):
    """Parse arguments, train, report the best dev score."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads or os.cpu_count())
    best = Trainer(args).run()
    print(f"best dev {'spearman' if args.regression else 'accuracy'}: {best:.4f} → {args.out}/best")


if __name__ == "__main__":
    main()
