"""ELECTRA replaced-token-detection pretraining (Clark et al., 2020) on the review corpus.

    python -m training.pretrain                       # uses training/configs/pretrain.json
    python -m training.pretrain --resume true         # continue from <out>/checkpoint.pt
    python -m training.finetune --task sentiment --init runs/pretrain/discriminator

A small masked-LM generator fills 15% masked positions with its own samples; the discriminator
learns to tell which tokens were replaced. Loss = generator MLM + 50 × discriminator RTD.
"""
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import (AutoTokenizer, ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining,
                          get_linear_schedule_with_warmup)

from preprocessing import clean
from training import data
from training.arguments import parse_with_config
from training.finetune import seed_everything

CONFIG_FILE = Path(__file__).resolve().parent / "configs" / "pretrain.json"


@dataclass
class PretrainArgs:
    out: str = field(default="runs/pretrain", metadata={"help": "Output directory (checkpoint, discriminator/)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    tokenizer: str = field(default="runs/tokenizer-wp32k", metadata={"help": "Tokenizer directory (training.tokenizer)."})
    include_extra: bool = field(default=True, metadata={"help": "Add NSMC train, KorSTS and extra/ texts to the reviews."})
    max_texts: int = field(default=0, metadata={"help": "Use only this many corpus texts (0 = all)."})
    seq_length: int = field(default=128, metadata={"help": "Tokens per packed sequence."})
    # Discriminator (KoELECTRA-Small-v3 shape by default); the generator is 1/4 as wide.
    embedding_size: int = field(default=128, metadata={"help": "Shared token embedding width."})
    hidden_size: int = field(default=256, metadata={"help": "Discriminator width."})
    num_layers: int = field(default=12, metadata={"help": "Layers of both generator and discriminator."})
    num_heads: int = field(default=4, metadata={"help": "Discriminator attention heads."})
    intermediate_size: int = field(default=1024, metadata={"help": "Discriminator feed-forward width."})
    generator_fraction: float = field(default=0.25, metadata={"help": "Generator width as a share of the discriminator's."})
    mask_prob: float = field(default=0.15, metadata={"help": "Share of tokens masked, drawn anew for every batch."})
    rtd_weight: float = field(default=50.0, metadata={"help": "Weight of the discriminator loss (paper: 50)."})
    # Optimisation.
    max_steps: int = field(default=10000, metadata={"help": "Optimisation steps in total."})
    max_minutes: float = field(default=0, metadata={"help": "Stop (with a checkpoint) after this many minutes of this run (0 = no limit)."})
    batch_size: int = field(default=64, metadata={"help": "Packed sequences per step."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_steps: int = field(default=1000, metadata={"help": "Linear warmup steps."})
    seed: int = field(default=42, metadata={"help": "Seed for init, masking and shuffling."})
    checkpoint_every: int = field(default=500, metadata={"help": "Steps between checkpoints (and discriminator saves)."})
    resume: bool = field(default=False, metadata={"help": "Resume from <out>/checkpoint.pt if present."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores)."})

    def __post_init__(self):
        if not 0 < self.mask_prob < 1:
            raise ValueError("mask_prob must be between 0 and 1")
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be divisible by num_heads")

    @property
    def generator_hidden(self) -> int:
        return max(16, int(self.hidden_size * self.generator_fraction))


def parse_args(argv=None) -> PretrainArgs:
    """Defaults ← training/configs/pretrain.json (or --config FILE) ← command line."""
    return parse_with_config(PretrainArgs, argv, CONFIG_FILE)


def corpus_texts(args: PretrainArgs):
    """The unlabeled reviews, plus the other Korean texts when include_extra is set."""
    root = data.data_dir(args.data_dir)
    yield from data.iter_corpus(root / "pretrain" / "movie_reviews.txt")
    if args.include_extra:
        yield from data.labeled_train_texts(root)
        yield from data.extra_texts(root)


def pack(token_lists, seq_length, cls_id, sep_id):
    """Greedily pack texts into `[CLS] a [SEP] b [SEP] …` rows of at most seq_length tokens.

    Texts are never split across rows; a text longer than a row is cut. Returns a list of lists.
    """
    rows, current = [], [cls_id]
    for tokens in token_lists:
        if not tokens:
            continue
        tokens = tokens[:seq_length - 2] + [sep_id]
        if len(current) + len(tokens) > seq_length:
            rows.append(current)
            current = [cls_id]
        current.extend(tokens)
    if len(current) > 1:
        rows.append(current)
    return rows


def build_packed(args: PretrainArgs, tokenizer) -> torch.Tensor:
    """Tokenize, pack and pad the corpus: a (rows, seq_length) tensor, cached in <out>/packed.pt."""
    cache = Path(args.out) / "packed.pt"
    if cache.exists():
        return torch.load(cache)
    texts = [clean(t) for t in tqdm(corpus_texts(args), desc="cleaning", unit=" texts", mininterval=10)]
    texts = [t for t in texts if t][:args.max_texts or None]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    rows = pack(ids, args.seq_length, tokenizer.cls_token_id, tokenizer.sep_token_id)
    packed = torch.full((len(rows), args.seq_length), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        packed[i, :len(row)] = torch.tensor(row)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    torch.save(packed, cache)
    print(f"packed {len(texts)} texts into {len(rows)} rows of {args.seq_length}", flush=True)
    return packed


def mask_tokens(input_ids, special_ids, mask_id, mask_prob, generator=None):
    """Choose mask_prob of the ordinary tokens (never specials or padding) and put [MASK] there.

    Returns (masked_ids, mask) with mask a bool tensor of the chosen positions.
    """
    candidates = ~torch.isin(input_ids, special_ids)
    draws = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
    mask = (draws < mask_prob) & candidates
    return input_ids.masked_fill(mask, mask_id), mask


def build_models(args: PretrainArgs, vocab_size, pad_id):
    """Generator and discriminator sharing token, position and segment embeddings."""
    common = dict(vocab_size=vocab_size, embedding_size=args.embedding_size, num_hidden_layers=args.num_layers,
                  max_position_embeddings=512, pad_token_id=pad_id)
    discriminator = ElectraForPreTraining(ElectraConfig(
        hidden_size=args.hidden_size, num_attention_heads=args.num_heads,
        intermediate_size=args.intermediate_size, **common))
    gen_hidden = args.generator_hidden
    generator = ElectraForMaskedLM(ElectraConfig(
        hidden_size=gen_hidden, num_attention_heads=max(1, gen_hidden // 64),
        intermediate_size=gen_hidden * 4, **common))
    shared, own = discriminator.electra.embeddings, generator.electra.embeddings
    own.word_embeddings = shared.word_embeddings
    own.position_embeddings = shared.position_embeddings
    own.token_type_embeddings = shared.token_type_embeddings
    generator.generator_lm_head.weight = shared.word_embeddings.weight  # tied output layer
    return generator, discriminator


def electra_losses(generator, discriminator, input_ids, attention_mask, special_ids, mask_id, args):
    """Generator MLM loss on masked positions and discriminator RTD loss on all real tokens."""
    masked_ids, mask = mask_tokens(input_ids, special_ids, mask_id, args.mask_prob)
    hidden = generator.electra(input_ids=masked_ids, attention_mask=attention_mask).last_hidden_state
    # Vocabulary logits only where masked: (n_masked, vocab), not (batch, seq, vocab).
    logits = generator.generator_lm_head(generator.generator_predictions(hidden[mask]))
    mlm_loss = F.cross_entropy(logits.float(), input_ids[mask])
    with torch.no_grad():
        sampled = torch.multinomial(F.softmax(logits.float(), dim=-1), 1).squeeze(-1)
    corrupted = input_ids.clone()
    corrupted[mask] = sampled
    replaced = (corrupted != input_ids).float()  # a sample equal to the original counts as real
    scores = discriminator(input_ids=corrupted, attention_mask=attention_mask).logits
    real = attention_mask.bool()
    rtd_loss = F.binary_cross_entropy_with_logits(scores[real].float(), replaced[real])
    return mlm_loss, rtd_loss


class Pretrainer:
    """The pretraining loop with checkpoints, resume and a progress bar of both losses."""

    def __init__(self, args: PretrainArgs):
        self.args = args
        self.out = Path(args.out)
        seed_everything(args.seed)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        self.packed = build_packed(args, self.tokenizer)
        self.special_ids = torch.tensor(self.tokenizer.all_special_ids, device=self.device)
        self.generator, self.discriminator = build_models(args, len(self.tokenizer), self.tokenizer.pad_token_id)
        self.generator.to(self.device)
        self.discriminator.to(self.device)
        unique = {id(p): p for m in (self.generator, self.discriminator) for p in m.parameters()}
        self.optimizer = torch.optim.AdamW(list(unique.values()), lr=args.learning_rate,
                                           weight_decay=args.weight_decay)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, args.warmup_steps, args.max_steps)
        self.step, self.elapsed, self.history = 0, 0.0, []

    def save_checkpoint(self, seconds):
        """Models, optimizer and schedule, written atomically; plus the discriminator directory."""
        state = {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "step": self.step, "elapsed": seconds, "history": self.history,
                 "torch_rng": torch.get_rng_state()}
        tmp = self.out / "checkpoint.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "checkpoint.pt")
        self.save_discriminator(seconds)

    def save_discriminator(self, seconds):
        """The discriminator as a save_pretrained directory that fine-tuning's --init accepts."""
        target = self.out / "discriminator"
        self.discriminator.save_pretrained(target)
        self.tokenizer.save_pretrained(target)
        summary = {"step": self.step, "train_seconds": round(seconds), "device": str(self.device),
                   "args": asdict(self.args), "last_losses": self.history[-1:] }
        (target / "pretrain_summary.json").write_text(json.dumps(summary, indent=2))

    def load_checkpoint(self):
        """Restore everything save_checkpoint wrote."""
        state = torch.load(self.out / "checkpoint.pt", map_location=self.device, weights_only=False)
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.elapsed, self.history = state["step"], state["elapsed"], state["history"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {self.step}", flush=True)

    def batch_at(self, step) -> torch.Tensor:
        """The rows of one step: a fixed shuffle per pass over the corpus, so resume is exact."""
        rows = len(self.packed)
        per_pass = max(1, rows // self.args.batch_size)
        order = torch.randperm(rows, generator=torch.Generator().manual_seed(self.args.seed + step // per_pass))
        start = (step % per_pass) * self.args.batch_size
        return self.packed[order[start:start + self.args.batch_size]].to(self.device)

    def train_step(self):
        """One optimisation step; returns (mlm_loss, rtd_loss)."""
        input_ids = self.batch_at(self.step)
        attention_mask = (input_ids != self.tokenizer.pad_token_id).long()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            mlm, rtd = electra_losses(self.generator, self.discriminator, input_ids, attention_mask,
                                      self.special_ids, self.tokenizer.mask_token_id, self.args)
        (mlm + self.args.rtd_weight * rtd).backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return mlm.item(), rtd.item()

    def run(self):
        """Train until max_steps or max_minutes, checkpointing on the way and at the end."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.args.resume and (self.out / "checkpoint.pt").exists():
            self.load_checkpoint()
        self.generator.train()
        self.discriminator.train()
        started = time.time()
        deadline = started + self.args.max_minutes * 60 if self.args.max_minutes else math.inf
        bar = tqdm(total=self.args.max_steps, initial=self.step, desc="pretrain", mininterval=10)
        while self.step < self.args.max_steps and time.time() < deadline:
            mlm, rtd = self.train_step()
            bar.update(1)
            bar.set_postfix(mlm=f"{mlm:.3f}", rtd=f"{rtd:.4f}", refresh=False)
            if self.step % 100 == 0:
                self.history.append({"step": self.step, "mlm": round(mlm, 4), "rtd": round(rtd, 4)})
            if self.step % self.args.checkpoint_every == 0:
                self.save_checkpoint(self.elapsed + time.time() - started)
        bar.close()
        self.save_checkpoint(self.elapsed + time.time() - started)
        return self.step


def main(argv=None):
    """Parse arguments and pretrain."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads or os.cpu_count())
    steps = Pretrainer(args).run()
    print(f"pretrained {steps} steps → {args.out}/discriminator")


if __name__ == "__main__":
    main()
