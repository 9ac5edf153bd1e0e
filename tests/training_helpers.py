"""Shared by the training tests: synthetic review words, tiny-run flags, TSV and KLUE/StyleKQC
writers, and a tiny fine-tuning run. conftest.py builds the data_root, tokenizer_dir and trained
fixtures from these."""
import json
import random
from pathlib import Path

from training.train import finetune, trainer

POSITIVE = ["정말 재밌다", "최고의 영화", "감동적이고 좋았다", "배우 연기 훌륭함", "또 보고 싶다"]
NEGATIVE = ["시간 낭비", "너무 지루하다", "최악의 영화", "돈 아깝다", "다신 안 봄"]
# The task configs start from runs/e5-small-ko (far too big for a test) and the similarity one
# mixes in KLUE-STS with frozen embeddings; tests opt in to extra data one by one (an empty --mix is
# the task's own train set) and start from the tokenizer_dir fixture's tiny random model.
NO_EXTRA_PAIRS = ["--mix", "", "--freeze_embeddings", "false"]
TINY = ["--batch_size", "8", "--threads", "1", "--learning_rate", "2e-3"]
TINY_MODEL = {"embedding_size": 16, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 32, "max_position_embeddings": 512}


def mix_argv(*train, **more):
    """--mix with these train entries (source names or dicts) and any further mix keys, as JSON text."""
    entries = [{"source": entry} if isinstance(entry, str) else entry for entry in train]
    return ["--mix", json.dumps({"train": entries, **more})]


def write_tsv(path, header, rows):
    """A TSV file with a header line, written as is (no quoting)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def review_rows(n, seed):
    """Synthetic NSMC rows: id, document, label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.sample(POSITIVE if label else NEGATIVE, 2)
        rows.append((i, " ".join(words) + rng.choice(["", "!", " ㅋㅋㅋㅋ"]), label))
    return rows


def tiny_finetune_argv(data_root, tokenizer_dir, out, *extra, task="sentiment"):
    """The command line of a tiny fine-tuning run."""
    return ["--task", task, "--data_dir", str(data_root), "--init", str(tokenizer_dir),
            "--out", str(out), "--epochs", "1", *TINY, *NO_EXTRA_PAIRS, *extra]


def run_finetune(task, data_root, tokenizer_dir, out, *extra):
    """A tiny fine-tuning run; returns the best dev score."""
    args = finetune.parse_args(tiny_finetune_argv(data_root, tokenizer_dir, out, *extra, task=task))
    return trainer.Trainer(args).run()


def write_klue_nli(root, rows):
    """A KLUE-NLI train file of (premise, hypothesis, gold_label) rows."""
    records = [{"premise": p, "hypothesis": h, "gold_label": label} for p, h, label in rows]
    (root / "klue-nli" / "klue-nli-v1.1_train.json").write_text(json.dumps(records, ensure_ascii=False))


NLI_ROWS = [("비가 많이 온다", "비가 오지 않는다", "contradiction"), ("비가 많이 온다", "비가 온다", "entailment"),
            ("영화가 재밌다", "영화가 지루하다", "contradiction"), ("영화가 재밌다", "배우가 나온다", "neutral")]


def write_stylekqc(root, blocks=3):
    """A StyleKQC act-train file: blocks of 10 lines, each block one utterance's style variants."""
    rows = [(block % 2, f"문장 {block} 변형 {variant}") for block in range(blocks) for variant in range(10)]
    write_tsv(Path(root) / "extra" / "stylekqc" / "act-train.tsv", ("act", "sentence"), rows)
