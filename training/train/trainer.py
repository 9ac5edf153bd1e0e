"""The fine-tuning loop: one Accelerate loop with its own checkpointing, used by training.train.finetune.

Accelerate owns devices, precision and processes: bf16 autocast on a GPU that has it, one process
per GPU under `accelerate launch` or `torchrun` (each takes its share of every epoch's batches; the
main process evaluates, saves and prints), plain fp32 on a CPU. Checkpoints are
`accelerator.save_state` directories; a resumed run skips what it did with `skip_first_batches`.
"""
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import AutoTokenizer, ElectraForSequenceClassification, get_linear_schedule_with_warmup

from model_files import DEV_METRICS_FILE, SERVING_FILE, TRAIN_ARGS_FILE
from training.data import mix
from training.metrics import headline, sentiment_metrics, similarity_metrics
from training.train import ranking
from training.train.batching import collate, encode_task, length_grouped_batches, sorted_batches
from training.train.precision import training_precision
from training.train.soft_labels import mixed_loss

LABELS = {0: "negative", 1: "positive"}
TRAINER_STATE = "trainer_state.json"  # in a checkpoint, beside Accelerate's files: step, best, history


def seed_everything(seed):
    """Fix Python, NumPy and torch seeds."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(args):
    """The --init model (a directory or hub id) with a new head for the task, in fp32."""
    labels = mix.NLI_LABELS if args.task == "nli" else LABELS
    task_kwargs = ({"num_labels": 1, "problem_type": "regression"} if args.regression else
                   {"num_labels": len(labels), "id2label": labels,
                    "label2id": {v: k for k, v in labels.items()},
                    "problem_type": "single_label_classification"})
    # The head is new for this task; a classifier --init of another shape keeps only its encoder.
    # fp32 whatever the checkpoint holds: an exported model (running_model/) is saved in fp16.
    return ElectraForSequenceClassification.from_pretrained(
        args.init, ignore_mismatched_sizes=True, dtype=torch.float32, **task_kwargs)


def encode_train(tokenizer, frame, args) -> dict:
    """The encoded training rows; rows with a soft label (`positive`, pseudo-labeled reviews) also
    carry it as `teacher`, with soft_share 1 (gold rows 0) and their `weight` (gold rows 1)."""
    encoded = encode_task(tokenizer, frame, args.task, args.max_length, args.clean)
    if "positive" not in frame:
        return encoded
    soft = frame["positive"].notna().tolist()
    positive = frame["positive"].where(frame["positive"].notna(), frame["label"]).astype(float)
    encoded["teacher"] = [[1.0 - p, p] for p in positive]
    encoded["soft_share"] = [1.0 if s else 0.0 for s in soft]
    encoded["weight"] = frame["weight"].fillna(1.0).astype(float).tolist()
    return encoded


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
    return sentiment_metrics(dataset["labels"], predictions, classes=3 if args.task == "nli" else 2)


def save_model(model, tokenizer, args, directory, metrics):
    """A complete save_pretrained directory plus serving metadata and dev metrics."""
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    serving = {"name": Path(args.out).name, "task": args.task, "clean": args.clean}
    Path(directory, SERVING_FILE).write_text(json.dumps(serving, indent=2))
    Path(directory, TRAIN_ARGS_FILE).write_text(json.dumps(asdict(args), indent=2))
    Path(directory, DEV_METRICS_FILE).write_text(json.dumps(metrics, indent=2))


def mixed_precision(args) -> str:
    """The Accelerator's precision: --mixed_precision, where auto means bf16 on capable hardware.

    None lets `accelerate launch --mixed_precision X` (ACCELERATE_MIXED_PRECISION) decide.
    """
    if args.mixed_precision == "auto" and os.environ.get("ACCELERATE_MIXED_PRECISION"):
        return None
    return training_precision(args.mixed_precision)


class Trainer:
    """The loop: length-grouped batches, AdamW + warmup/decay, evals, checkpoints, resume.

    Accelerate owns devices, precision and processes: the model, optimizer and scheduler are
    prepared once, each epoch's batches through a prepared DataLoader that hands each process
    its share. `self.step` counts optimizer steps of one process (the same on every process).
    """

    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        self.accelerator = Accelerator(mixed_precision=mixed_precision(args))
        self.main = self.accelerator.is_main_process
        self.device = self.accelerator.device
        seed_everything(args.seed)  # the same run gives the same model, whoever calls it
        self.tokenizer = AutoTokenizer.from_pretrained(args.init)
        self.pad_id = self.tokenizer.pad_token_id
        train, dev, extra_devs = mix.load_splits(args)
        self.train = encode_train(self.tokenizer, train, args)
        self.dev = encode_task(self.tokenizer, dev, args.task, args.max_length, args.clean)
        self.extra_devs = {name: encode_task(self.tokenizer, frame, args.task, args.max_length, args.clean)
                           for name, frame in extra_devs.items()}
        self.ranking = self.ranking_data() if args.mix.get("ranking") else None
        self.lengths = [len(ids) for ids in self.train["input_ids"]]
        model = build_model(args)
        if args.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        processes = self.accelerator.num_processes
        # Every process takes one of each `processes` batches (the last round padded by repeats).
        self.steps_per_epoch = math.ceil(math.ceil(len(self.lengths) / args.batch_size) / processes)
        # The prepared scheduler advances once per process at every step.
        total = self.steps_per_epoch * processes * args.epochs
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.weight_decay)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total * args.warmup_ratio), total)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        self.step, self.best, self.history = 0, -math.inf, []
        self.resumed_rng = None  # torch's RNG at the checkpoint, until the first resumed step
        self.elapsed, self.started = 0.0, time.time()  # training seconds, summed over resumes

    def ranking_data(self):
        """The encoded (premise, entailed) and (premise, contradicted) pairs; sets their seeded order."""
        found = ranking.triplets(self.args, say=self.print)
        self.ranking_order = random.Random(self.args.seed).sample(range(len(found)), len(found))
        return [encode_task(self.tokenizer, frame, "similarity", self.args.max_length, self.args.clean)
                for frame in ranking.ranking_pairs(found, self.args.seed)]

    def ranking_indices(self):
        """This step's premises: the next `nli_premises` of the seeded order on this process."""
        count, order = self.args.mix["ranking"]["nli_premises"], self.ranking_order
        start = (self.step * self.accelerator.num_processes + self.accelerator.process_index) * count
        return [order[(start + i) % len(order)] for i in range(count)]

    def with_ranking_rows(self, batch):
        """The batch's inputs, then this step's entailed pairs, then their contradicted ones."""
        indices = self.ranking_indices()
        parts = [batch] + [collate(pairs, indices, self.pad_id, True) for pairs in self.ranking]
        width = max(part["input_ids"].shape[1] for part in parts)
        # On a GPU the prepared loader has already moved the batch there; the premises follow it.
        return {key: torch.cat([ranking.pad_columns(part[key].to(self.device), width,
                                            self.pad_id if key == "input_ids" else 0) for part in parts])
                for key in ("input_ids", "token_type_ids", "attention_mask")}

    def ranking_step_loss(self, batch):
        """MSE on the batch plus the weighted margin ranking loss on this step's premises."""
        labels = batch["labels"].to(self.device)
        scores = self.model(**self.with_ranking_rows(batch)).logits[:, 0].float()  # one forward: DDP wants one per step
        entailed, contradicted = scores[len(labels):].chunk(2)
        settings = self.args.mix["ranking"]
        return F.mse_loss(scores[:len(labels)], labels) + settings["weight"] * \
            ranking.margin_ranking_loss(entailed, contradicted, settings["margin"])

    def print(self, message):
        """Print from the main process only."""
        if self.main:
            print(message, flush=True)

    @property
    def unwrapped(self):
        """The bare model (no DDP or precision wrapper): what is evaluated and saved."""
        return self.accelerator.unwrap_model(self.model)

    def seconds(self) -> float:
        """Training wall time so far, including earlier runs this one resumed."""
        return self.elapsed + time.time() - self.started

    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint"

    def save_checkpoint(self):
        """Everything needed to continue exactly where we are: Accelerate's state and our counters.

        Written beside the last checkpoint and swapped in at the end, so a kill mid-save keeps it.
        """
        partial, old = self.out / "checkpoint.partial", self.out / "checkpoint.old"
        if self.main:
            shutil.rmtree(partial, ignore_errors=True)  # what a kill mid-save left
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(partial))  # model, optimizer, scheduler, every RNG
        if self.main:
            counters = {"step": self.step, "best": self.best, "history": self.history,
                        "elapsed": self.seconds()}
            (partial / TRAINER_STATE).write_text(json.dumps(counters))
            if self.checkpoint_path().exists():
                self.checkpoint_path().rename(old)
            partial.rename(self.checkpoint_path())
            shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()

    def load_checkpoint(self):
        """Restore a checkpoint written by save_checkpoint (every process reads the same one)."""
        old = self.out / "checkpoint.old"
        if self.main and not self.checkpoint_path().exists() and old.exists():
            old.rename(self.checkpoint_path())  # a kill between save_checkpoint's two renames
        self.accelerator.wait_for_everyone()
        self.accelerator.load_state(str(self.checkpoint_path()))
        # Starting the epoch's DataLoader iterator draws from torch's RNG; the uninterrupted run
        # drew that before the checkpoint, so the state is put back once the iterator exists.
        self.resumed_rng = torch.get_rng_state()
        counters = json.loads((self.checkpoint_path() / TRAINER_STATE).read_text())
        self.step, self.best, self.history = counters["step"], counters["best"], counters["history"]
        self.elapsed, self.started = counters["elapsed"], time.time()
        self.print(f"resumed at step {self.step}")

    def evaluate(self, epoch_progress):
        """Dev evaluation on the main process; the best model so far is saved to <out>/best."""
        if self.main:
            with self.accelerator.autocast():
                self.evaluate_and_save(epoch_progress)
        self.accelerator.wait_for_everyone()

    def evaluate_and_save(self, epoch_progress):
        """Score every dev set, record the metrics, save the model when the selection score improves."""
        model = self.unwrapped
        metrics = dev_metrics(model, self.dev, self.args, self.device, self.pad_id)
        scores = [headline(self.args.task, metrics)]
        for name, dataset in self.extra_devs.items():
            metrics[name] = dev_metrics(model, dataset, self.args, self.device, self.pad_id)
            scores.append(headline(self.args.task, metrics[name]))
        # Selection weighs every dev set alike, so no one set's noise picks the checkpoint.
        selection = sum(scores) / len(scores)
        metrics.update(selection=selection, step=self.step, epoch=round(epoch_progress, 3),
                       train_seconds=round(self.seconds()), device=str(self.device),
                       processes=self.accelerator.num_processes,
                       mixed_precision=self.accelerator.mixed_precision)
        self.history.append(metrics)
        print(json.dumps(metrics), flush=True)
        first = not (self.out / "best").exists()
        if selection > self.best or first:
            self.best = selection
            save_model(model, self.tokenizer, self.args, self.out / "best", metrics)

    def train_step(self, batch) -> float:
        """One optimisation step; returns the loss."""
        if self.ranking is not None:
            return self.apply(self.ranking_step_loss(batch))
        batch = {k: v.to(self.device) for k, v in batch.items()}
        teacher = batch.pop("teacher", None)
        soft_share, weight = batch.pop("soft_share", None), batch.pop("weight", None)
        if teacher is None:
            loss = self.model(**batch).loss
        else:
            labels = batch.pop("labels")
            loss = mixed_loss(self.model(**batch).logits.float(), labels, teacher, soft_share, weight)
        return self.apply(loss)

    def apply(self, loss) -> float:
        """Backward, clip and step on one loss; returns its value."""
        self.accelerator.backward(loss)
        self.accelerator.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def run(self):
        """Train all epochs, resuming mid-epoch when a checkpoint says so."""
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
        if self.args.resume and any(path.exists() for path in (self.checkpoint_path(), self.out / "checkpoint.old")):
            self.load_checkpoint()
        elif self.main:
            shutil.rmtree(self.out / "best", ignore_errors=True)  # a fresh run starts a fresh best
            (self.out / "done").unlink(missing_ok=True)
        self.accelerator.wait_for_everyone()
        self.model.train()
        eval_every = max(1, self.steps_per_epoch // self.args.evals_per_epoch)
        for epoch in range(self.step // self.steps_per_epoch, self.args.epochs):
            done = self.step - epoch * self.steps_per_epoch
            self.run_epoch(epoch, self.epoch_loader(epoch), done, eval_every)
        self.save_checkpoint()
        if self.main:  # the recipe reads these: what each evaluation measured, and that it ended
            (self.out / "history.json").write_text(json.dumps(self.history, indent=2))
            (self.out / "done").write_text(f"{self.best}\n")
        return self.best

    def epoch_loader(self, epoch):
        """This process's batches of one epoch, collated and placed on its device.

        The batch order depends only on seed and epoch, so a resumed run skips what it did.
        """
        batches = length_grouped_batches(self.lengths, self.args.batch_size, self.args.seed + epoch)
        loader = DataLoader(range(len(self.lengths)), batch_sampler=batches,
                            collate_fn=lambda indices: collate(self.train, indices, self.pad_id,
                                                               self.args.regression))
        return self.accelerator.prepare_data_loader(loader)

    def run_epoch(self, epoch, loader, done, eval_every):
        """The remaining steps of one epoch, with a progress bar of loss and throughput."""
        bar = tqdm(self.accelerator.skip_first_batches(loader, done), mininterval=10,
                   desc=f"epoch {epoch + 1}/{self.args.epochs}", initial=done, total=len(loader),
                   disable=not self.main)
        started, seen, smoothed = time.time(), 0, None
        for batch in bar:
            if self.resumed_rng is not None:
                torch.set_rng_state(self.resumed_rng)  # dropout continues as if never cut off
                self.resumed_rng = None
            seen += len(batch["labels"])
            loss = self.train_step(batch)
            self.step += 1
            smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
            bar.set_postfix(loss=f"{smoothed:.4f}", ex_per_s=f"{seen / (time.time() - started):.0f}",
                            refresh=False)
            in_epoch = self.step - epoch * self.steps_per_epoch
            if in_epoch % eval_every == 0 or in_epoch == len(loader):
                self.evaluate(epoch + in_epoch / len(loader))
            if self.step % self.args.checkpoint_every == 0:
                self.save_checkpoint()


