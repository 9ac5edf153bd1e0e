"""Fine-tune ElectraForSequenceClassification for one task, from random init or --init.

    python -m training.finetune --task sentiment            # uses training/configs/sentiment.json
    python -m training.finetune --task similarity --init runs/pretrain/discriminator
    python -m training.finetune --task sentiment --resume   # continue from the last checkpoint
    python -m training.finetune --task similarity --init runs/sim-e5-served --nli_ranking 4  # + NLI ranking loss
    python -m training.finetune --task similarity --init runs/sim-e5-served --nli_ranking 6 \
        --contrast_ranking true   # + edited STS pairs in the ranking loss (training.contrasts)
    python -m training.finetune --task similarity --init runs/sim-e5-served --nli_ranking 4 \
        --contrast_ranking true --everyday_contrasts true --contrast_edits antonym negation
    python -m training.finetune --task sentiment --init runs/e5-small-ko \
        --pseudo_labels runs/pseudo/round1.tsv --pseudo_weight 0.5   # a self-training student
    accelerate launch -m training.finetune --task sentiment ...  # several GPUs, same arguments

The loop runs through 🤗 Accelerate: bf16 autocast on a GPU that has it, one process per GPU under
`accelerate launch` or `torchrun` (each takes its share of every epoch's batches; the main
process evaluates, saves and prints), plain fp32 on a CPU.
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
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import (AutoTokenizer, ElectraConfig, ElectraForSequenceClassification,
                          get_linear_schedule_with_warmup)

from model_files import DEV_METRICS_FILE, SERVING_FILE, TRAIN_ARGS_FILE
from preprocessing import clean_if
from training import contrasts, data, numerals
from training.arguments import parse_with_config
from training.batching import collate, encode_task, length_grouped_batches, sorted_batches
from training.precision import training_precision
from training.metrics import headline, sentiment_metrics, similarity_metrics
from training.soft_labels import (add_pseudo_labels, mixed_loss, read_pseudo_labels,
                                  soft_cross_entropy)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
LABELS = {0: "negative", 1: "positive"}
NLI_LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}
TRAINER_STATE = "trainer_state.json"  # in a checkpoint, beside Accelerate's files: step, best, history


@dataclass
class FinetuneArgs:
    task: str = field(metadata={"help": "sentiment (NSMC), similarity (KorSTS) or nli (KLUE-NLI: a first stage to start similarity from)."})
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
    resume: bool = field(default=False, metadata={"help": "Resume from <out>/checkpoint if present."})
    klue_sts: bool = field(default=False, metadata={"help": "Similarity: also train on KLUE-STS train less a fixed tenth, which is scored at each evaluation and shares checkpoint selection with KorSTS dev."})
    train_klue_sts: bool = field(default=True, metadata={"help": "With --klue_sts: also train on its 90 percent (false: only score the held-out tenth, e.g. for a last stage on KorSTS alone)."})
    freeze_embeddings: bool = field(default=False, metadata={"help": "Keep the word embeddings as initialised (faster steps, no drift of rare pieces)."})
    swap_pairs: bool = field(default=False, metadata={"help": "Similarity: also train on every pair in swapped order."})
    anchor_pairs: int = field(default=0, metadata={"help": "Similarity: add this many identical (5.0) and random (0.0) pairs."})
    style_paraphrases: int = field(default=0, metadata={"help": "Similarity: add this many pairs from each StyleKQC act-train block (the same utterance in different styles), scored --style_paraphrase_score."})
    style_paraphrase_score: float = field(default=4.5, metadata={"help": "The 0–5 score given to StyleKQC paraphrase pairs."})
    question_paraphrases: bool = field(default=False, metadata={"help": "Similarity: add the same-meaning pairs of the question-pair train file (not word for word the same), scored --question_paraphrase_score."})
    question_paraphrase_score: float = field(default=4.5, metadata={"help": "The 0–5 score given to question-pair paraphrases."})
    question_unrelated: bool = field(default=False, metadata={"help": "Similarity: add the question-pair train file's pairs of different meaning, scored --question_unrelated_score."})
    question_unrelated_score: float = field(default=0.5, metadata={"help": "The 0–5 score given to question pairs of different meaning."})
    nli_contradictions: int = field(default=0, metadata={"help": "Similarity: add this many KLUE-NLI train contradictions (a seeded sample), scored --nli_contradiction_score: one topic, most words shared, not the same meaning."})
    nli_contradiction_score: float = field(default=1.5, metadata={"help": "The 0–5 score given to KLUE-NLI contradictions (the STS scale's 1–2: not equivalent, on one topic)."})
    nli_ranking: int = field(default=0, metadata={"help": "Similarity: with every step, this many KLUE-NLI train premises (training.data.nli_triplets, in turn) whose entailed hypothesis must score --ranking_margin above its contradicted one (0 = off). It asks entailment above contradiction without fixing either score."})
    ranking_margin: float = field(default=1.0, metadata={"help": "With --nli_ranking: how far (on the 0–5 scale) an entailment must score above the contradiction of its premise."})
    ranking_weight: float = field(default=1.0, metadata={"help": "With --nli_ranking: the ranking loss's weight beside the MSE."})
    contrast_ranking: bool = field(default=False, metadata={"help": "With --nli_ranking: add to its premises the STS training pairs scored 4 or more whose one side an edit turns against the other (the kinds --contrast_edits picks: a swapped antonym, a changed number, a negated predicate; training.contrasts): the edit must score --ranking_margin below the original."})
    everyday_contrasts: bool = field(default=False, metadata={"help": "With --nli_ranking: add edits of everyday pairs to its premises: the question-pair train paraphrases and StyleKQC act-train pairs with one side edited, and chatbot questions against their own edit (training.contrasts.self_contrast_triplets)."})
    contrast_edits: list[str] = field(default_factory=lambda: list(contrasts.EDIT_KINDS), metadata={"help": "With --contrast_ranking or --everyday_contrasts: the edit kinds to make (antonym, number, negation)."})
    numeral_variants: bool = field(default=False, metadata={"help": "Similarity: also train on a copy of every pair with a number before a counter, one side's numbers in Korean words (3시 → 세 시), the score kept (training.numerals)."})
    teacher_pairs: int = field(default=0, metadata={"help": "Similarity: add this many unlabeled pairs scored by the TF-IDF cosine baseline."})
    distill_weight: float = field(default=0.0, metadata={"help": "Sentiment: weight of the TF-IDF teacher's soft labels in the loss (0 = off, 1 = teacher only)."})
    teacher_folds: int = field(default=5, metadata={"help": "Sentiment distillation: folds for the teacher's out-of-fold probabilities."})
    distill_teacher: str = field(default="char", metadata={"help": "Sentiment distillation teacher: char (char n-gram TF-IDF + LR) or word_char (word and char n-grams, training.baselines.ngram_classifier)."})
    pseudo_labels: str = field(default=None, metadata={"help": "Sentiment: TSV from training.pseudolabel; its reviews train on the teacher's soft labels beside the gold ones."})
    pseudo_weight: float = field(default=1.0, metadata={"help": "What one pseudo-labeled review counts in the loss, against 1 for a gold review."})
    max_pseudo_examples: int = field(default=0, metadata={"help": "Use only the first (most confident) N pseudo-labeled reviews (0 = all)."})
    mixed_precision: str = field(default="auto", metadata={"help": "auto (bf16 on a GPU or CPU that has it, else none; `accelerate launch --mixed_precision` wins), no, bf16 or fp16."})
    extra_train: str = field(default=None, metadata={"help": "A TSV in the task's NSMC or KorSTS format (`flask --app main feedback export`) added to the training data, minus texts of dev or the held-out set."})
    max_train_examples: int = field(default=0, metadata={"help": "Use only this many training examples (0 = all)."})
    skip_train_examples: int = field(default=0, metadata={"help": "Skip the first N training examples (a student reading the reviews round 0 did not reach)."})
    max_dev_examples: int = field(default=0, metadata={"help": "Use only this many dev examples (0 = all)."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores)."})

    def __post_init__(self):
        if self.task not in ("sentiment", "similarity", "nli"):
            raise ValueError(f"--task must be sentiment, similarity or nli, not {self.task!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be divisible by num_heads")
        self.out = self.out or f"runs/{self.task}"
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError("--distill_weight must be between 0 and 1")
        if self.distill_weight and self.task != "sentiment":
            raise ValueError("--distill_weight applies to the sentiment task only")
        if self.distill_teacher not in ("char", "word_char"):
            raise ValueError("--distill_teacher must be char or word_char")
        if self.pseudo_labels and self.task != "sentiment":
            raise ValueError("--pseudo_labels applies to the sentiment task only")
        if self.pseudo_weight < 0:
            raise ValueError("--pseudo_weight must not be negative")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError("--mixed_precision must be auto, no, bf16 or fp16")
        if self.nli_ranking and self.task != "similarity":
            raise ValueError("--nli_ranking applies to the similarity task only")
        if self.nli_ranking < 0 or self.ranking_margin < 0 or self.ranking_weight < 0:
            raise ValueError("--nli_ranking, --ranking_margin and --ranking_weight must not be negative")
        if self.contrast_ranking and not self.nli_ranking:
            raise ValueError("--contrast_ranking adds to the --nli_ranking premises: set --nli_ranking too")
        unknown = sorted(set(self.contrast_edits) - set(contrasts.EDIT_KINDS))
        if unknown or not self.contrast_edits:
            raise ValueError(f"--contrast_edits takes some of {', '.join(contrasts.EDIT_KINDS)}, not {unknown or 'none'}")
        if self.everyday_contrasts and not self.nli_ranking:
            raise ValueError("--everyday_contrasts adds to the --nli_ranking premises: set --nli_ranking too")
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
    labels = NLI_LABELS if args.task == "nli" else LABELS
    task_kwargs = ({"num_labels": 1, "problem_type": "regression"} if args.regression else
                   {"num_labels": len(labels), "id2label": labels,
                    "label2id": {v: k for k, v in labels.items()},
                    "problem_type": "single_label_classification"})
    if args.init:
        # The head is new for this task; a classifier --init of another shape keeps only its encoder.
        # fp32 whatever the checkpoint holds: an exported model (running_model/) is saved in fp16.
        return ElectraForSequenceClassification.from_pretrained(
            args.init, ignore_mismatched_sizes=True, dtype=torch.float32, **task_kwargs)
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
    elif args.task == "nli":
        train, dev = (nli_frame(root / "klue-nli" / f"klue-nli-v1.1_{part}.json") for part in ("train", "dev"))
    else:
        train = sts_train_pairs(root, args)
        dev = data.load_korsts(root / "korsts" / "sts-dev.tsv")
    train = train.iloc[args.skip_train_examples:]
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
    if args.regression and args.style_paraphrases:
        paraphrases = data.stylekqc_paraphrase_pairs(root, args.style_paraphrases,
                                                     args.style_paraphrase_score, args.seed)
        print(f"--style_paraphrases: {len(paraphrases)} StyleKQC pairs at {args.style_paraphrase_score}")
        train = pd.concat([train, paraphrases], ignore_index=True)
    if args.regression:
        train = with_question_pairs(train, args, root)
    if args.regression and args.nli_contradictions:
        contradictions = data.nli_contradiction_pairs(root, args.nli_contradictions,
                                                      args.nli_contradiction_score, args.seed)
        print(f"--nli_contradictions: {len(contradictions)} KLUE-NLI pairs at {args.nli_contradiction_score}")
        train = pd.concat([train, contradictions], ignore_index=True)
    if args.regression and args.numeral_variants:
        variants = numerals.numeral_variants(train, args.seed)
        print(f"--numeral_variants: {len(variants)} pairs with numbers in Korean words")
        train = pd.concat([train, variants], ignore_index=True)
    if args.extra_train:
        train = with_extra_train(train, dev, args, root)
    if args.regression and args.swap_pairs:
        train = with_swapped_pairs(train)
    return train, dev


def sts_train_pairs(root, args):
    """KorSTS train, and KLUE-STS train's 90% with --klue_sts (unless --no_train_klue_sts)."""
    train = data.load_korsts(root / "korsts" / "sts-train.tsv")
    if args.klue_sts and args.train_klue_sts:
        train = pd.concat([train, klue_sts_split(root)[0]], ignore_index=True)
    return train


