"""Data loaders: NSMC, KorSTS, KLUE-STS JSON, the extra pair sets and the unlabeled corpus."""
import csv
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "KOTEXT_DATA_DIR"
STYLEKQC_BLOCK = 10  # StyleKQC act files: every 10 consecutive lines paraphrase one utterance


def data_dir(override=None) -> Path:
    """Where ../shared/data lives: an explicit path, else $KOTEXT_DATA_DIR, else ../shared/data."""
    chosen = override or os.environ.get(DATA_DIR_ENV) or REPO_ROOT.parent / "shared" / "data"
    return Path(chosen)


def read_tsv(path) -> pd.DataFrame:
    """A TSV read as text: no quote handling (documents may start with a quote), no NaNs."""
    return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False,
                       dtype=str, encoding="utf-8")


def load_nsmc(path) -> pd.DataFrame:
    """NSMC TSV → columns text (str), label (0 negative, 1 positive)."""
    frame = read_tsv(path)
    return pd.DataFrame({"text": frame["document"], "label": frame["label"].astype(int)})


def split_nsmc_train(frame: pd.DataFrame, seed=42):
    """The reference 80:20 train/dev split of NSMC train (random_state=42)."""
    train, dev = train_test_split(frame, test_size=0.2, random_state=seed)
    return train.reset_index(drop=True), dev.reset_index(drop=True)


def load_korsts(path) -> pd.DataFrame:
    """KorSTS TSV → columns sentence1, sentence2, score (0–5 float)."""
    frame = read_tsv(path)
    return pd.DataFrame({"sentence1": frame["sentence1"], "sentence2": frame["sentence2"],
                         "score": frame["score"].astype(float)})


def load_klue_sts(path) -> pd.DataFrame:
    """KLUE-STS v1.1 JSON (a list of {sentence1, sentence2, labels{label}}) → KorSTS columns."""
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    return pd.DataFrame({"sentence1": [r["sentence1"] for r in records],
                         "sentence2": [r["sentence2"] for r in records],
                         "score": [float(r["labels"]["label"]) for r in records]})


def load_klue_sts_csv(path) -> pd.DataFrame:
    """KLUE-STS as CSV (sentence1, sentence2, label = the 0–5 real-label) → KorSTS columns."""
    frame = pd.read_csv(path, dtype={"sentence1": str, "sentence2": str}, keep_default_na=False,
                        encoding="utf-8")
    return pd.DataFrame({"sentence1": frame["sentence1"], "sentence2": frame["sentence2"],
                         "score": frame["label"].astype(float)})


def load_binary_pairs(path) -> pd.DataFrame:
    """StyleKQC's pair TSV (`similarity sentence1 sentence2`, 1 = same meaning) → sentence1,
    sentence2, label: pairs with no 0–5 score, for paraphrase metrics."""
    frame = read_tsv(path)
    return pd.DataFrame({"sentence1": frame["sentence1"], "sentence2": frame["sentence2"],
                         "label": frame["similarity"].astype(int)})


def load_question_pairs(path) -> pd.DataFrame:
    """The question-pair TSV (`question1 question2 is_duplicate`) → sentence1, sentence2, label
    with label 1 = same meaning: this set writes 0 for "the same meaning", so it is flipped."""
    frame = read_tsv(path)
    return pd.DataFrame({"sentence1": frame["question1"], "sentence2": frame["question2"],
                         "label": 1 - frame["is_duplicate"].astype(int)})


def load_pairs(path) -> pd.DataFrame:
    """Any pair file by its extension and header: .json or .csv is KLUE-STS (or KLUE-NLI, read as
    binary pairs); a TSV is KorSTS, or binary paraphrase pairs (StyleKQC's `similarity` or the
    question pairs' `is_duplicate`)."""
    suffix = Path(path).suffix
    if suffix == ".json":
        return load_nli_pairs(path) if is_nli_file(path) else load_klue_sts(path)
    if suffix == ".csv":
        return load_klue_sts_csv(path)
    with open(path, encoding="utf-8") as lines:
        header = lines.readline().rstrip("\n").split("\t")
    if "similarity" in header:
        return load_binary_pairs(path)
    return load_question_pairs(path) if "is_duplicate" in header else load_korsts(path)


