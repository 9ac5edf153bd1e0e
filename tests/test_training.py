"""Training pipeline: loaders, tokenizer, batching, a tiny fine-tune, resume, evaluate, export."""
import json
import math
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from PIL import Image

import model_info
from model_info import PLOTS
from models import load_predictor
from training import average, baselines, compare, data, evaluate, export, finetune, lengths, plots, pretrain
from training.batching import length_grouped_batches
from training.metrics import calibration_table, paraphrase_metrics
from training.tokenizer import train_tokenizer

POSITIVE = ["정말 재밌다", "최고의 영화", "감동적이고 좋았다", "배우 연기 훌륭함", "또 보고 싶다"]
NEGATIVE = ["시간 낭비", "너무 지루하다", "최악의 영화", "돈 아깝다", "다신 안 봄"]
# The task configs add anchor and teacher pairs, KLUE-STS, distillation and a pretrained --init
# (runs/e5-small-ko, far too big for a test); tests opt in to them one by one.
NO_EXTRA_PAIRS = ["--anchor_pairs", "0", "--teacher_pairs", "0", "--swap_pairs", "false",
                  "--klue_sts", "false", "--freeze_embeddings", "false"]
RANDOM_INIT = ["--init", ""]  # an empty --init overrides the config's: random init
TINY = ["--embedding_size", "16", "--hidden_size", "16", "--num_layers", "1", "--num_heads", "2",
        "--intermediate_size", "32", "--batch_size", "8", "--threads", "1", "--learning_rate", "2e-3"]


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


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A miniature ../shared/data with the real file layouts."""
    root = tmp_path_factory.mktemp("data")
    header = ("id", "document", "label")
    write_tsv(root / "nsmc" / "ratings_train.txt", header, review_rows(200, 1) + [(999, "", 0)])
    write_tsv(root / "nsmc" / "ratings_test.txt", header, review_rows(40, 2) + [(998, '"따옴표로 시작', 1)])
    sts_header = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
    pairs = [("main", "f", "2012", i, f"{(i % 6) * 5 / 5:.1f}", POSITIVE[i % 5], NEGATIVE[(i * 3) % 5])
             for i in range(60)]
    write_tsv(root / "korsts" / "sts-train.tsv", sts_header, pairs)
    write_tsv(root / "korsts" / "sts-dev.tsv", sts_header, pairs[:20])
    paws = [(i, POSITIVE[i % 5], POSITIVE[(i + 1) % 5], i % 2) for i in range(10)]
    write_tsv(root / "extra" / "paws" / "dev_2k.tsv", ("id", "sentence1", "sentence2", "label"), paws)
    write_tsv(root / "extra" / "paws" / "test_2k.tsv", ("id", "sentence1", "sentence2", "label"), paws)
    questions = [(NEGATIVE[i % 5], NEGATIVE[(i + 2) % 5], i % 2) for i in range(10)]
    for name in ("train.tsv", "dev.tsv"):
        write_tsv(root / "extra" / "question-pair" / name, ("question1", "question2", "is_duplicate"), questions)
    nli = [{"premise": POSITIVE[i % 5], "hypothesis": (POSITIVE if i % 3 == 0 else NEGATIVE)[(i + 1) % 5],
            "gold_label": ("entailment", "neutral", "contradiction")[i % 3]} for i in range(30)]
    (root / "klue-nli").mkdir()
    for part, rows in (("train", nli), ("dev", nli[:12])):
        (root / "klue-nli" / f"klue-nli-v1.1_{part}.json").write_text(json.dumps(rows, ensure_ascii=False))
    klue = ["sentence1,sentence2,label"] + [f"{a},{b},{score}" for _, _, _, _, score, a, b in pairs[:40]]
    (root / "klue-sts").mkdir()
    (root / "klue-sts" / "klue-sts-v1.1_train.csv").write_text("\n".join(klue) + "\n", encoding="utf-8")
    corpus = [row[1] for row in review_rows(300, 3)]
    (root / "pretrain").mkdir()
    (root / "pretrain" / "movie_reviews.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """A tiny WordPiece tokenizer trained on the synthetic reviews."""
    texts = [row[1] for row in review_rows(300, 4)] * 3
    tokenizer = train_tokenizer(texts, vocab_size=200, min_frequency=1, limit_alphabet=500)
    path = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(path)
    return path


def test_nsmc_loader_keeps_empty_documents_and_quotes(data_root):
    frame = data.load_nsmc(data_root / "nsmc" / "ratings_test.txt")
    assert len(frame) == 41
    assert frame["text"].iloc[-1] == '"따옴표로 시작'
    train = data.load_nsmc(data_root / "nsmc" / "ratings_train.txt")
    assert (train["text"] == "").sum() == 1
    assert set(train["label"]) == {0, 1}


def test_nsmc_split_is_80_20_and_repeatable(data_root):
    frame = data.load_nsmc(data_root / "nsmc" / "ratings_train.txt")
    train, dev = data.split_nsmc_train(frame)
    again, _ = data.split_nsmc_train(frame)
    assert len(dev) == math.ceil(len(frame) * 0.2) and len(train) + len(dev) == len(frame)
    assert train["text"].tolist() == again["text"].tolist()


def test_korsts_and_klue_loaders_agree_on_columns(data_root, tmp_path):
    korsts = data.load_korsts(data_root / "korsts" / "sts-dev.tsv")
    sample = [{"guid": "x", "source": "s", "sentence1": "가", "sentence2": "나",
               "labels": {"label": 4.6, "real-label": 4.57, "binary-label": 1}}]
    (tmp_path / "klue.json").write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
    klue = data.load_pairs(tmp_path / "klue.json")
    assert list(klue.columns) == list(korsts.columns) == ["sentence1", "sentence2", "score"]
    assert klue["score"].tolist() == [4.6]
    assert korsts["score"].between(0, 5).all()


def test_question_pair_labels_are_flipped(tmp_path):
    write_tsv(tmp_path / "extra" / "paws" / "dev_2k.tsv", ("id", "sentence1", "sentence2", "label"), [(1, "a", "b", 1)])
    write_tsv(tmp_path / "extra" / "paws" / "test_2k.tsv", ("id", "sentence1", "sentence2", "label"), [(2, "c", "d", 0)])
    header = ("question1", "question2", "is_duplicate")
    write_tsv(tmp_path / "extra" / "question-pair" / "train.tsv", header, [("같은 질문", "같은 질문", 0)])
    write_tsv(tmp_path / "extra" / "question-pair" / "dev.tsv", header, [("다른", "질문", 1)])
    pairs = data.load_paraphrase_pairs(tmp_path)
    assert pairs["label"].tolist() == [1, 0, 1, 0]
    dev = data.load_pairs(tmp_path / "extra" / "question-pair" / "dev.tsv")  # as evaluate reads it
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


def test_missing_tokenizer_says_how_to_train_one():
    with pytest.raises(ValueError, match="python -m training.tokenizer"):
        finetune.parse_args(["--task", "sentiment", "--tokenizer", "runs/no-such-tokenizer"])


def test_config_file_rejects_unknown_keys(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"task": "sentiment", "learning_rat": 1e-4}))
    with pytest.raises(ValueError, match="learning_rat"):
        finetune.parse_args(["--config", str(config)])


def tiny_finetune_argv(data_root, tokenizer_dir, out, *extra, task="sentiment"):
    """The command line of a tiny fine-tuning run."""
    return ["--task", task, "--data_dir", str(data_root), "--tokenizer", str(tokenizer_dir),
            "--out", str(out), "--epochs", "1", *TINY, *NO_EXTRA_PAIRS, *RANDOM_INIT,
            "--distill_weight", "0", *extra]


def run_finetune(task, data_root, tokenizer_dir, out, *extra):
    """A tiny fine-tuning run; returns the best dev score."""
    args = finetune.parse_args(tiny_finetune_argv(data_root, tokenizer_dir, out, *extra, task=task))
    return finetune.Trainer(args).run()


@pytest.fixture(scope="session")
def trained(tmp_path_factory, data_root, tokenizer_dir):
    """Tiny sentiment and similarity models fine-tuned from random init."""
    root = tmp_path_factory.mktemp("runs")
    for task in ("sentiment", "similarity"):
        run_finetune(task, data_root, tokenizer_dir, root / task)
    return root


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_finetune_saves_a_complete_model_directory(trained, task):
    best = trained / task / "best"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "serving.json", "dev_metrics.json"):
        assert (best / name).is_file(), name
    serving = json.loads((best / "serving.json").read_text())
    assert serving["task"] == task and serving["clean"] is True
    assert (trained / task / "checkpoint" / finetune.TRAINER_STATE).is_file()


def test_resume_continues_from_the_checkpoint(data_root, tokenizer_dir, tmp_path):
    run_finetune("sentiment", data_root, tokenizer_dir, tmp_path, "--checkpoint_every", "5")
    args = finetune.parse_args(["--task", "sentiment", "--data_dir", str(data_root), "--tokenizer",
                                str(tokenizer_dir), "--out", str(tmp_path), "--epochs", "2",
                                "--resume", "true", *TINY])
    trainer = finetune.Trainer(args)
    trainer.load_checkpoint()
    assert trainer.step == trainer.steps_per_epoch  # the finished first epoch
    trainer.run()
    assert trainer.step == 2 * trainer.steps_per_epoch


def test_a_run_cut_off_and_resumed_ends_where_an_uninterrupted_one_does(data_root, tokenizer_dir, tmp_path,
                                                                        monkeypatch):
    def trainer(out, *extra):
        return finetune.Trainer(finetune.parse_args(
            tiny_finetune_argv(data_root, tokenizer_dir, out, "--checkpoint_every", "4", *extra)))
    whole = trainer(tmp_path / "whole")
    whole.run()
    cut = trainer(tmp_path / "cut")
    assert cut.steps_per_epoch > 6
    step = cut.train_step

    def killed_in_the_sixth_step(batch):
        if cut.step == 5:
            raise KeyboardInterrupt  # the last checkpoint is step 4's
        return step(batch)
    monkeypatch.setattr(cut, "train_step", killed_in_the_sixth_step)
    with pytest.raises(KeyboardInterrupt):
        cut.run()
    resumed = trainer(tmp_path / "cut", "--resume", "true")
    resumed.run()
    assert resumed.step == whole.step and resumed.history[-1]["step"] == whole.history[-1]["step"]
    for a, b in zip(whole.unwrapped.parameters(), resumed.unwrapped.parameters()):
        assert torch.equal(a, b)


def test_a_kill_between_the_checkpoint_renames_resumes_from_the_previous_one(data_root, tokenizer_dir, tmp_path):
    run_finetune("sentiment", data_root, tokenizer_dir, tmp_path)
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")  # the new one never got its name
    resumed = finetune.Trainer(finetune.parse_args(
        tiny_finetune_argv(data_root, tokenizer_dir, tmp_path, "--resume", "true")))
    resumed.run()
    assert resumed.step == resumed.steps_per_epoch and (tmp_path / "checkpoint").is_dir()
    assert not (tmp_path / "checkpoint.old").exists()


@pytest.mark.parametrize("task, filename, keys", [
    ("sentiment", "nsmc/ratings_test.txt", {"accuracy", "macro_f1", "confusion_matrix", "n"}),
    ("similarity", "korsts/sts-dev.tsv", {"pearson", "spearman", "mse", "binary_f1", "n"}),
])
def test_evaluate_reports_the_metric_schema(trained, data_root, task, filename, keys):
    args = evaluate.EvaluateArgs(task=task, model=str(trained / task / "best"), data=str(data_root / filename))
    result = evaluate.evaluate(args)
    assert set(result["metrics"]) == keys
    assert result["model"] == task and result["clean"] is True
    if task == "sentiment":
        matrix = result["metrics"]["confusion_matrix"]
        assert sum(map(sum, matrix)) == result["metrics"]["n"] == 41
        assert 0 <= result["metrics"]["accuracy"] <= 1
    else:
        assert -1 <= result["metrics"]["spearman"] <= 1
        assert sum(row["pairs"] for row in result["calibration"]) == result["metrics"]["n"]


def test_calibration_table_groups_pairs_by_predicted_score():
    gold = [0.0, 1.0, 3.0, 4.0, 5.0]
    predicted = [0.2, 0.4, 3.3, 3.4, 5.0]  # 5.0 itself falls in the top bin, 4.5–5.0
    rows = calibration_table(gold, predicted)
    assert [(row["predicted_from"], row["pairs"]) for row in rows] == [(0.0, 2), (3.0, 2), (4.5, 1)]
    assert rows[0]["gold_mean"] == 0.5 and rows[0]["predicted_mean"] == pytest.approx(0.3)
    assert rows[1]["gold_mean"] == 3.5 and rows[1]["predicted_to"] == 3.5
    assert rows[2]["gold_mean"] == 5.0


def test_evaluate_scores_the_quantized_model_as_served(trained, data_root):
    args = evaluate.EvaluateArgs(task="sentiment", model=str(trained / "sentiment" / "best"),
                                 data=str(data_root / "nsmc/ratings_test.txt"), device="cpu", quantize=True)
    result = evaluate.evaluate(args)
    assert result["quantized"] is True and result["metrics"]["n"] == 41


def test_export_writes_fp16_model_with_card_that_serves(trained, tmp_path):
    out = tmp_path / "sentiment"
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"model": "x", "data": "test.txt", "metrics": {"accuracy": 0.5}}))
    export.export(export.ExportArgs(model=str(trained / "sentiment" / "best"), out=str(out),
                                    evaluations=[str(evaluation)], command=["python -m training.finetune"],
                                    name="tiny-sentiment"))
    card = (out / "README.md").read_text()
    assert "accuracy 0.5000" in card and "python -m training.finetune" in card
    predictor = load_predictor(out, "sentiment")
    assert predictor.name == "tiny-sentiment"
    assert next(predictor.model.parameters()).dtype.is_floating_point
    config = json.loads((out / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "float16"
    result = predictor.predict(["정말 재밌다"])[0]
    assert result["label"] in ("positive", "negative")


@pytest.mark.parametrize("task, filename", [("sentiment", "nsmc/ratings_test.txt"),
                                            ("similarity", "korsts/sts-dev.tsv")])
def test_evaluate_draws_the_plots(trained, data_root, tmp_path, task, filename):
    evaluate.main(["--task", task, "--model", str(trained / task / "best"),
                   "--data", str(data_root / filename), "--plots", str(tmp_path / "plots")])
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == sorted(PLOTS[task])
    for name in PLOTS[task]:
        with Image.open(tmp_path / "plots" / name) as image:
            image.verify()  # a whole, valid PNG
            assert image.format == "PNG" and image.size[0] >= 400 and image.size[1] >= 300


def test_threshold_plot_marks_the_served_threshold():
    figure = plots.threshold_metrics_plot({"gold": [0.0, 1.0, 3.5, 4.0], "predicted": [0.5, 3.2, 2.9, 4.5]})
    (axes,) = figure.axes
    assert [line.get_label() for line in axes.get_lines()] == [  # Korean where a Korean font is installed
        plots.label("precision"), plots.label("recall"), plots.label("F1"),
        plots.label("served_threshold", t="3.0")]
    assert list(axes.get_lines()[-1].get_xdata()) == [3.0, 3.0]
    # At threshold 3.0: one of the two predicted similar pairs is gold-similar, one of two found.
    thresholds, f1 = axes.get_lines()[2].get_data()
    assert f1[list(thresholds).index(3.0)] == pytest.approx(0.5)


def test_accuracy_by_length_bands_count_every_review():
    outputs = {"labels": [1, 0, 1, 1], "predictions": [1, 1, 1, 0], "lengths": [0, 15, 15, 200]}
    (axes,) = plots.accuracy_by_length_plot(outputs).axes
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["0–10", "11–20", "81+"]
    assert [bar.get_height() for bar in axes.patches] == [1.0, 0.5, 0.0]


def test_export_copies_plots_and_evaluations_into_the_card(trained, tmp_path):
    source = tmp_path / "plots"
    plots.write_plots("sentiment", {"labels": [0, 1, 1], "predictions": [0, 1, 0],
                                    "positive": [0.2, 0.9, 0.4], "lengths": [5, 30, 90]}, source)
    (source / "notes.txt").write_text("not a plot")
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"model": "x", "data": "test.txt", "metrics": {"accuracy": 0.5}}))
    out = tmp_path / "sentiment"
    export.main(["--model", str(trained / "sentiment" / "best"), "--out", str(out),
                 "--evaluations", str(evaluation), "--plots", str(source)])
    assert sorted(path.name for path in (out / "plots").iterdir()) == sorted(PLOTS["sentiment"])
    card = (out / "README.md").read_text()
    for name in PLOTS["sentiment"]:
        assert f"({model_info.PLOT_DIR}/{name})" in card
    saved = json.loads((out / model_info.EVALUATIONS_FILE).read_text())
    assert saved == [json.loads(evaluation.read_text())]
    with pytest.raises(FileNotFoundError, match="no similarity plots"):
        export.copy_plots(source, tmp_path / "other", "similarity")


def test_init_from_a_saved_model_reuses_its_weights(trained, data_root, tmp_path):
    source = trained / "sentiment" / "best"
    run_finetune("similarity", data_root, source, tmp_path, "--init", str(source), "--max_train_examples", "8")
    predictor = load_predictor(tmp_path / "best", "similarity")
    assert predictor.config.num_labels == 1 and predictor.config.hidden_size == 16


REAL_MODELS = Path(__file__).resolve().parent.parent / "running_model"


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_embedded_model_is_a_complete_small_artifact_with_a_card(task):
    directory = REAL_MODELS / task
    if not (directory / "config.json").is_file():
        pytest.skip(f"running_model/{task} has no trained model yet")
    weights = list(directory.glob("*.safetensors"))
    assert weights and all(path.stat().st_size <= 30 * 2**20 for path in weights)
    serving = json.loads((directory / "serving.json").read_text())
    assert serving["task"] == task and isinstance(serving["clean"], bool)
    card = (directory / "README.md").read_text()
    assert "## Evaluation" in card and "python -m training." in card
    assert load_predictor(directory, task).task == task


def test_pack_never_splits_texts_and_respects_the_row_length():
    rows = pretrain.pack([[5, 6], [7, 8, 9], [], [10] * 20, [11]], seq_length=8, cls_id=2, sep_id=3)
    assert all(len(row) <= 8 and row[0] == 2 and row[-1] == 3 for row in rows)
    assert rows[0] == [2, 5, 6, 3, 7, 8, 9, 3]
    assert rows[1] == [2] + [10] * 6 + [3]  # a text longer than a row is cut, not split
    assert rows[2] == [2, 11, 3]


def test_masking_skips_special_tokens_and_is_drawn_anew():
    ids = torch.tensor([[2] + list(range(10, 200)) + [3, 0, 0]])
    special = torch.tensor([0, 2, 3])
    first, mask = pretrain.mask_tokens(ids, special, mask_id=4, mask_prob=0.15)
    second, other = pretrain.mask_tokens(ids, special, mask_id=4, mask_prob=0.15)
    assert not mask[torch.isin(ids, special)].any()
    assert (first[mask] == 4).all() and (first[~mask] == ids[~mask]).all()
    assert 10 <= mask.sum() <= 50 and not torch.equal(mask, other)


def tiny_pretrain_args(data_root, tokenizer_dir, out, **overrides):
    """Arguments for a pretraining run small enough for a test."""
    values = dict(out=str(out), data_dir=str(data_root), tokenizer=str(tokenizer_dir), seq_length=32,
                  embedding_size=16, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=32,
                  max_steps=4, batch_size=4, warmup_steps=0, checkpoint_every=2, threads=1,
                  include_extra=False)
    values.update(overrides)
    return pretrain.PretrainArgs(**values)


def test_pretraining_step_gives_finite_losses_and_shares_embeddings(data_root, tokenizer_dir, tmp_path):
    trainer = pretrain.Pretrainer(tiny_pretrain_args(data_root, tokenizer_dir, tmp_path))
    shared = trainer.discriminator.electra.embeddings.word_embeddings.weight
    assert trainer.generator.electra.embeddings.word_embeddings.weight is shared
    assert trainer.generator.generator_lm_head.weight is shared
    assert trainer.generator.config.hidden_size == 16  # a quarter of the discriminator's 32 (min 16)
    before = shared.detach().clone()
    mlm, rtd = trainer.train_step()
    assert math.isfinite(mlm) and math.isfinite(rtd) and mlm > 0 and rtd > 0
    assert not torch.equal(before, shared.detach())


def test_pretraining_resumes_and_its_discriminator_initialises_finetuning(data_root, tokenizer_dir, tmp_path):
    out = tmp_path / "pretrain"
    pretrain.Pretrainer(tiny_pretrain_args(data_root, tokenizer_dir, out, max_steps=2)).run()
    resumed = pretrain.Pretrainer(tiny_pretrain_args(data_root, tokenizer_dir, out, max_steps=4, resume=True))
    assert resumed.run() == 4
    saved = resumed.discriminator.electra.embeddings.word_embeddings.weight
    discriminator = out / "discriminator"
    run_finetune("sentiment", data_root, discriminator, tmp_path / "ft", "--init", str(discriminator))
    predictor = load_predictor(tmp_path / "ft" / "best", "sentiment")
    assert predictor.config.hidden_size == 32
    assert predictor.model.electra.embeddings.word_embeddings.weight.shape == saved.shape


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


def test_teacher_probabilities_are_out_of_fold():
    # Random labels on random texts: a classifier fitted on them memorises them, but one that
    # never saw a text can only guess, so out-of-fold probabilities stay near chance.
    rng = random.Random(0)
    texts = ["".join(rng.choice("가나다라마바사아자차") for _ in range(12)) for _ in range(200)]
    labels = [rng.randint(0, 1) for _ in texts]
    out_of_fold = baselines.out_of_fold_probabilities(texts, labels, folds=4)
    in_sample = baselines.sentiment_classifier().fit(texts, labels).predict_proba(texts)
    rows = range(len(texts))
    assert out_of_fold.shape == (200, 2) and all(abs(sum(row) - 1) < 1e-6 for row in out_of_fold)
    assert sum(in_sample[i][labels[i]] for i in rows) / 200 > 0.62
    assert sum(out_of_fold[i][labels[i]] for i in rows) / 200 < 0.55


def test_soft_cross_entropy_matches_cross_entropy_on_one_hot_targets():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    one_hot = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 0]))
    assert torch.isclose(finetune.soft_cross_entropy(logits, one_hot), expected)


def test_distillation_trains_on_the_teachers_soft_labels(data_root, tokenizer_dir, tmp_path):
    args = finetune.parse_args(["--task", "sentiment", "--data_dir", str(data_root), "--tokenizer",
                                str(tokenizer_dir), "--out", str(tmp_path), "--epochs", "1",
                                "--distill_weight", "0.5", "--teacher_folds", "2", *TINY])
    trainer = finetune.Trainer(args)
    teacher = trainer.train["teacher"]
    assert len(teacher) == len(trainer.train["labels"]) and all(abs(sum(p) - 1) < 1e-6 for p in teacher)
    batch = finetune.collate(trainer.train, [0, 1, 2], trainer.pad_id, regression=False)
    assert batch["teacher"].shape == (3, 2)
    assert math.isfinite(trainer.train_step(batch))
    trainer.run()
    assert (tmp_path / "best" / "model.safetensors").is_file()


def test_distillation_is_refused_for_similarity(tokenizer_dir):
    with pytest.raises(ValueError, match="sentiment task only"):
        finetune.parse_args(["--task", "similarity", "--tokenizer", str(tokenizer_dir),
                             "--distill_weight", "0.5"])


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


def test_nli_stage_then_similarity_from_it(data_root, tokenizer_dir, tmp_path):
    run_finetune("nli", data_root, tokenizer_dir, tmp_path / "nli")
    nli = tmp_path / "nli" / "best"
    metrics = json.loads((nli / "dev_metrics.json").read_text())
    assert metrics["n"] == 12 and len(metrics["confusion_matrix"]) == 3
    assert json.loads((nli / "config.json").read_text())["id2label"]["2"] == "contradiction"
    run_finetune("similarity", data_root, nli, tmp_path / "sts", "--init", str(nli), "--klue_sts", "true")
    sts = tmp_path / "sts" / "best"
    metrics = json.loads((sts / "dev_metrics.json").read_text())
    assert metrics["klue_sts_heldout"]["n"] == 4  # the fixed tenth of 40 KLUE-STS pairs
    assert metrics["selection"] == pytest.approx(
        (metrics["spearman"] + metrics["klue_sts_heldout"]["spearman"]) / 2)
    assert load_predictor(sts, "similarity").config.num_labels == 1  # the NLI head was replaced


def test_evaluate_scores_only_the_klue_sts_held_out_tenth(trained, data_root):
    path = data_root / "klue-sts" / "klue-sts-v1.1_train.csv"
    args = evaluate.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"),
                                 data=str(path), held_out=True)
    result = evaluate.evaluate(args)
    assert result["held_out"] is True and result["metrics"]["n"] == 4


def test_evaluate_scores_the_nsmc_dev_fifth_with_cleaning_on_or_off(trained, data_root):
    path = data_root / "nsmc" / "ratings_train.txt"
    dev = data.split_nsmc_train(data.load_nsmc(path))[1]
    assert data.load_eval_data("sentiment", path, held_out=True)["text"].tolist() == dev["text"].tolist()
    runs = {clean: evaluate.evaluate(evaluate.EvaluateArgs(
        task="sentiment", model=str(trained / "sentiment" / "best"), data=str(path), held_out=True, clean=clean))
        for clean in (True, False)}
    assert [runs[clean]["clean"] for clean in (True, False)] == [True, False]
    assert all(run["metrics"]["n"] == len(dev) for run in runs.values())


def test_export_says_a_model_from_e5_weights_is_not_koelectra(trained, tmp_path):
    imported, stage = tmp_path / "e5-import", tmp_path / "nli"
    imported.mkdir()
    (imported / "import.json").write_text(json.dumps({"pieces": 250002, "kept": 28434,
                                                      "held_out_changed": 263, "held_out_texts": 53000}))
    stage.mkdir()
    (stage / "train_args.json").write_text(json.dumps({"task": "nli", "init": str(imported)}))
    source = tmp_path / "model"
    shutil.copytree(trained / "similarity" / "best", source)
    train_args = json.loads((source / "train_args.json").read_text())
    (source / "train_args.json").write_text(json.dumps({**train_args, "init": str(stage), "klue_sts": True}))
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(source), out=str(out), command=["make it"]))
    serving = json.loads((out / "serving.json").read_text())
    assert "multilingual-e5-small" in serving["origin"] and "KoELECTRA 아님" in serving["origin"]
    card = (out / "README.md").read_text()
    assert "**This is not KoELECTRA**" in card and "28,434 pieces" in card
    assert "KLUE-STS v1.1 train" in card and "KLUE-NLI" in card
    assert load_predictor(out, "similarity").describe()["origin"] == serving["origin"]
    # A later stage trained from the export, once the runs behind it are gone, is still e5.
    shutil.rmtree(imported), shutil.rmtree(stage)
    later = tmp_path / "later"
    shutil.copytree(source, later)
    (later / "train_args.json").write_text(json.dumps({**train_args, "init": str(out)}))
    export.export(export.ExportArgs(model=str(later), out=str(tmp_path / "again")))
    assert json.loads((tmp_path / "again" / "serving.json").read_text())["origin"] == serving["origin"]
    assert "28,434 pieces" in (tmp_path / "again" / "README.md").read_text()


def test_export_refuses_to_replace_a_stage_the_model_was_trained_from(trained, tmp_path):
    served, later = tmp_path / "served", tmp_path / "later"
    export.export(export.ExportArgs(model=str(trained / "similarity" / "best"), out=str(served)))
    shutil.copytree(trained / "similarity" / "best", later)
    train_args = json.loads((later / "train_args.json").read_text())
    (later / "train_args.json").write_text(json.dumps({**train_args, "init": str(served)}))
    with pytest.raises(ValueError, match="copy it elsewhere"):
        export.export(export.ExportArgs(model=str(later), out=str(served)))
    assert load_predictor(served, "similarity").predict([("정말 재밌다", "최고의 영화")])  # left as it was


def test_export_of_a_model_trained_from_scratch_says_so(trained, tmp_path):
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(trained / "sentiment" / "best"), out=str(out)))
    serving = json.loads((out / "serving.json").read_text())
    assert "random" in serving["origin"] and "e5" not in serving["origin"]


def test_export_card_names_the_pseudo_labeled_reviews_only_when_used():
    plain = export.data_lines("sentiment", {"task": "sentiment"}, [])
    student = export.data_lines("sentiment", {"task": "sentiment", "pseudo_labels": "p.tsv"}, [])
    assert not any("movie_reviews" in line for line in plain)
    assert student[1] == export.PSEUDO_LINE and "test or dev" in student[1]


def write_evaluation(path, spearman, quantized, **fields):
    """A training.evaluate result file with one Spearman figure (and any further fields)."""
    path.write_text(json.dumps({"task": "similarity", "model": "m", "model_path": "m", "data": "dev.tsv",
                                "held_out": False, "quantized": quantized,
                                "metrics": {"spearman": spearman}, **fields}))
    return str(path)


@pytest.mark.parametrize("int8_spearman, served_int8", [(0.8400, True), (0.7700, False)])
def test_export_keeps_int8_only_when_it_costs_nothing(trained, tmp_path, int8_spearman, served_int8):
    evaluations = [write_evaluation(tmp_path / "fp32.json", 0.8437, False),
                   write_evaluation(tmp_path / "int8.json", int8_spearman, True)]
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(trained / "similarity" / "best"), out=str(out),
                                    evaluations=evaluations))
    assert json.loads((out / "serving.json").read_text())["quantize"] is served_int8
    assert load_predictor(out, "similarity", quantize=None, device="cpu").quantized is served_int8
    assert load_predictor(out, "similarity", quantize=True, device="cpu").quantized  # asked for: obeyed


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


def test_length_report_counts_the_train_split_under_each_limit(data_root, tokenizer_dir):
    args = lengths.LengthArgs(tokenizer=str(tokenizer_dir), data_dir=str(data_root), limit=0,
                              max_lengths="1,1000")
    report = lengths.length_report(args)
    train = data.split_nsmc_train(data.load_nsmc(data_root / "nsmc" / "ratings_train.txt"))[0]
    assert report["reviews"] == len(train)
    assert report["share_longer_than"] == {"1": 1.0, "1000": 0.0}  # [CLS] and [SEP] alone make 2
    assert 2 < report["mean"] <= report["p95"] <= report["p99"] <= report["max"]


@pytest.mark.parametrize("setting", ["clean", "symmetric"])
def test_int8_is_compared_only_with_fp32_under_the_same_setting(tmp_path, setting):
    def evaluation(name, spearman, quantized, value):
        return write_evaluation(tmp_path / name, spearman, quantized, **{setting: value})
    other_setting = evaluation("other.json", 0.90, False, False)
    int8_on, fp32_on = evaluation("int8.json", 0.84, True, True), evaluation("on.json", 0.8401, False, True)
    assert export.int8_keeps_accuracy([other_setting, int8_on, fp32_on])
    assert not export.int8_keeps_accuracy([evaluation("on-high.json", 0.90, False, True), int8_on])


def write_stylekqc(root, blocks=3):
    """A StyleKQC act-train file: blocks of 10 lines, each block one utterance's style variants."""
    rows = [(block % 2, f"문장 {block} 변형 {variant}") for block in range(blocks) for variant in range(10)]
    write_tsv(Path(root) / "extra" / "stylekqc" / "act-train.tsv", ("act", "sentence"), rows)


