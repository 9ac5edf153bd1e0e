"""Self-training: soft-label loss, n-gram teacher, pseudo-labeling (no test text gets in), student, Accelerate."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer, ElectraConfig, ElectraModel

from models import load_predictor
from training.data import sources
from training.data.dedup import exact_key, held_out_keys, loose_key
from training.data.mix import read_pseudo_labels
from training.train import finetune, ngram, pseudolabel, teacher, trainer
from training.train.batching import collate
from training.train.soft_labels import mixed_loss, soft_cross_entropy
from training_helpers import NO_EXTRA_PAIRS, TINY, mix_argv, run_finetune

# Three phrases each: the synthetic NSMC reviews join two (training_helpers.review_rows), so none of these matches one.
NOVEL = ["정말 재밌다 최고의 영화 또 보고 싶다", "감동적이고 좋았다 또 보고 싶다 배우 연기 훌륭함", "시간 낭비 너무 지루하다 돈 아깝다",
         "최악의 영화 다신 안 봄 시간 낭비", "배우 연기 훌륭함 정말 재밌다 최고의 영화"]


def nsmc_texts(root, name):
    """The review texts of one NSMC file of the synthetic data root."""
    return sources.load_nsmc(root / "nsmc" / name)["text"].tolist()


@pytest.fixture(scope="module")
def teacher_dir(data_root, tokenizer_dir, tmp_path_factory):
    """A tiny fine-tuned sentiment model: the teacher."""
    out = tmp_path_factory.mktemp("teacher")
    run_finetune("sentiment", data_root, tokenizer_dir, out)
    return out / "best"


@pytest.fixture(scope="module")
def ngram_model(data_root, tmp_path_factory):
    """The word + char n-gram teacher fitted on the synthetic train split."""
    path = tmp_path_factory.mktemp("ngram") / "ngram.safetensors"
    report = ngram.fit(ngram.NgramArgs(out=str(path), data_dir=str(data_root)))
    assert report["dev"]["n"] == 41 and path.is_file()
    return path


@pytest.fixture(scope="module")
def planted_corpus(data_root, tmp_path_factory):
    """A tiny corpus with test, dev and train reviews planted among new ones; returns (path, test lines)."""
    test = nsmc_texts(data_root, "ratings_test.txt")
    train, dev = sources.split_nsmc_train(sources.load_nsmc(data_root / "nsmc" / "ratings_train.txt"))
    planted_test = [test[-1], "  " + test[0].replace(" ", "   ") + "!!!"]  # verbatim, and respaced
    # The synthetic files share many reviews: plant a dev and a train review that no test one equals.
    held_out = held_out_keys(data_root)
    dev_only = next(t for t in dev["text"] if loose_key(t) not in held_out["test"])
    train_only = next(t for t in train["text"] if loose_key(t) not in held_out["test"] | held_out["dev"])
    lines = NOVEL[:3] + planted_test + [dev_only, train_only] + NOVEL[3:] + [NOVEL[0], "😀😀"]
    path = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, planted_test


def test_mixed_loss_reduces_to_hard_and_soft_cross_entropy():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3], [-0.2, 1.5]])
    labels = torch.tensor([1, 0, 1])
    teacher_probs = torch.tensor([[0.3, 0.7], [0.9, 0.1], [0.5, 0.5]])
    hard = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.isclose(mixed_loss(logits, labels, teacher_probs, torch.zeros(3)), hard)
    assert torch.isclose(mixed_loss(logits, labels, teacher_probs, torch.ones(3)),
                         soft_cross_entropy(logits, teacher_probs))
    # A row of weight 0 does not count; a row of weight 2 counts twice.
    rows = soft_cross_entropy(logits, teacher_probs, reduction="none")
    weighted = mixed_loss(logits, labels, teacher_probs, torch.ones(3), torch.tensor([0.0, 2.0, 1.0]))
    assert torch.isclose(weighted, (2 * rows[1] + rows[2]) / 3)
    # Soft labels equal to the model's own distribution leave only its entropy: the minimum.
    own = torch.softmax(logits, -1)
    assert soft_cross_entropy(logits, own) < soft_cross_entropy(logits, teacher_probs)


def test_keys_find_a_review_again_after_cleaning():
    assert exact_key("  정말   재밌다😀 ") == "정말 재밌다"
    assert loose_key("정말 재밌다!!!") == loose_key("정말재밌다") == loose_key("정말 재밌다.")
    assert loose_key("최고ㅋㅋㅋㅋㅋ") == loose_key("최고 ㅋㅋ")
    assert loose_key("정말 재밌다") != loose_key("정말 재미없다")


def test_filter_corpus_drops_held_out_and_training_reviews(data_root, planted_corpus):
    path, planted_test = planted_corpus
    train, _ = sources.split_nsmc_train(sources.load_nsmc(data_root / "nsmc" / "ratings_train.txt"))
    held_out = held_out_keys(data_root)
    kept, dropped = pseudolabel.filter_corpus(list(sources.iter_corpus(path)), held_out, train["text"])
    assert kept == NOVEL
    assert dropped["test_match"] == len(planted_test)
    assert dropped["corpus_duplicate"] == 1 and dropped["empty"] == 1
    assert dropped["dev_match"] == 1 and dropped["train_duplicate"] == 1


def test_select_keeps_the_most_confident_within_the_cap_and_balances():
    frame = pd.DataFrame({"text": list("abcdefgh"), "positive": [0.99, 0.97, 0.95, 0.6, 0.02, 0.3, 0.5, 0.9]})
    assert pseudolabel.select(frame, min_confidence=0.9, balance=False)["text"].tolist() == list("aebch")
    assert pseudolabel.select(frame, max_count=4, balance=False)["text"].tolist() == list("aebc")
    assert sorted(pseudolabel.select(frame, max_count=4)["text"]) == list("abef")  # two of each class
    only_positive = frame[frame["positive"] > 0.5]
    assert len(pseudolabel.select(only_positive, max_count=3)) == 3  # the short class's half goes over


def test_teacher_ensemble_is_the_mean_of_its_members(teacher_dir, ngram_model, data_root):
    ensemble = teacher.TeacherEnsemble(teacher_dir, ngram_model, device="cpu")
    scores = ensemble.components(NOVEL, chunk=2)
    assert set(scores) == {"model", "ngram", "ensemble"} and len(scores["ensemble"]) == len(NOVEL)
    assert np.allclose(scores["ensemble"], (scores["model"] + scores["ngram"]) / 2)
    direct = [r["probabilities"]["positive"] for r in load_predictor(teacher_dir, "sentiment").predict(NOVEL)]
    assert np.allclose(scores["model"], direct, atol=1e-5)
    result = teacher.evaluate(teacher.TeacherArgs(teacher=str(teacher_dir), ngram=str(ngram_model),
                                                  data=str(data_root / "nsmc" / "ratings_test.txt"), device="cpu"))
    assert {name: m["n"] for name, m in result["metrics"].items()} == {"model": 41, "ngram": 41, "ensemble": 41}
    sweep = result["weight_sweep"]
    assert list(sweep) == [f"{w / 10:.1f}" for w in range(11)]
    assert sweep["0.0"] == pytest.approx(result["metrics"]["model"]["accuracy"], abs=1e-5)
    assert sweep["1.0"] == pytest.approx(result["metrics"]["ngram"]["accuracy"], abs=1e-5)
    assert sweep["0.5"] == pytest.approx(result["metrics"]["ensemble"]["accuracy"], abs=1e-5)
    on_dev = teacher.evaluate(teacher.TeacherArgs(teacher=str(teacher_dir), data="dev", data_dir=str(data_root),
                                                  device="cpu"))
    assert on_dev["metrics"]["ensemble"]["n"] == 41  # the dev fifth of 201 training rows


def test_pseudolabel_command_never_lets_a_test_review_through(teacher_dir, ngram_model, data_root,
                                                               planted_corpus, tmp_path):
    path, planted_test = planted_corpus
    out = tmp_path / "pseudo.tsv"
    command = ["--teacher", str(teacher_dir), "--ngram", str(ngram_model), "--corpus", str(path),
               "--data_dir", str(data_root), "--out", str(out), "--threads", "1"]
    pseudolabel.main(command)  # no cap: every line that passed the filters is written
    written = sources.read_tsv(out)
    assert list(written.columns) == ["text", "positive", "model", "ngram"]
    assert sorted(written["text"]) == sorted(NOVEL)
    test_keys = {loose_key(text) for text in nsmc_texts(data_root, "ratings_test.txt")}
    assert not set(written["text"].map(loose_key)) & test_keys
    positive = written["positive"].astype(float)
    confidence = np.maximum(positive, 1 - positive)
    assert list(confidence) == sorted(confidence, reverse=True)
    assert np.allclose(positive, (written["model"].astype(float) + written["ngram"].astype(float)) / 2, atol=1e-5)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["dropped"]["test_match"] == len(planted_test)
    assert report["scored"] == report["selected"] == len(NOVEL) and report["processes"] == 1
    pseudolabel.main(command + ["--max_count", "4"])
    capped = sources.read_tsv(out)
    assert len(capped) == 4 and set(capped["text"]) <= set(NOVEL)


def test_pseudo_labels_file_cannot_bring_a_test_review_into_training(data_root, tmp_path):
    test_text = nsmc_texts(data_root, "ratings_test.txt")[3]
    path = tmp_path / "pseudo.tsv"
    path.write_text(f"text\tpositive\n{NOVEL[0]}\t0.9\n{test_text} !\t0.1\n{NOVEL[2]}\t0.2\n", encoding="utf-8")
    frame = read_pseudo_labels(path, root=data_root)
    assert frame["text"].tolist() == [NOVEL[0], NOVEL[2]] and frame["label"].tolist() == [1, 0]
    assert read_pseudo_labels(path, limit=1, root=data_root)["text"].tolist() == [NOVEL[0]]


@pytest.fixture(scope="module")
def imported_encoder(tokenizer_dir, tmp_path_factory):
    """A tiny bare ELECTRA encoder directory, the shape training.encoders.import_e5 writes (no task head)."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = ElectraConfig(vocab_size=len(tokenizer), embedding_size=16, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=128)
    path = tmp_path_factory.mktemp("encoder")
    torch.manual_seed(0)
    ElectraModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_student_trains_on_gold_and_pseudo_labels_from_the_imported_encoder(
        data_root, tokenizer_dir, imported_encoder, tmp_path):
    pseudo = tmp_path / "pseudo.tsv"
    rows = [(text, 0.95 if i % 2 == 0 else 0.1) for i, text in enumerate(NOVEL * 4)]
    pseudo.write_text("text\tpositive\n" + "".join(f"{t}\t{p}\n" for t, p in rows), encoding="utf-8")
    argv = ["--task", "sentiment", "--data_dir", str(data_root), "--out", str(tmp_path / "student"),
            "--epochs", "1", *TINY, "--init", str(imported_encoder),
            *mix_argv("nsmc", {"source": "pseudo_labels", "path": str(pseudo), "weight": 0.5, "limit": 16})]
    student = finetune.Trainer(finetune.parse_args(argv))
    gold = 160  # the 80% train split of 200 synthetic reviews
    assert len(student.train["labels"]) == len(student.train["teacher"]) == gold + 16
    assert student.train["soft_share"] == [0.0] * gold + [1.0] * 16  # gold rows: their own label alone
    assert student.train["weight"] == [1.0] * gold + [0.5] * 16
    assert student.train["teacher"][gold] == pytest.approx([0.05, 0.95])
    assert student.train["teacher"][:2] == [[1.0 - label, float(label)] for label in student.train["labels"][:2]]
    batch = collate(student.train, [0, gold, gold + 1], student.pad_id, regression=False)
    assert batch["weight"].tolist() == [1.0, 0.5, 0.5] and batch["soft_share"].tolist() == [0.0, 1.0, 1.0]
    assert math.isfinite(student.train_step(batch))
    student.run()
    predictor = load_predictor(tmp_path / "student" / "best", "sentiment")
    assert predictor.config.hidden_size == 16 and len(predictor.predict(NOVEL)) == len(NOVEL)
    # Gold reviews from the 150th on, then the pseudo-labeled ones: the student of training.train.selftrain.
    skipped = finetune.Trainer(finetune.parse_args(argv[:-2] + mix_argv(
        {"source": "nsmc", "skip": 150, "limit": 8}, {"source": "pseudo_labels", "path": str(pseudo)})))
    split = sources.split_nsmc_train(sources.load_nsmc(data_root / "nsmc" / "ratings_train.txt"))[0]
    assert skipped.train["labels"][:8] == split["label"].iloc[150:158].tolist()
    assert len(skipped.train["labels"]) == 8 + 20 and skipped.train["weight"][-1] == 1.0