def split_klue_sts_train(frame: pd.DataFrame, seed=42):
    """KLUE-STS train split 90:10 (random_state=42): KLUE-STS dev is not shared, so a fixed
    tenth of train is held out for selection and reporting."""
    train, held_out = train_test_split(frame, test_size=0.1, random_state=seed)
    return train.reset_index(drop=True), held_out.reset_index(drop=True)


def load_klue_nli(path) -> pd.DataFrame:
    """KLUE-NLI v1.1 JSON → columns sentence1 (premise), sentence2 (hypothesis), label."""
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    return pd.DataFrame({"sentence1": [r["premise"] for r in records],
                         "sentence2": [r["hypothesis"] for r in records],
                         "label": [r["gold_label"] for r in records]})


def is_nli_file(path) -> bool:
    """Whether a JSON file holds KLUE-NLI records (premise, hypothesis) rather than KLUE-STS ones."""
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    return bool(records) and "premise" in records[0]


def load_nli_pairs(path) -> pd.DataFrame:
    """KLUE-NLI as binary pairs: entailment 1, contradiction 0, neutral left out. The two sides of
    a contradiction share a topic and most words, so this asks whether a score follows meaning."""
    frame = load_klue_nli(path)
    frame = frame[frame["label"].isin(["entailment", "contradiction"])].reset_index(drop=True)
    return frame.assign(label=(frame["label"] == "entailment").astype(int))


def load_klue_nli_train(root) -> pd.DataFrame:
    """KLUE-NLI v1.1 train under the data root."""
    return load_klue_nli(Path(root) / "klue-nli" / "klue-nli-v1.1_train.json")


def nli_triplets(root) -> pd.DataFrame:
    """KLUE-NLI train premises with one entailed and one contradicted hypothesis each
    (columns premise, entailed, contradicted): the first of each where a premise has more."""
    frame = load_klue_nli_train(root)
    first = {label: frame[frame["label"] == label].drop_duplicates("sentence1").set_index("sentence1")["sentence2"]
             for label in ("entailment", "contradiction")}
    premises = [p for p in dict.fromkeys(frame["sentence1"]) if p in first["entailment"].index
                and p in first["contradiction"].index]
    return pd.DataFrame({"premise": premises,
                         "entailed": first["entailment"].loc[premises].tolist(),
                         "contradicted": first["contradiction"].loc[premises].tolist()})


def load_task_data(task, path) -> pd.DataFrame:
    """Labeled data of one task from a file."""
    return load_nsmc(path) if task == "sentiment" else load_pairs(path)


def load_eval_data(task, path, held_out=False) -> pd.DataFrame:
    """Labeled data to score; held_out keeps only the part of a train file that training never sees.

    That is the fixed held-out tenth of the KLUE-STS train file, or the dev fifth of NSMC train.
    """
    frame = load_task_data(task, path)
    if held_out:
        frame = (split_nsmc_train(frame) if task == "sentiment" else split_klue_sts_train(frame))[1]
    return frame


def shaped_like(scores, reference_scores, seed=42) -> np.ndarray:
    """Positions of the largest seeded sample of scores that fills the one-point bins 0–1 … 4–5 in
    the shares reference_scores fill them (KLUE-STS's held-out tenth shaped like KorSTS dev)."""
    def bin_of(values):
        return np.minimum(np.floor(np.asarray(values, dtype=float)), 4).astype(int)
    shares = np.bincount(bin_of(reference_scores), minlength=5) / len(reference_scores)
    bins = bin_of(scores)
    available = np.bincount(bins, minlength=5)
    size = min(available[b] / shares[b] for b in range(5) if shares[b] > 0)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(bins == b), size=int(round(size * shares[b])), replace=False)
              for b in range(5) if shares[b] > 0]
    return np.sort(np.concatenate(chosen))