def test_stylekqc_pairs_stay_inside_one_block(tmp_path):
    write_stylekqc(tmp_path, blocks=3)
    pairs = data.stylekqc_paraphrase_pairs(tmp_path, per_block=4, score=4.5, seed=1)
    assert len(pairs) == 12 and set(pairs["score"]) == {4.5}
    block_of = lambda sentence: sentence.split()[1]  # noqa: E731 ("문장 <block> 변형 <variant>")
    assert all(block_of(a) == block_of(b) and a != b for a, b in zip(pairs["sentence1"], pairs["sentence2"]))
    assert sorted({block_of(a) for a in pairs["sentence1"]}) == ["0", "1", "2"]  # every block used


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


def test_evaluate_scores_similarity_in_one_or_both_pair_orders(trained, data_root):
    path = data_root / "korsts" / "sts-dev.tsv"
    model = str(trained / "similarity" / "best")
    runs = {order: evaluate.evaluate(evaluate.EvaluateArgs(task="similarity", model=model, data=str(path),
                                                           symmetric=order))
            for order in (None, True)}
    assert runs[None]["symmetric"] is False and runs[True]["symmetric"] is True  # the model's own: one
    assert runs[True]["metrics"]["n"] == runs[None]["metrics"]["n"] == 20
    aligned = evaluate.evaluate(evaluate.EvaluateArgs(task="similarity", model=model, data=str(path),
                                                      align_numbers=True))
    assert runs[None]["align_numbers"] is False and aligned["align_numbers"] is True


