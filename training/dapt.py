"""Domain-adaptive masked-LM training of the imported encoder on the unlabeled movie reviews.

    python -m training.dapt --init runs/e5-small-ko --out runs/e5-dapt --max_steps 20000
    accelerate launch -m training.dapt ...          # several GPUs; bf16 where supported
    python -m training.finetune --task sentiment --init runs/e5-dapt/encoder ...

e5 was pretrained on web text, not on these reviews' slang, spacing and ㅋㅋ. Continued masked-LM
training on the 629k in-domain reviews (KcELECTRA's lesson: the noisy in-domain text matters most)
adapts it before fine-tuning. The model is ElectraForMaskedLM from --init: the encoder keeps its
weights; the MLM head (a dense layer, LayerNorm and an output layer tied to the word embeddings)
is new, randomly initialised. Reviews are packed into rows of --seq_length tokens; 15% of ordinary
tokens are masked anew in every batch (training.pretrain.mask_tokens). Corpus lines equal to an
NSMC test or dev review are dropped first (training.dedup), so none is read even unlabeled.
The encoder alone is saved to <out>/encoder, a directory `finetune --init` takes.
"""
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import AutoTokenizer, ElectraForMaskedLM, get_linear_schedule_with_warmup

from training import data
from training.arguments import parse_with_config
from training.dedup import held_out_keys
from training.finetune import seed_everything
from training.pretrain import mask_tokens, pack
from training.pseudolabel import filter_corpus


