"""Training data: the NSMC, KorSTS, KLUE, question-pair, StyleKQC and KLUE-NLI loaders, the
tokenizer, length-grouped batches and the length report."""
import json
import math
import random

from transformers import AutoTokenizer

from training.data import lengths, sources
from training.train.batching import length_grouped_batches
from training_helpers import NLI_ROWS, write_klue_nli, write_stylekqc, write_tsv


def test_nsmc_loader_keeps_empty_documents_and_quotes(data_root):
    frame = sources.load_nsmc(data_root / "nsmc" / "ratings_test.txt")
    assert len(frame) == 41
    assert frame["text"].iloc[-1] == '"따옴표로 시작'
    train = sources.load_nsmc(data_root / "nsmc" / "ratings_train.txt")
    assert (train["text"] == "").sum() == 1
    assert set(train["label"]) == {0, 1}


def test_nsmc_split_is_80_20_and_repeatable(data_root):
    frame = sources.load_nsmc(data_root / "nsmc" / "ratings_train.txt")
    train, dev = sources.split_nsmc_train(frame)
    again, _ = sources.split_nsmc_train(frame)
    assert len(dev) == math.ceil(len(frame) * 0.2) and len(train) + len(dev) == len(frame)
    assert train["text"].tolist() == again["text"].tolist()


def test_korsts_and_klue_loaders_agree_on_columns(data_root, tmp_path):
    korsts = sources.load_korsts(data_root / "korsts" / "sts-dev.tsv")
    sample = [{"guid": "x", "source": "s", "sentence1": "가", "sentence2": "나",
               "labels": {"label": 4.6, "real-label": 4.57, "binary-label": 1}}]
    (tmp_path / "klue.json").write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
    klue = sources.load_pairs(tmp_path / "klue.json")
    assert list(klue.columns) == list(korsts.columns) == ["sentence1", "sentence2", "score"]
    assert klue["score"].tolist() == [4.6]
    assert korsts["score"].between(0, 5).all()


def test_question_pair_labels_are_flipped(tmp_path):
    header = ("question1", "question2", "is_duplicate")
    write_tsv(tmp_path / "extra" / "question-pair" / "train.tsv", header, [("같은 질문", "같은 질문", 0)])
    write_tsv(tmp_path / "extra" / "question-pair" / "dev.tsv", header, [("다른", "질문", 1)])
    train = sources.load_question_pairs(tmp_path / "extra" / "question-pair" / "train.tsv")
    assert train["label"].tolist() == [1]  # is_duplicate 0 means the same meaning
    dev = sources.load_pairs(tmp_path / "extra" / "question-pair" / "dev.tsv")  # as evaluate reads it
    assert list(dev.columns) == ["sentence1", "sentence2", "label"] and dev["label"].tolist() == [0]


def test_tokenizer_round_trip(tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    encoded = tokenizer("정말 재밌다", "시간 낭비")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
    assert "[UNK]" not in tokens
    assert set(encoded["token_type_ids"]) == {0, 1}
    assert tokenizer.decode(encoded["input_ids"], skip_special_tokens=True) == "정말 재밌다 시간 낭비"


def test_length_grouped_batches_cover_every_index_once():
    lengths = [random.Random(i).randint(1, 100) for i in range(1000)]
    batches = length_grouped_batches(lengths, 16, seed=7, group_factor=4)
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(1000))
    assert batches == length_grouped_batches(lengths, 16, seed=7, group_factor=4)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 30  # random batches of 16 would spread about 88


def test_length_report_counts_the_train_split_under_each_limit(data_root, tokenizer_dir):
    args = lengths.LengthArgs(tokenizer=str(tokenizer_dir), data_dir=str(data_root), limit=0,
                              max_lengths="1,1000")
    report = lengths.length_report(args)
    train = sources.split_nsmc_train(sources.load_nsmc(data_root / "nsmc" / "ratings_train.txt"))[0]
    assert report["reviews"] == len(train)
    assert report["share_longer_than"] == {"1": 1.0, "1000": 0.0}  # [CLS] and [SEP] alone make 2
    assert 2 < report["mean"] <= report["p95"] <= report["p99"] <= report["max"]


def test_stylekqc_pairs_stay_inside_one_block(tmp_path):
    write_stylekqc(tmp_path, blocks=3)
    pairs = sources.stylekqc_paraphrase_pairs(tmp_path, per_block=4, score=4.5, seed=1)
    assert len(pairs) == 12 and set(pairs["score"]) == {4.5}
    block_of = lambda sentence: sentence.split()[1]  # noqa: E731 ("문장 <block> 변형 <variant>")
    assert all(block_of(a) == block_of(b) and a != b for a, b in zip(pairs["sentence1"], pairs["sentence2"]))
    assert sorted({block_of(a) for a in pairs["sentence1"]}) == ["0", "1", "2"]  # every block used


def test_nli_triplets_pair_each_premise_with_its_first_entailment_and_contradiction(tmp_path):
    (tmp_path / "klue-nli").mkdir()
    write_klue_nli(tmp_path, NLI_ROWS + [("비가 많이 온다", "하늘에서 비가 내린다", "entailment")])
    triplets = sources.nli_triplets(tmp_path)
    # 영화가 재밌다 has no entailment, so it has no triplet.
    assert triplets.values.tolist() == [["비가 많이 온다", "비가 온다", "비가 오지 않는다"]]