@pytest.mark.parametrize("symmetric, align", [(True, False), (False, True)])
def test_export_records_pair_order_and_number_alignment_for_serving_and_the_card(trained, tmp_path,
                                                                                 symmetric, align):
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(trained / "similarity" / "best"), out=str(out),
                                    symmetric=symmetric, align_numbers=align))
    serving = json.loads((out / "serving.json").read_text())
    assert serving["symmetric"] is symmetric and serving["align_numbers"] is align
    predictor = load_predictor(out, "similarity")
    assert predictor.symmetric is symmetric
    assert predictor.align_numbers is align and predictor.describe()["align_numbers"] is align
    card = (out / "README.md").read_text()
    assert ("(B, A)" in card) is symmetric and ("one pass" in card) is not symmetric
    assert ("「세 시」 / 「3시」" in card) is align


def test_paraphrase_metrics_read_the_page_thresholds():
    labels = [1, 1, 1, 1, 0, 0]
    predicted = [4.5, 4.0, 3.9, 2.0, 1.0, 0.5]  # 4.0 is 80%, 1.0 is 20%: both count
    scored = paraphrase_metrics(labels, predicted)
    assert scored["paraphrase_at_80"] == 0.5 and scored["unrelated_at_20"] == 1.0
    assert scored["paraphrase_mean"] == pytest.approx(3.6) and scored["unrelated_mean"] == 0.75
    assert scored["auc"] == 1.0 and scored["n"] == 6
    assert paraphrase_metrics([1], [4.0])["auc"] is None  # one kind only: undefined


