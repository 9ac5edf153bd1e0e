"""Fine-tune ElectraForSequenceClassification for one task from a pretrained model (--init).

    python -m training.train.finetune --task similarity     # training/train/configs/similarity.json
    python -m training.train.finetune --task similarity --init runs/e5-small-ko \
        --mix training/recipes/similarity-plain.json  # the data as a file (training.data.mix)
    python -m training.train.finetune --task sentiment --init runs/e5-small-ko \
        --mix '{"train": [{"source": "nsmc"}, {"source": "pseudo_labels", "path": "runs/pseudo.tsv"}]}'
    python -m training.train.finetune --task sentiment --resume true   # continue from the last checkpoint
    accelerate launch -m training.train.finetune --task sentiment ...   # several GPUs, same arguments

The loop is training.train.trainer's (🤗 Accelerate); what it trains on is the mix's (training.data.mix).
"""
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from training.arguments import parse_with_config
from training.data import mix
from training.train.trainer import Trainer

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class FinetuneArgs:
    task: str = field(metadata={"help": "sentiment (NSMC), similarity (KorSTS) or nli (KLUE-NLI: a first stage to start similarity from)."})
    init: str = field(default=None, metadata={"help": "Pretrained model directory or hub id (runs/e5-small-ko: training.encoders.import_e5)."})
    mix: str = field(default=None, metadata={"help": "The training data (training.data.mix): a JSON file or JSON text; in a config file, an object. Unset or empty: the task's own train set."})
    out: str = field(default=None, metadata={"help": "Output directory (default runs/<task>)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    clean: bool = field(default=True, metadata={"help": "Apply preprocessing.clean() to texts (recorded for serving)."})
    max_length: int = field(default=128, metadata={"help": "Tokens per input (pairs: both together)."})
    # Optimisation.
    epochs: int = field(default=3, metadata={"help": "Passes over the training data."})
    batch_size: int = field(default=32, metadata={"help": "Examples per step."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps with linear warmup."})
    seed: int = field(default=42, metadata={"help": "Seed for the new head, shuffling and dropout."})
    freeze_embeddings: bool = field(default=False, metadata={"help": "Keep the word embeddings as initialised (faster steps, no drift of rare pieces)."})
    mixed_precision: str = field(default="auto", metadata={"help": "auto (bf16 on a GPU or CPU that has it, else none; `accelerate launch --mixed_precision` wins), no, bf16 or fp16."})
    # Evaluation, checkpoints, machine.
    evals_per_epoch: int = field(default=1, metadata={"help": "Dev evaluations (and best-model checks) per epoch."})
    max_dev_examples: int = field(default=0, metadata={"help": "Use only this many dev examples (0 = all)."})
    checkpoint_every: int = field(default=500, metadata={"help": "Steps between resumable checkpoints."})
    resume: bool = field(default=False, metadata={"help": "Resume from <out>/checkpoint if present."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores)."})

    def __post_init__(self):
        if self.task not in ("sentiment", "similarity", "nli"):
            raise ValueError(f"--task must be sentiment, similarity or nli, not {self.task!r}")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError("--mixed_precision must be auto, no, bf16 or fp16")
        if not self.init:
            raise ValueError("--init is required: a model directory or hub id, e.g. runs/e5-small-ko "
                             "from `python -m training.encoders.import_e5 --out runs/e5-small-ko`")
        if self.init.startswith("runs/") and not Path(self.init).exists():
            raise ValueError(f"no model at {self.init}: import one first with "
                             f"`python -m training.encoders.import_e5 --out {self.init}`")
        self.out = self.out or f"runs/{self.task}"
        self.mix = mix.parse(self.mix, self.task)  # recorded whole in train_args.json

    @property
    def regression(self) -> bool:
        return self.task == "similarity"


def parse_args(argv=None) -> FinetuneArgs:
    """Defaults ← training/train/configs/<task>.json (or --config FILE) ← command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return parse_with_config(FinetuneArgs, argv, _task_config(argv))


def _task_config(argv):
    """training/train/configs/<task>.json when --task is given and that file exists."""
    if "--task" in argv:
        path = CONFIG_DIR / f"{argv[argv.index('--task') + 1]}.json"
        return str(path) if path.exists() else None
    return None


def main(argv=None):
    """Parse arguments, train, report the best dev score."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads or os.cpu_count())
    trainer = Trainer(args)
    best = trainer.run()
    trainer.print(f"best dev selection score ({'mean Spearman' if args.regression else 'accuracy'}): "
                  f"{best:.4f} → {args.out}/best")
    trainer.accelerator.end_training()


if __name__ == "__main__":
    main()