def with_question_pairs(train, args, root):
    """train plus the question-pair train file's pairs asked for: same meaning, different meaning."""
    for wanted, label, score in ((args.question_paraphrases, 1, args.question_paraphrase_score),
                                 (args.question_unrelated, 0, args.question_unrelated_score)):
        if wanted:
            pairs = data.question_pairs(root, label, score)
            print(f"question pairs of label {label}: {len(pairs)} at {score}")
            train = pd.concat([train, pairs], ignore_index=True)
    return train


def nli_frame(path):
    """KLUE-NLI pairs with integer labels (NLI_LABELS order)."""
    frame = data.load_klue_nli(path)
    index = {name: i for i, name in NLI_LABELS.items()}
    return frame.assign(label=frame["label"].map(index).astype(int))


def klue_sts_split(root):
    """KLUE-STS train as (train 90%, held-out 10%), the split fixed by data.split_klue_sts_train."""
    return data.split_klue_sts_train(data.load_klue_sts_csv(root / "klue-sts" / "klue-sts-v1.1_train.csv"))


def extra_dev_sets(args) -> dict:
    """Further selection sets by name: the KLUE-STS held-out tenth when training on KLUE-STS."""
    if args.regression and args.klue_sts:
        held_out = klue_sts_split(data.data_dir(args.data_dir))[1]
        return {"klue_sts_heldout": held_out.iloc[:args.max_dev_examples or None]}
    return {}