def test_evaluate_reads_stylekqc_pairs_as_paraphrase_labels(trained, tmp_path):
    path = tmp_path / "sts-dev.tsv"
    rows = [(1, POSITIVE[i], POSITIVE[i + 1]) for i in range(4)] + [(0, POSITIVE[i], NEGATIVE[i]) for i in range(4)]
    write_tsv(path, ("similarity", "sentence1", "sentence2"), rows)
    assert data.load_pairs(path)["label"].tolist() == [1] * 4 + [0] * 4
    args = evaluate.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"), data=str(path))
    result = evaluate.evaluate(args)
    assert result["metrics"]["n"] == 8 and 0 <= result["metrics"]["paraphrase_at_80"] <= 1
    with pytest.raises(ValueError, match="0/1 paraphrase labels"):
        evaluate.evaluate(evaluate.EvaluateArgs(task="similarity", model=args.model, data=str(path),
                                                plots=str(tmp_path / "plots")))


def test_compare_finds_a_real_gain_and_none_between_equals():
    rng = random.Random(0)
    gold = [rng.uniform(0, 5) for _ in range(300)]
    noisy = [g + rng.gauss(0, 2) for g in gold]
    closer = [g + rng.gauss(0, 0.5) for g in gold]
    a = {"task": "similarity", "gold": gold, "predicted": noisy}
    better = compare.compare(a, {"task": "similarity", "gold": gold, "predicted": closer}, resamples=200)
    assert better["gain"] > 0 and better["interval_95"][0] > 0 and better["b_wins_share"] == 1.0
    same = compare.compare(a, a, resamples=50)
    assert same["gain"] == 0 and same["interval_95"] == [0, 0]
    with pytest.raises(ValueError, match="same examples"):
        compare.compare(a, {"task": "similarity", "gold": gold[::-1], "predicted": closer})