def test_finetune_runs_through_accelerate_on_the_cpu(data_root, tokenizer_dir, tmp_path, monkeypatch):
    args = finetune.parse_args(["--task", "sentiment", "--data_dir", str(data_root), "--init",
                                str(tokenizer_dir), "--out", str(tmp_path), "--epochs", "1", *TINY,
                                *NO_EXTRA_PAIRS])
    trainer = finetune.Trainer(args)
    assert trainer.accelerator.num_processes == 1 and trainer.accelerator.mixed_precision == "no"
    assert trainer.device.type == "cpu" and trainer.unwrapped is trainer.model
    # Resuming mid-epoch skips exactly the batches already done, in the same order.
    seen = []
    monkeypatch.setattr(trainer, "train_step", lambda batch: seen.append(batch["input_ids"].sum().item()) or 0.0)
    monkeypatch.setattr(trainer, "evaluate", lambda progress: None)
    full = [collate_sum for collate_sum in map(lambda b: b["input_ids"].sum().item(), trainer.epoch_loader(0))]
    trainer.step = 7
    trainer.run_epoch(0, trainer.epoch_loader(0), 7, eval_every=1000)
    assert seen == full[7:] and trainer.step == len(full) == trainer.steps_per_epoch


def test_mixed_precision_is_bf16_on_a_gpu_and_none_on_a_cpu(data_root, tokenizer_dir, monkeypatch):
    args = finetune.parse_args(["--task", "sentiment", "--init", str(tokenizer_dir)])
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert trainer.mixed_precision(args) == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert trainer.mixed_precision(args) == "bf16"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    assert trainer.mixed_precision(args) is None  # accelerate launch's choice wins


def test_soft_cross_entropy_matches_cross_entropy_on_one_hot_targets():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    one_hot = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 0]))
    assert torch.isclose(soft_cross_entropy(logits, one_hot), expected)
