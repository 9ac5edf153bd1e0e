"""A similarity teacher's scores, both pair orders averaged, as training targets for one order.

    python -m training.train.pair_targets --teacher running_model/similarity --out runs/pair-targets.tsv
    python -m training.train.finetune --task similarity --init running_model/similarity \
        --mix '{"train": [{"source": "teacher_pairs", "path": "runs/pair-targets.tsv"},
                          {"source": "klue_sts", "train": false}]}'

A model served with "symmetric": true runs two forward passes per pair and averages them, since
s(a, b) and s(b, a) differ. A student trained on that mean, each pair shown in one order drawn at
random, learns to read the mean in one pass, so it can be served with "symmetric": false.
The pairs are what the teacher's stages trained on: KorSTS train, KLUE-STS train's 90%, KLUE-NLI
train premises with an entailed and a contradicted hypothesis, the contrast edits of the STS
pairs scored 4 or more (training.data.contrasts) and the question-pair train file. Scores are the
teacher's raw regression outputs (not clamped to 0–5), so what it says beyond the scale's ends,
an edit scored below an unrelated pair, say, is taught too. Written as TSV (kind, score,
sentence1, sentence2) that the mix source `teacher_pairs` reads, with a JSON report beside it.
"""
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from models import load_predictor
from training.arguments import parse_with_config
from training.data import contrasts, sources
from training.data.mix import klue_sts_split


@dataclass
class PairTargetArgs:
    teacher: str = field(metadata={"help": "Similarity model directory whose mean of both orders is the target (e.g. running_model/similarity)."})
    out: str = field(metadata={"help": "Output TSV; a .json report is written beside it."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    nli_premises: int = field(default=4000, metadata={"help": "KLUE-NLI train premises taken (each gives an entailed and a contradicted pair; 0 = all)."})
    question_pairs: bool = field(default=True, metadata={"help": "Also the question-pair train file's pairs."})
    batch_size: int = field(default=64, metadata={"help": "Rows per forward pass."})
    seed: int = field(default=42, metadata={"help": "Seed of the NLI sample and of each pair's order."})


def sts_train_pairs(root) -> pd.DataFrame:
    """KorSTS train and KLUE-STS train's 90% (the tenth stays held out)."""
    korsts = sources.load_korsts(Path(root) / "korsts" / "sts-train.tsv")
    return pd.concat([korsts, klue_sts_split(Path(root))[0]], ignore_index=True)


def triplet_pairs(triplets, kind) -> pd.DataFrame:
    """Both pairs of each triplet: the premise with the entailed side, and with the contradicted one."""
    return pd.concat([pd.DataFrame({"sentence1": triplets["premise"], "sentence2": triplets[column],
                                    "kind": f"{kind}_{column}"})
                      for column in ("entailed", "contradicted")], ignore_index=True)


def target_pairs(root, nli_premises=4000, question_pairs=True, seed=42) -> pd.DataFrame:
    """The pairs to score (sentence1, sentence2, kind), each unordered pair once."""
    sts = sts_train_pairs(root)
    nli = sources.nli_triplets(root)
    if nli_premises and nli_premises < len(nli):
        nli = nli.sample(n=nli_premises, random_state=seed)
    parts = [sts[["sentence1", "sentence2"]].assign(kind="sts"), triplet_pairs(nli, "nli"),
             triplet_pairs(contrasts.contrast_triplets(sts, seed=seed), "contrast")]
    if question_pairs:
        questions = sources.load_question_pairs(Path(root) / "extra" / "question-pair" / "train.tsv")
        parts.append(questions[["sentence1", "sentence2"]].assign(kind="question_pairs"))
    pairs = pd.concat(parts, ignore_index=True)
    unordered = [tuple(sorted(pair)) for pair in zip(pairs["sentence1"], pairs["sentence2"])]
    return pairs[~pd.Series(unordered).duplicated().to_numpy()].reset_index(drop=True)


def in_random_order(pairs, seed=42) -> pd.DataFrame:
    """Each pair with its sentences swapped or not by a seeded coin, so the student sees both orders."""
    rng = random.Random(seed)
    swap = [rng.random() < 0.5 for _ in range(len(pairs))]
    first = [b if s else a for a, b, s in zip(pairs["sentence1"], pairs["sentence2"], swap)]
    second = [a if s else b for a, b, s in zip(pairs["sentence1"], pairs["sentence2"], swap)]
    return pairs.assign(sentence1=first, sentence2=second)


def teacher_scores(predictor, pairs, chunk=2048) -> list:
    """The teacher's raw mean of both orders for each pair, in chunks with a progress bar."""
    predictor.symmetric = True
    rows = list(zip(pairs["sentence1"], pairs["sentence2"]))
    scores = []
    for start in tqdm(range(0, len(rows), chunk), desc="teacher", unit="chunk", mininterval=10):
        encoded = predictor.encode(rows[start:start + chunk])
        scores += [row[0].item() for row in predictor.logits(encoded)]
    return scores


def write(frame, out) -> None:
    """The TSV that sources.load_pairs reads as KorSTS columns (each run of whitespace one space)."""
    def one_line(text):
        return " ".join(str(text).split())
    lines = ["kind\tscore\tsentence1\tsentence2"] + [
        f"{kind}\t{score:.6f}\t{one_line(first)}\t{one_line(second)}"
        for kind, score, first, second in zip(frame["kind"], frame["score"], frame["sentence1"], frame["sentence2"])]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None):
    args = parse_with_config(PairTargetArgs, argv)
    root = sources.data_dir(args.data_dir)
    started = time.time()
    pairs = in_random_order(target_pairs(root, args.nli_premises, args.question_pairs, args.seed), args.seed)
    print(f"pair_targets: {len(pairs)} pairs to score", flush=True)
    predictor = load_predictor(args.teacher, "similarity", batch_size=args.batch_size, quantize=False)
    pairs = pairs.assign(score=teacher_scores(predictor, pairs))
    write(pairs, args.out)
    report = {"args": asdict(args), "pairs": len(pairs), "by_kind": pairs["kind"].value_counts().to_dict(),
              "mean_score_by_kind": pairs.groupby("kind")["score"].mean().round(4).to_dict(),
              "seconds": round(time.time() - started)}
    Path(args.out).with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