def test_compare_reads_paraphrase_outputs_by_auc():
    labels = [1, 1, 1, 0, 0, 0] * 20
    ranked = {"task": "similarity", "label": labels, "predicted": [4, 4, 4, 1, 1, 1] * 20}
    mixed = {"task": "similarity", "label": labels, "predicted": [4, 1, 4, 1, 4, 1] * 20}
    result = compare.compare(mixed, ranked, resamples=50)
    assert result["score_b"] == 1.0 and result["score_a"] == pytest.approx(2 / 3)  # 4 wins and 4 ties of 9
    assert result["interval_95"][0] > 0


def test_evaluate_saves_outputs_that_compare_reads(trained, data_root, tmp_path):
    path, model = data_root / "korsts" / "sts-dev.tsv", str(trained / "similarity" / "best")
    for name, order in (("one.json", False), ("both.json", True)):
        evaluate.evaluate(evaluate.EvaluateArgs(task="similarity", model=model, data=str(path),
                                                symmetric=order, save_outputs=str(tmp_path / name)))
    saved = json.loads((tmp_path / "one.json").read_text())
    assert saved["task"] == "similarity" and len(saved["gold"]) == len(saved["predicted"]) == 20
    result = compare.compare(saved, json.loads((tmp_path / "both.json").read_text()), resamples=20)
    assert result["n"] == 20 and result["gain"] == pytest.approx(result["score_b"] - result["score_a"], nan_ok=True)