def stylekqc_paraphrase_pairs(root, per_block, score, seed=42) -> pd.DataFrame:
    """KorSTS-style pairs from StyleKQC act-train: per_block random pairs inside each block of 10
    paraphrases (one question or command in different styles), each given the same score.

    Only act-train is read: StyleKQC's sts-dev.tsv is built from act-dev and stays held out.
    """
    sentences = read_tsv(Path(root) / "extra" / "stylekqc" / "act-train.tsv")["sentence"].tolist()
    rng = np.random.default_rng(seed)
    pairs = []
    for start in range(0, len(sentences) - len(sentences) % STYLEKQC_BLOCK, STYLEKQC_BLOCK):
        block = sentences[start:start + STYLEKQC_BLOCK]
        for _ in range(per_block):
            first, second = rng.choice(STYLEKQC_BLOCK, size=2, replace=False)
            pairs.append((block[first], block[second]))
    frame = pd.DataFrame(pairs, columns=["sentence1", "sentence2"]).assign(score=float(score))
    return frame[frame["sentence1"] != frame["sentence2"]].reset_index(drop=True)


def question_pairs(root, label, score) -> pd.DataFrame:
    """KorSTS-style pairs from the question-pair train file: those with this label (1 = the same
    meaning) that are not word for word the same, each given one score. Dev and test stay held out."""
    pairs = load_question_pairs(Path(root) / "extra" / "question-pair" / "train.tsv")
    chosen = pairs[(pairs["label"] == label) & (pairs["sentence1"].str.strip() != pairs["sentence2"].str.strip())]
    return chosen[["sentence1", "sentence2"]].assign(score=float(score)).reset_index(drop=True)


def chatbot_questions(root) -> list:
    """The distinct questions (Q column) of the chatbot set: short everyday utterances, no labels used."""
    frame = pd.read_csv(Path(root) / "extra" / "chatbot" / "ChatbotData.csv", dtype=str, keep_default_na=False)
    return list(dict.fromkeys(text.strip() for text in frame["Q"] if text.strip()))


def iter_corpus(path):
    """Lines of an unlabeled corpus, stripped, skipping empty ones."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line:
                yield line


def labeled_train_texts(root):
    """The texts (no labels) of NSMC train and KorSTS train, for tokenizer and pretraining corpora."""
    root = Path(root)
    yield from load_nsmc(root / "nsmc" / "ratings_train.txt")["text"]
    korsts = load_korsts(root / "korsts" / "sts-train.tsv")
    yield from korsts["sentence1"]
    yield from korsts["sentence2"]


def pair_train_texts(root):
    """The sentences of the newer pair sets' training parts: KLUE-STS and KLUE-NLI train, StyleKQC."""
    root = Path(root)
    for frame in (load_klue_sts_csv(root / "klue-sts" / "klue-sts-v1.1_train.csv"),
                  load_klue_nli_train(root)):
        yield from frame["sentence1"]
        yield from frame["sentence2"]
    yield from read_tsv(root / "extra" / "stylekqc" / "act-train.tsv")["sentence"]


def extra_texts(root):
    """Plain Korean texts of the extra sets (for tokenizer and pretraining corpora)."""
    root = Path(root) / "extra"
    hate = read_tsv(root / "hate-speech" / "train.tsv")
    yield from hate["comment"]
    kornli = read_tsv(root / "kornli" / "xnli.dev.ko.tsv")
    yield from kornli["sentence1"]
    yield from kornli["sentence2"]
    with open(root / "naver-ner" / "test.tsv", encoding="utf-8") as lines:
        for line in lines:
            yield line.split("\t")[0]