HELD_OUT = {"sentiment": "nsmc/ratings_test.txt", "similarity": "korsts/sts-dev.tsv"}


def with_extra_train(train, dev, args, root):
    """train plus the --extra_train file's rows, except those with a text of dev or the held-out set."""
    extra = data.load_task_data(args.task, args.extra_train)
    columns = ["sentence1", "sentence2"] if args.regression else ["text"]
    held_out = set(dev[columns].stack())
    for frame in extra_dev_sets(args).values():  # the KLUE-STS held-out tenth selects too
        held_out |= set(frame[columns].stack())
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


def everyday_contrast_triplets(root, args) -> pd.DataFrame:
    """Edits in the register people type: question-pair and StyleKQC paraphrases with one side
    edited against the other, and chatbot questions against their own edit."""
    paraphrases = pd.concat([data.question_pairs(root, 1, args.question_paraphrase_score),
                             data.stylekqc_paraphrase_pairs(root, max(args.style_paraphrases, 1),
                                                            args.style_paraphrase_score, args.seed)])
    kinds = args.contrast_edits
    return pd.concat([contrasts.contrast_triplets(paraphrases, min_score=0.0, seed=args.seed, kinds=kinds),
                      contrasts.self_contrast_triplets(data.chatbot_questions(root), seed=args.seed, kinds=kinds)],
                     ignore_index=True)