def test_average_is_the_weighted_mean_and_refuses_mismatches(trained, tmp_path):
    first = trained / "similarity" / "best"
    second = tmp_path / "second"
    shutil.copytree(first, second)
    model = AutoModelForSequenceClassification.from_pretrained(second)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    model.save_pretrained(second)
    out = average.average(average.AverageArgs(models=[str(first), str(second)], weights=[0.75, 0.25],
                                              out=str(tmp_path / "soup")))
    loaded = {name: AutoModelForSequenceClassification.from_pretrained(path).state_dict()
              for name, path in (("first", first), ("soup", out))}
    for key, tensor in loaded["first"].items():
        if tensor.is_floating_point():
            assert torch.allclose(loaded["soup"][key], tensor + 0.25, atol=1e-5), key
    assert json.loads((out / "serving.json").read_text())["name"] == "soup"
    sources = json.loads((out / "train_args.json").read_text())["averaged"]
    assert [source["weight"] for source in sources] == [0.75, 0.25]
    assert load_predictor(out, "similarity").predict([("좋다", "좋아요")])[0]["score"] >= 0
    with pytest.raises(ValueError, match="summing to 1"):
        average.average(average.AverageArgs(models=[str(first), str(second)], weights=[0.5, 0.6],
                                            out=str(tmp_path / "bad")))
    with pytest.raises(ValueError, match="one architecture"):
        average.average(average.AverageArgs(models=[str(first), str(trained / "sentiment" / "best")],
                                            out=str(tmp_path / "bad")))


def test_export_card_of_an_average_names_its_sources_and_their_data(trained, tmp_path):
    first, second = trained / "similarity" / "best", tmp_path / "para"
    shutil.copytree(first, second)
    args = json.loads((second / "train_args.json").read_text())
    (second / "train_args.json").write_text(json.dumps({**args, "style_paraphrases": 1,
                                                        "question_paraphrases": True}))
    soup = average.average(average.AverageArgs(models=[str(first), str(second)], out=str(tmp_path / "soup")))
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(soup), out=str(out), symmetric=True))
    card = (out / "README.md").read_text()
    assert "A weight average (`training.average`)" in card and f"`{second}` (0.5)" in card
    assert card.count("Dev metrics at selection") == 2 and export.STYLEKQC_LINE in card
    assert export.QUESTION_PAIR_LINE in card
    assert not (out / "dev_metrics.json").exists()  # the average was never selected on dev
    assert model_info.describe(load_predictor(out, "similarity"))["metrics"] == []
    # An average with that average (an exported one, say) among its sources says what it is.
    again = average.average(average.AverageArgs(models=[str(soup), str(first)], out=str(tmp_path / "again")))
    export.export(export.ExportArgs(model=str(again), out=str(tmp_path / "again-exported")))
    assert f"`{soup}`: no training run of its own selected it" in (tmp_path / "again-exported" / "README.md").read_text()


def test_evaluation_rows_name_the_data_folder(tmp_path):
    rows = []
    for folder in ("korsts", "stylekqc"):
        path = tmp_path / f"{folder}.json"
        path.write_text(json.dumps({"model": "m", "task": "similarity", "metrics": {"auc": 0.9},
                                    "data": f"../shared/data/{folder}/sts-dev.tsv"}))
        rows += export.evaluation_rows([path])
    assert "`korsts/sts-dev.tsv`" in rows[0] and "`stylekqc/sts-dev.tsv`" in rows[1]


