"""The pairs a similarity mix adds to KorSTS train (training.data.mix): KLUE-STS, StyleKQC and question
paraphrases, numeral variants."""
import shutil

import pytest

from training.data import mix, sources
from training.train import finetune
from training_helpers import NO_EXTRA_PAIRS, mix_argv, write_stylekqc, write_tsv


def similarity_args(root, tokenizer_dir, *extra):
    """Parsed similarity arguments on the data root, KorSTS alone unless extra says otherwise."""
    return finetune.parse_args(["--task", "similarity", "--data_dir", str(root), "--init", str(tokenizer_dir),
                                *NO_EXTRA_PAIRS, *extra])


@pytest.mark.parametrize("train_klue, added", [(True, 36), (False, 0)])
def test_klue_sts_trains_on_nine_tenths_and_holds_out_the_rest(data_root, tokenizer_dir, train_klue, added):
    args = similarity_args(data_root, tokenizer_dir, *mix_argv("korsts", {"source": "klue_sts", "train": train_klue}))
    train, dev, extra_devs = mix.load_splits(args)
    korsts = sources.load_korsts(data_root / "korsts" / "sts-train.tsv")
    assert len(train) == len(korsts) + added and len(dev) == 20
    assert len(extra_devs["klue_sts_heldout"]) == 4  # scored either way


def test_style_paraphrases_join_the_similarity_training_pairs(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    write_stylekqc(root, blocks=5)
    plain, _, _ = mix.load_splits(similarity_args(root, tokenizer_dir))
    more, _, _ = mix.load_splits(similarity_args(
        root, tokenizer_dir, *mix_argv("korsts", {"source": "stylekqc", "per_block": 2, "score": 4.0})))
    assert len(more) == len(plain) + 10
    assert (more.iloc[len(plain):]["score"] == 4.0).all()


def test_question_pairs_join_by_meaning_except_word_for_word_copies(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    rows = [("비 오기 시작하네", "비 오네", 0), ("비 오네", "비 오네", 0), ("비 오네", "배고파", 1)]
    write_tsv(root / "extra" / "question-pair" / "train.tsv", ("question1", "question2", "is_duplicate"), rows)
    plain, _, _ = mix.load_splits(similarity_args(root, tokenizer_dir))
    more, _, _ = mix.load_splits(similarity_args(
        root, tokenizer_dir, *mix_argv("korsts", {"source": "question_pairs", "label": 1, "score": 4.2})))
    added = more.iloc[len(plain):]
    assert added[["sentence1", "sentence2", "score"]].values.tolist() == [["비 오기 시작하네", "비 오네", 4.2]]
    both, _, _ = mix.load_splits(similarity_args(root, tokenizer_dir, *mix_argv(
        "korsts", {"source": "question_pairs", "label": 1}, {"source": "question_pairs", "label": 0})))
    assert both.iloc[len(plain):][["sentence2", "score"]].values.tolist() == [["비 오네", 4.5], ["배고파", 0.5]]


def test_numeral_variants_join_the_similarity_training_pairs(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    rows = [("main", "f", "2012", 0, "4.0", "오후 3시에 만나요", "세 시에 봐요"),
            ("main", "f", "2012", 1, "1.0", "최고의 영화", "시간 낭비")]
    write_tsv(root / "korsts" / "sts-train.tsv", ("genre", "filename", "year", "id", "score",
                                                  "sentence1", "sentence2"), rows)
    plain, _, _ = mix.load_splits(similarity_args(root, tokenizer_dir))
    more, _, _ = mix.load_splits(similarity_args(root, tokenizer_dir, *mix_argv("korsts", variants=["numerals"])))
    assert more.iloc[len(plain):][["sentence1", "sentence2", "score"]].values.tolist() == [
        ["오후 세 시에 만나요", "세 시에 봐요", 4.0]]