@dataclass
class DaptArgs:
    init: str = field(default="runs/e5-small-ko", metadata={"help": "Encoder directory to adapt (training.import_e5's output)."})
    out: str = field(default="runs/e5-dapt", metadata={"help": "Output directory: checkpoint.pt and encoder/."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    corpus: str = field(default=None, metadata={"help": "Unlabeled reviews, one a line (default <data>/pretrain/movie_reviews.txt)."})
    max_lines: int = field(default=0, metadata={"help": "Use only the first N corpus lines that pass the filter (0 = all)."})
    seq_length: int = field(default=128, metadata={"help": "Tokens per packed row."})
    mask_prob: float = field(default=0.15, metadata={"help": "Share of ordinary tokens masked."})
    batch_size: int = field(default=32, metadata={"help": "Rows per step (per process)."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.06, metadata={"help": "Share of steps with linear warmup."})
    max_steps: int = field(default=10000, metadata={"help": "Optimizer steps in all."})
    checkpoint_every: int = field(default=1000, metadata={"help": "Steps between checkpoints (and encoder saves)."})
    resume: bool = field(default=False, metadata={"help": "Resume from <out>/checkpoint.pt if present."})
    seed: int = field(default=42, metadata={"help": "Seed for the head's init, shuffling and masking."})
    mixed_precision: str = field(default="auto", metadata={"help": "auto (bf16 on a capable GPU), no, bf16 or fp16."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores)."})


def packed_rows(args: DaptArgs, tokenizer) -> torch.Tensor:
    """The filtered corpus tokenized and packed: a (rows, seq_length) tensor padded with pad ids."""
    root = data.data_dir(args.data_dir)
    lines = list(data.iter_corpus(args.corpus or root / "pretrain" / "movie_reviews.txt"))
    texts, dropped = filter_corpus(lines, held_out_keys(root), train_texts=[], novelty=False)
    texts = texts[:args.max_lines] if args.max_lines else texts
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    rows = pack(ids, args.seq_length, tokenizer.cls_token_id, tokenizer.sep_token_id)
    table = torch.full((len(rows), args.seq_length), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        table[i, :len(row)] = torch.tensor(row)
    print(f"dapt: {len(texts)} reviews in {len(rows)} rows; dropped {json.dumps(dropped)}", flush=True)
    return table


class Adapter:
    """The masked-LM loop through Accelerate, with resumable checkpoints."""

    def __init__(self, args: DaptArgs):
        from training.finetune import mixed_precision  # the same auto rule as fine-tuning
        self.args, self.out = args, Path(args.out)
        # A seedable sampler shuffles each epoch by seed + epoch, so a resumed run skips the right rows.
        self.accelerator = Accelerator(mixed_precision=mixed_precision(args), dataloader_config=DataLoaderConfiguration(
            use_seedable_sampler=True, data_seed=args.seed))
        seed_everything(args.seed)
        self.tokenizer = AutoTokenizer.from_pretrained(args.init)
        with self.accelerator.main_process_first():
            self.rows = packed_rows(args, self.tokenizer)
        self.special = torch.tensor(self.tokenizer.all_special_ids)
        model = ElectraForMaskedLM.from_pretrained(args.init, dtype=torch.float32)  # fp32 even from an fp16 export
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
        total = args.max_steps * self.accelerator.num_processes  # the prepared scheduler steps once per process
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total * args.warmup_ratio), total)
        loader = DataLoader(self.rows, batch_size=args.batch_size, shuffle=True, drop_last=True)
        self.model, self.optimizer, self.scheduler, self.loader = self.accelerator.prepare(
            model, optimizer, scheduler, loader)
        self.step = 0

    def loss(self, rows) -> torch.Tensor:
        """Masked-LM loss of one batch of packed rows, masked afresh."""
        attention = (rows != self.tokenizer.pad_token_id).long()
        masked, mask = mask_tokens(rows, self.special.to(rows.device), self.tokenizer.mask_token_id,
                                   self.args.mask_prob)
        labels = rows.masked_fill(~mask, -100)
        return self.model(input_ids=masked, attention_mask=attention, labels=labels).loss

    def save(self):
        """Checkpoint and encoder directory, written by the main process."""
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            self.out.mkdir(parents=True, exist_ok=True)
            state = {"model": model.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(), "step": self.step}
            torch.save(state, self.out / "checkpoint.tmp")
            os.replace(self.out / "checkpoint.tmp", self.out / "checkpoint.pt")
            model.electra.save_pretrained(self.out / "encoder")
            self.tokenizer.save_pretrained(self.out / "encoder")
            (self.out / "dapt_args.json").write_text(json.dumps(asdict(self.args), indent=2))
        self.accelerator.wait_for_everyone()

    def load(self):
        """Continue from <out>/checkpoint.pt."""
        state = torch.load(self.out / "checkpoint.pt", map_location="cpu", weights_only=False)
        self.accelerator.unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = state["step"]

    def run(self) -> int:
        """Train to max_steps; returns the step reached."""
        if self.args.resume and (self.out / "checkpoint.pt").exists():
            self.load()
        self.model.train()
        bar = tqdm(total=self.args.max_steps, initial=self.step, desc="dapt", mininterval=10,
                   disable=not self.accelerator.is_main_process)
        smoothed, started = None, time.time()
        while self.step < self.args.max_steps:
            # Epoch and position follow from the step, so a resumed run goes on where it stopped.
            self.loader.set_epoch(self.step // len(self.loader))
            done = self.step % len(self.loader)
            for rows in self.accelerator.skip_first_batches(self.loader, done):
                loss = self.loss(rows)
                self.accelerator.backward(loss)
                self.accelerator.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                smoothed = loss.item() if smoothed is None else 0.98 * smoothed + 0.02 * loss.item()
                bar.update(1)
                bar.set_postfix(mlm=f"{smoothed:.3f}", s=f"{time.time() - started:.0f}", refresh=False)
                if self.step % self.args.checkpoint_every == 0 or self.step == self.args.max_steps:
                    self.save()
                if self.step >= self.args.max_steps:
                    break
        return self.step


def main(argv=None):
    """Parse arguments and adapt the encoder."""
    args = parse_with_config(DaptArgs, argv)
    torch.set_num_threads(args.threads or os.cpu_count())
    adapter = Adapter(args)
    adapter.run()
    if adapter.accelerator.is_main_process:
        print(f"encoder after {adapter.step} steps → {args.out}/encoder", flush=True)


if __name__ == "__main__":
    main()
