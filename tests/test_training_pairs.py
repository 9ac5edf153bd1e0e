"""The pairs finetune.load_splits adds to the similarity training set: swapped, anchor and teacher
pairs, KLUE-STS, StyleKQC and question paraphrases, numeral variants, NLI contradictions."""
import random
import shutil

import pytest

from training import baselines, data, finetune
from training_helpers import NLI_ROWS, NO_EXTRA_PAIRS, write_klue_nli, write_stylekqc, write_tsv


def test_swapped_pairs_double_the_similarity_train_set(data_root, tokenizer_dir):
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(data_root),
                                "--tokenizer", str(tokenizer_dir), *NO_EXTRA_PAIRS, "--swap_pairs", "true"])
    train, dev = finetune.load_splits(args)
    original = data.load_korsts(data_root / "korsts" / "sts-train.tsv")
    assert len(train) == 2 * len(original) and len(dev) == 20
    back = train.iloc[len(original):]
    assert back["sentence1"].tolist() == original["sentence2"].tolist()
    assert back["score"].tolist() == original["score"].tolist()


def test_anchor_pairs_add_identical_fives_and_unrelated_zeros(data_root, tokenizer_dir):
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(data_root), *NO_EXTRA_PAIRS,
                                "--anchor_pairs", "4", "--tokenizer", str(tokenizer_dir)])
    train, _ = finetune.load_splits(args)
    original = data.load_korsts(data_root / "korsts" / "sts-train.tsv")
    added = train.iloc[len(original):]
    identical = added[added["score"] == 5.0]
    unrelated = added[added["score"] == 0.0]
    assert len(identical) == 4 and (identical["sentence1"] == identical["sentence2"]).all()
    assert 1 <= len(unrelated) <= 4 and (unrelated["sentence1"] != unrelated["sentence2"]).all()


def test_teacher_pairs_are_scored_by_the_cosine_baseline(data_root, tokenizer_dir):
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(data_root), "--tokenizer",
                                str(tokenizer_dir), *NO_EXTRA_PAIRS, "--teacher_pairs", "100"])
    train, _ = finetune.load_splits(args)
    korsts = data.load_korsts(data_root / "korsts" / "sts-train.tsv")
    added = train.iloc[len(korsts):]
    assert len(added) == 100 and added["score"].between(0, 5).all()
    score = baselines.fit_cosine_scorer(korsts)
    assert added["score"].tolist() == pytest.approx(score(added["sentence1"], added["sentence2"]).tolist())
    assert score(["정말 재밌다"], ["정말 재밌다"])[0] == pytest.approx(5.0)


def test_perturb_keeps_words_of_the_sentence_and_the_donor():
    rng = random.Random(3)
    sentence, donor = "하나 둘 셋 넷 다섯", "가 나 다"
    for _ in range(50):
        words = finetune.perturb(sentence, donor, rng).split()
        assert words and set(words) <= set(sentence.split()) | set(donor.split())


@pytest.mark.parametrize("train_klue, added", [("true", 36), ("false", 0)])
def test_klue_sts_trains_on_nine_tenths_and_holds_out_the_rest(data_root, tokenizer_dir, train_klue, added):
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(data_root), "--tokenizer",
                                str(tokenizer_dir), *NO_EXTRA_PAIRS, "--klue_sts", "true",
                                "--train_klue_sts", train_klue])
    train, dev = finetune.load_splits(args)
    korsts = data.load_korsts(data_root / "korsts" / "sts-train.tsv")
    assert len(train) == len(korsts) + added
    held_out = finetune.extra_dev_sets(args)["klue_sts_heldout"]
    assert len(held_out) == 4  # scored either way


def test_style_paraphrases_join_the_similarity_training_pairs(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    write_stylekqc(root, blocks=5)
    common = ["--task", "similarity", "--data_dir", str(root), "--tokenizer", str(tokenizer_dir),
              *NO_EXTRA_PAIRS]
    plain, _ = finetune.load_splits(finetune.parse_args(common))
    more, _ = finetune.load_splits(finetune.parse_args(
        common + ["--style_paraphrases", "2", "--style_paraphrase_score", "4.0"]))
    assert len(more) == len(plain) + 10
    assert (more.iloc[len(plain):]["score"] == 4.0).all()


def test_question_pairs_join_by_meaning_except_word_for_word_copies(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    rows = [("비 오기 시작하네", "비 오네", 0), ("비 오네", "비 오네", 0), ("비 오네", "배고파", 1)]
    write_tsv(root / "extra" / "question-pair" / "train.tsv", ("question1", "question2", "is_duplicate"), rows)
    common = ["--task", "similarity", "--data_dir", str(root), "--tokenizer", str(tokenizer_dir),
              *NO_EXTRA_PAIRS]
    plain, _ = finetune.load_splits(finetune.parse_args(common))
    more, _ = finetune.load_splits(finetune.parse_args(
        common + ["--question_paraphrases", "true", "--question_paraphrase_score", "4.2"]))
    added = more.iloc[len(plain):]
    assert added[["sentence1", "sentence2", "score"]].values.tolist() == [["비 오기 시작하네", "비 오네", 4.2]]
    both, _ = finetune.load_splits(finetune.parse_args(
        common + ["--question_paraphrases", "true", "--question_unrelated", "true"]))
    assert both.iloc[len(plain):][["sentence2", "score"]].values.tolist() == [["비 오네", 4.5], ["배고파", 0.5]]


def test_numeral_variants_join_the_similarity_training_pairs(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    rows = [("main", "f", "2012", 0, "4.0", "오후 3시에 만나요", "세 시에 봐요"),
            ("main", "f", "2012", 1, "1.0", "최고의 영화", "시간 낭비")]
    write_tsv(root / "korsts" / "sts-train.tsv", ("genre", "filename", "year", "id", "score",
                                                  "sentence1", "sentence2"), rows)
    common = ["--task", "similarity", "--data_dir", str(root), "--tokenizer", str(tokenizer_dir),
              *NO_EXTRA_PAIRS]
    plain, _ = finetune.load_splits(finetune.parse_args(common))
    more, _ = finetune.load_splits(finetune.parse_args(common + ["--numeral_variants", "true"]))
    assert more.iloc[len(plain):][["sentence1", "sentence2", "score"]].values.tolist() == [
        ["오후 세 시에 만나요", "세 시에 봐요", 4.0]]


def test_nli_contradictions_join_the_similarity_pairs_at_their_score(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    write_klue_nli(root, NLI_ROWS)
    common = ["--task", "similarity", "--data_dir", str(root), "--tokenizer", str(tokenizer_dir),
              *NO_EXTRA_PAIRS]
    plain, _ = finetune.load_splits(finetune.parse_args(common))
    more, _ = finetune.load_splits(finetune.parse_args(common + ["--nli_contradictions", "5",
                                                                 "--nli_contradiction_score", "1.0"]))
    added = more.iloc[len(plain):][["sentence1", "sentence2", "score"]].values.tolist()
    assert sorted(added) == [["비가 많이 온다", "비가 오지 않는다", 1.0], ["영화가 재밌다", "영화가 지루하다", 1.0]]