def test_evaluation_rows_mark_int8_and_aligned_numbers(tmp_path):
    rows = export.evaluation_rows([write_evaluation(tmp_path / "plain.json", 0.85, False),
                                   write_evaluation(tmp_path / "int8.json", 0.80, True),
                                   write_evaluation(tmp_path / "aligned.json", 0.85, False, align_numbers=True)])
    assert [("(int8" in row, "(numbers aligned)" in row) for row in rows] == [
        (False, False), (True, False), (False, True)]


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


def test_evaluate_reports_how_far_spelled_out_numbers_move_the_scores(trained, tmp_path):
    path = tmp_path / "sts-dev.tsv"
    rows = [("main", "f", "2012", i, f"{i % 6}.0", f"고양이 {i + 1}마리", POSITIVE[i % 5]) for i in range(12)]
    write_tsv(path, ("genre", "filename", "year", "id", "score", "sentence1", "sentence2"),
              rows + [("main", "f", "2012", 99, "2.0", "숫자 없음", "최고의 영화")])
    result = evaluate.evaluate(evaluate.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"),
                                                     data=str(path), numeral_variants=True))
    metrics = result["metrics"]
    assert result["numeral_variants"] is True and metrics["pairs"] == 12  # the pair without numbers is left out
    assert metrics["as_written"]["n"] == metrics["spelled_out"]["n"] == 12
    assert metrics["mean_absolute_change"] >= abs(metrics["mean_change"])
    with pytest.raises(ValueError, match="numeral_variants"):
        evaluate.EvaluateArgs(task="sentiment", model="m", data=str(path), numeral_variants=True)


def test_init_from_an_fp16_export_trains_in_fp32(trained, data_root, tmp_path):
    exported = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(trained / "similarity" / "best"), out=str(exported)))
    assert next(AutoModelForSequenceClassification.from_pretrained(exported).parameters()).dtype == torch.float16
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(data_root), "--init", str(exported),
                                "--out", str(tmp_path / "run"), *NO_EXTRA_PAIRS])
    model = finetune.build_model(args, vocab_size=0)
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


def write_klue_nli(root, rows):
    """A KLUE-NLI train file of (premise, hypothesis, gold_label) rows."""
    records = [{"premise": p, "hypothesis": h, "gold_label": label} for p, h, label in rows]
    (root / "klue-nli" / "klue-nli-v1.1_train.json").write_text(json.dumps(records, ensure_ascii=False))


NLI_ROWS = [("비가 많이 온다", "비가 오지 않는다", "contradiction"), ("비가 많이 온다", "비가 온다", "entailment"),
            ("영화가 재밌다", "영화가 지루하다", "contradiction"), ("영화가 재밌다", "배우가 나온다", "neutral")]


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


def test_evaluate_reads_klue_nli_as_entailment_against_contradiction(trained, tmp_path):
    (tmp_path / "klue-nli").mkdir()
    write_klue_nli(tmp_path, NLI_ROWS)
    path = tmp_path / "klue-nli" / "klue-nli-v1.1_train.json"
    frame = data.load_pairs(path)
    assert frame[["sentence2", "label"]].values.tolist() == [["비가 오지 않는다", 0], ["비가 온다", 1],
                                                            ["영화가 지루하다", 0]]  # neutral left out
    result = evaluate.evaluate(evaluate.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"),
                                                     data=str(path)))
    assert result["metrics"]["n"] == 3 and 0.0 <= result["metrics"]["auc"] <= 1.0


def test_export_card_names_the_contradictions_and_numeral_variants_only_when_used():
    assert export.paraphrase_data_lines([{"style_paraphrases": 1}]) == [export.STYLEKQC_LINE]
    assert export.paraphrase_data_lines([{}, {"nli_contradictions": 10, "numeral_variants": True}]) == [
        export.NLI_CONTRADICTION_LINE, export.NUMERAL_LINE]


def test_nli_triplets_pair_each_premise_with_its_first_entailment_and_contradiction(tmp_path):
    (tmp_path / "klue-nli").mkdir()
    write_klue_nli(tmp_path, NLI_ROWS + [("비가 많이 온다", "하늘에서 비가 내린다", "entailment")])
    triplets = data.nli_triplets(tmp_path)
    # 영화가 재밌다 has no entailment, so it has no triplet.
    assert triplets.values.tolist() == [["비가 많이 온다", "비가 온다", "비가 오지 않는다"]]


def test_ranking_pairs_share_one_order_per_premise():
    triplets = pd.DataFrame({"premise": [f"전제 {i}" for i in range(40)],
                             "entailed": [f"함의 {i}" for i in range(40)],
                             "contradicted": [f"모순 {i}" for i in range(40)]})
    entailed, contradicted = finetune.ranking_pairs(triplets, seed=0)
    premise_first = entailed["sentence1"].str.startswith("전제")
    assert (premise_first == contradicted["sentence1"].str.startswith("전제")).all()
    assert 5 < premise_first.sum() < 35  # both orders occur
    hypotheses = entailed["sentence2"].where(premise_first, entailed["sentence1"])
    assert hypotheses.tolist() == triplets["entailed"].tolist()


def test_margin_ranking_loss_is_zero_only_beyond_the_margin():
    entailed, contradicted = torch.tensor([4.0, 3.0, 2.0]), torch.tensor([2.0, 2.5, 3.0])
    # Gaps 2.0, 0.5, -1.0 against a margin of 1.0: hinges 0, 0.5, 2.0.
    assert finetune.margin_ranking_loss(entailed, contradicted, 1.0).item() == pytest.approx(2.5 / 3)
    assert finetune.margin_ranking_loss(entailed[:1], contradicted[:1], 1.0).item() == 0.0