def ranking_pairs(triplets, seed):
    """(premise, entailed) and (premise, contradicted) pairs, row for row; a seeded half of the
    premises go second in both, since the app scores a pair in both orders."""
    rng = random.Random(seed)
    hypothesis_first = [rng.random() < 0.5 for _ in range(len(triplets))]

    def pairs(column):
        ordered = [(h, p) if flip else (p, h)
                   for p, h, flip in zip(triplets["premise"], triplets[column], hypothesis_first)]
        return pd.DataFrame(ordered, columns=["sentence1", "sentence2"]).assign(score=0.0)
    return pairs("entailed"), pairs("contradicted")


def pad_columns(tensor, width, value):
    """A (rows, length) tensor padded on the right to width columns."""
    return F.pad(tensor, (0, width - tensor.shape[1]), value=value)


def margin_ranking_loss(entailed, contradicted, margin):
    """Mean hinge: zero where each entailment scores at least margin above its contradiction."""
    return F.relu(margin - (entailed - contradicted)).mean()


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


def teacher_probabilities(train, args):
    """Out-of-fold n-gram + logistic regression probabilities for each training review."""
    from training import baselines  # scikit-learn only when distilling
    started = time.time()
    texts = [clean_if(text, args.clean) for text in train["text"]]
    classifier = baselines.ngram_classifier() if args.distill_teacher == "word_char" else None
    probabilities = baselines.out_of_fold_probabilities(texts, train["label"], args.teacher_folds,
                                                        args.seed, classifier)
    agreement = float((probabilities.argmax(1) == train["label"].to_numpy()).mean())
    print(f"teacher ({args.distill_teacher}): out-of-fold accuracy {agreement:.4f} on {len(texts)} "
          f"training reviews ({time.time() - started:.0f} s)", flush=True)
    return probabilities.tolist()


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

    def __init__(self, args: FinetuneArgs):
        self.args = args
        self.out = Path(args.out)
        self.accelerator = Accelerator(mixed_precision=mixed_precision(args))
        self.main = self.accelerator.is_main_process
        self.device = self.accelerator.device
        seed_everything(args.seed)  # the same run gives the same model, whoever calls it
        source = args.init or args.tokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.pad_id = self.tokenizer.pad_token_id
        train, dev = load_splits(args)
        self.train = encode_task(self.tokenizer, train, args.task, args.max_length, args.clean)
        self.dev = encode_task(self.tokenizer, dev, args.task, args.max_length, args.clean)
        self.extra_devs = {name: encode_task(self.tokenizer, frame, args.task, args.max_length, args.clean)
                           for name, frame in extra_dev_sets(args).items()}
        if args.distill_weight:
            self.train["teacher"] = teacher_probabilities(train, args)
        if args.pseudo_labels:
            self.add_pseudo_labels()
        self.ranking = self.ranking_data() if args.nli_ranking else None
        self.lengths = [len(ids) for ids in self.train["input_ids"]]
        model = build_model(args, len(self.tokenizer))
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

    def add_pseudo_labels(self):
        """Append the pseudo-labeled reviews, with the teacher's soft labels, to the training set."""
        frame = read_pseudo_labels(self.args.pseudo_labels, self.args.max_pseudo_examples,
                                   self.args.data_dir)
        encoded = encode_task(self.tokenizer, frame, "sentiment", self.args.max_length, self.args.clean)
        gold = len(self.train["labels"])
        add_pseudo_labels(self.train, encoded, frame["positive"].tolist(), self.args.distill_weight,
                          self.args.pseudo_weight)
        self.print(f"training on {gold} gold and {len(frame)} pseudo-labeled reviews "
                   f"(weight {self.args.pseudo_weight})")

    def ranking_data(self):
        """The encoded (premise, entailed) and (premise, contradicted) pairs; sets their seeded order."""
        root = data.data_dir(self.args.data_dir)
        triplets = data.nli_triplets(root)
        self.print(f"--nli_ranking: {len(triplets)} KLUE-NLI premises, {self.args.nli_ranking} a step")
        if self.args.contrast_ranking:
            edited = contrasts.contrast_triplets(sts_train_pairs(root, self.args), seed=self.args.seed,
                                                 kinds=self.args.contrast_edits)
            self.print(f"--contrast_ranking: {len(edited)} STS pairs with a meaning-flipping edit join them")
            triplets = pd.concat([triplets, edited], ignore_index=True)
        if self.args.everyday_contrasts:
            edited = everyday_contrast_triplets(root, self.args)
            self.print(f"--everyday_contrasts: {len(edited)} everyday pairs and questions with an edit join them")
            triplets = pd.concat([triplets, edited], ignore_index=True)
        self.ranking_order = random.Random(self.args.seed).sample(range(len(triplets)), len(triplets))
        return [encode_task(self.tokenizer, frame, "similarity", self.args.max_length, self.args.clean)
                for frame in ranking_pairs(triplets, self.args.seed)]

    def ranking_indices(self):
        """This step's premises: the next --nli_ranking of the seeded order on this process."""
        count, order = self.args.nli_ranking, self.ranking_order
        start = (self.step * self.accelerator.num_processes + self.accelerator.process_index) * count
        return [order[(start + i) % len(order)] for i in range(count)]

    def with_ranking_rows(self, batch):
        """The batch's inputs, then this step's entailed pairs, then their contradicted ones."""
        indices = self.ranking_indices()
        parts = [batch] + [collate(pairs, indices, self.pad_id, True) for pairs in self.ranking]
        width = max(part["input_ids"].shape[1] for part in parts)
        # On a GPU the prepared loader has already moved the batch there; the premises follow it.
        return {key: torch.cat([pad_columns(part[key].to(self.device), width,
                                            self.pad_id if key == "input_ids" else 0) for part in parts])
                for key in ("input_ids", "token_type_ids", "attention_mask")}

    def ranking_step_loss(self, batch):
        """MSE on the batch plus the weighted margin ranking loss on this step's NLI premises."""
        labels = batch["labels"].to(self.device)
        scores = self.model(**self.with_ranking_rows(batch)).logits[:, 0].float()  # one forward: DDP wants one per step
        entailed, contradicted = scores[len(labels):].chunk(2)
        return F.mse_loss(scores[:len(labels)], labels) + self.args.ranking_weight * \
            margin_ranking_loss(entailed, contradicted, self.args.ranking_margin)

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
            logits = self.model(**batch).logits.float()
            if soft_share is None:  # plain distillation: every row alike
                soft_share = torch.full_like(labels, self.args.distill_weight, dtype=torch.float)
            loss = mixed_loss(logits, labels, teacher, soft_share, weight)
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