def test_nli_ranking_step_scores_the_batch_and_the_premises_in_one_forward(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    write_klue_nli(root, NLI_ROWS + [("영화가 재밌다", "영화가 볼만하다", "entailment")])
    args = finetune.parse_args(["--task", "similarity", "--data_dir", str(root), "--tokenizer", str(tokenizer_dir),
                                "--out", str(tmp_path / "run"), *TINY, *NO_EXTRA_PAIRS, *RANDOM_INIT,
                                "--nli_ranking", "2", "--ranking_weight", "0.5", "--ranking_margin", "2.0"])
    trainer = finetune.Trainer(args)
    trainer.model.eval()  # no dropout, so the one forward can be checked against separate ones
    batch = finetune.collate(trainer.train, [0, 1, 2], trainer.pad_id, True)
    indices = trainer.ranking_indices()
    assert sorted(indices) == [0, 1]
    score = lambda rows: trainer.model(**{k: v for k, v in rows.items() if k != "labels"}).logits[:, 0]  # noqa: E731
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(score(batch), batch["labels"]) + 0.5 * finetune.margin_ranking_loss(
            *(score(finetune.collate(pairs, indices, trainer.pad_id, True)) for pairs in trainer.ranking), 2.0)
        combined = trainer.ranking_step_loss(batch)
    assert combined.item() == pytest.approx(expected.item(), rel=1e-4)
    trainer.step = 1  # the next step takes the next premises of the order, wrapping round
    assert sorted(trainer.ranking_indices()) == [0, 1]


def test_finetune_with_nli_ranking_trains_and_records_it(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    run_finetune("similarity", root, tokenizer_dir, tmp_path / "run", "--nli_ranking", "3")
    saved = json.loads((tmp_path / "run" / "best" / "train_args.json").read_text())
    assert saved["nli_ranking"] == 3
    assert export.paraphrase_data_lines([saved]) == [export.NLI_RANKING_LINE]
    with pytest.raises(ValueError, match="similarity task only"):
        finetune.parse_args(["--task", "sentiment", "--tokenizer", str(tokenizer_dir), "--nli_ranking", "2"])


def test_contrast_ranking_adds_edited_training_pairs_to_the_premises(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    sts_header = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
    rows = [("main", "f", "2012", i, score, a, b) for i, (score, a, b) in enumerate([
        (4.6, "한 남자가 기타를 치고 있다", "남자가 기타를 연주하고 있다"),
        (4.2, "그는 어제 서울에 도착했다", "그가 어제 서울에 왔다"),
        (1.0, "고양이가 잔다", "남자가 달린다")] * 4)]
    write_tsv(root / "korsts" / "sts-train.tsv", sts_header, rows)
    argv = ["--task", "similarity", "--data_dir", str(root), "--tokenizer", str(tokenizer_dir),
            "--out", str(tmp_path / "run"), *TINY, *NO_EXTRA_PAIRS, *RANDOM_INIT, "--nli_ranking", "2"]
    plain = finetune.Trainer(finetune.parse_args(argv))
    with_contrasts = finetune.Trainer(finetune.parse_args(argv + ["--contrast_ranking", "true"]))
    premises = lambda trainer: len(trainer.ranking[0]["input_ids"])  # noqa: E731
    # Each high pair of the four copies gives one edited triplet: 8 beside the NLI premises.
    assert premises(with_contrasts) == premises(plain) + 8
    assert len(with_contrasts.ranking_order) == premises(with_contrasts)
    assert export.paraphrase_data_lines([{"nli_ranking": 2, "contrast_ranking": True}]) == [
        export.NLI_RANKING_LINE, export.CONTRAST_LINE,
        "- The edits made (`--contrast_edits`): a swapped antonym, a changed number, a negated predicate."]
    with pytest.raises(ValueError, match="set --nli_ranking too"):
        finetune.parse_args(argv[:-2] + ["--contrast_ranking", "true"])


def test_everyday_contrasts_add_edited_everyday_pairs_and_questions(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    questions = [("게임이 재미있어", "게임 진짜 재미있어", 0), ("밤 12시야", "12시 땡!", 0),
                 ("배고파", "주식이 올랐다", 1), ("공부해야 하는데 놀고 싶어", "놀고 싶지 않아", 0)]
    write_tsv(root / "extra" / "question-pair" / "train.tsv", ("question1", "question2", "is_duplicate"), questions)
    styles = ["오늘 날씨 좀 알려줘" + "!" * i for i in range(10)]  # one block, no ending a rule knows
    write_tsv(root / "extra" / "stylekqc" / "act-train.tsv", ("act", "sentence"), [("q", s) for s in styles])
    (root / "extra" / "chatbot").mkdir()
    (root / "extra" / "chatbot" / "ChatbotData.csv").write_text(
        "Q,A,label\n저는 커피를 좋아해요,좋죠.,0\n저는 커피를 좋아해요,또 물어보네요.,0\n"
        "안 가고 싶어,그래요.,0\n하늘,파랗죠.,0\n", encoding="utf-8")
    argv = ["--task", "similarity", "--data_dir", str(root), "--tokenizer", str(tokenizer_dir),
            "--out", str(tmp_path / "run"), *TINY, *NO_EXTRA_PAIRS, *RANDOM_INIT, "--nli_ranking", "2"]
    args = finetune.parse_args(argv + ["--everyday_contrasts", "true"])
    edited = finetune.everyday_contrast_triplets(root, args)
    # Two question paraphrases (an antonym, a number) and the repeated chatbot question once; the
    # negated question pair, the StyleKQC pair and the questions no rule fits are left out.
    contradicted = sorted(edited["contradicted"])
    assert len(edited) == 3 and contradicted[1:] == ["게임 진짜 재미없어", "저는 커피를 싫어해요"]
    assert contradicted[0] != "12시 땡!" and contradicted[0].endswith("시 땡!")
    self_edit = edited[edited["contradicted"] == "저는 커피를 싫어해요"].iloc[0]
    assert self_edit["premise"] == self_edit["entailed"] == "저는 커피를 좋아해요"
    plain = finetune.Trainer(finetune.parse_args(argv))
    with_everyday = finetune.Trainer(args)
    assert len(with_everyday.ranking[0]["input_ids"]) == len(plain.ranking[0]["input_ids"]) + len(edited)
    assert export.paraphrase_data_lines([{"nli_ranking": 2, "everyday_contrasts": True}])[:2] == [
        export.NLI_RANKING_LINE, export.EVERYDAY_CONTRAST_LINE]
    with pytest.raises(ValueError, match="set --nli_ranking too"):
        finetune.parse_args(argv[:-2] + ["--everyday_contrasts", "true"])
    without_numbers = finetune.parse_args(argv + ["--everyday_contrasts", "true", "--contrast_edits", "antonym", "negation"])
    # An average of a run without edits and one without number edits names only the edits made.
    assert export.edit_kind_lines([{"nli_ranking": 2}, vars(without_numbers)]) == [
        "- The edits made (`--contrast_edits`): a swapped antonym, a negated predicate; left out: a changed number."]
    assert "7시 땡!" not in set(finetune.everyday_contrast_triplets(root, without_numbers)["contradicted"])
    assert len(finetune.everyday_contrast_triplets(root, without_numbers)) == 2
    with pytest.raises(ValueError, match="--contrast_edits takes some of"):
        finetune.parse_args(argv + ["--contrast_edits", "numbers"])


def test_export_of_an_average_finds_the_e5_import_through_any_source(trained, tmp_path):
    served, stage = tmp_path / "served", tmp_path / "stage"
    # served: an export whose own --init run is gone (it carries import.json); stage: trained from it.
    for directory, init in ((served, tmp_path / "gone"), (stage, served)):
        shutil.copytree(trained / "similarity" / "best", directory)
        train_args = json.loads((directory / "train_args.json").read_text())
        (directory / "train_args.json").write_text(json.dumps({**train_args, "init": str(init)}))
    (served / "import.json").write_text(json.dumps({"pieces": 250002, "kept": 28434}))
    soup = average.average(average.AverageArgs(models=[str(served), str(stage)], out=str(tmp_path / "soup")))
    soup_args = json.loads((soup / "train_args.json").read_text())
    assert export.lineages(soup_args) == [[str(served)], [str(stage), str(served)]]
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(soup), out=str(out), symmetric=True))
    assert "KoELECTRA 아님" in json.loads((out / "serving.json").read_text())["origin"]
    assert (out / "import.json").is_file()
    with pytest.raises(ValueError, match="copy it elsewhere"):  # every source's chain counts
        export.export(export.ExportArgs(model=str(soup), out=str(served)))
