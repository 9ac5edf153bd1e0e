"""training.evaluate.score on the tiny trained models: the metric schema, calibration, int8, plots,
held-out splits, pair orders, paraphrase labels, spelled-out numbers and KLUE-NLI."""
import pytest
from PIL import Image

from model_files import PLOTS
from training.data import sources
from training.evaluate import score
from training.metrics import calibration_table, paraphrase_metrics
from training_helpers import NEGATIVE, NLI_ROWS, POSITIVE, write_klue_nli, write_tsv


@pytest.mark.parametrize("task, filename, keys", [
    ("sentiment", "nsmc/ratings_test.txt", {"accuracy", "macro_f1", "confusion_matrix", "n"}),
    ("similarity", "korsts/sts-dev.tsv", {"pearson", "spearman", "mse", "binary_f1", "fine_grading", "n"}),
])
def test_evaluate_reports_the_metric_schema(trained, data_root, task, filename, keys):
    args = score.EvaluateArgs(task=task, model=str(trained / task / "best"), data=str(data_root / filename))
    result = score.evaluate(args)
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
    args = score.EvaluateArgs(task="sentiment", model=str(trained / "sentiment" / "best"),
                                 data=str(data_root / "nsmc/ratings_test.txt"), device="cpu", quantize=True)
    result = score.evaluate(args)
    assert result["quantized"] is True and result["metrics"]["n"] == 41
    assert result["int8_layers"] == "attention+feed-forward"  # the default set, recorded for export


def test_evaluate_scores_int8_of_the_attention_only_when_asked(trained, data_root):
    data = str(data_root / "korsts/sts-dev.tsv")
    args = score.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"), data=data,
                              device="cpu", quantize=True, int8_layers="attention")
    assert score.evaluate(args)["int8_layers"] == "attention"
    with pytest.raises(ValueError, match="--int8_layers chooses the layers of --quantize"):
        score.EvaluateArgs(task="similarity", model="m", data=data, int8_layers="attention")


@pytest.mark.parametrize("task, filename", [("sentiment", "nsmc/ratings_test.txt"),
                                            ("similarity", "korsts/sts-dev.tsv")])
def test_evaluate_draws_the_plots(trained, data_root, tmp_path, task, filename):
    score.main(["--task", task, "--model", str(trained / task / "best"),
                   "--data", str(data_root / filename), "--plots", str(tmp_path / "plots")])
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == sorted(PLOTS[task])
    for name in PLOTS[task]:
        with Image.open(tmp_path / "plots" / name) as image:
            image.verify()  # a whole, valid PNG
            assert image.format == "PNG" and image.size[0] >= 400 and image.size[1] >= 300


def test_evaluate_scores_only_the_klue_sts_held_out_tenth(trained, data_root):
    path = data_root / "klue-sts" / "klue-sts-v1.1_train.csv"
    args = score.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"),
                                 data=str(path), held_out=True)
    result = score.evaluate(args)
    assert result["held_out"] is True and result["metrics"]["n"] == 4


def test_evaluate_scores_the_nsmc_dev_fifth_with_cleaning_on_or_off(trained, data_root):
    path = data_root / "nsmc" / "ratings_train.txt"
    dev = sources.split_nsmc_train(sources.load_nsmc(path))[1]
    assert sources.load_eval_data("sentiment", path, held_out=True)["text"].tolist() == dev["text"].tolist()
    runs = {clean: score.evaluate(score.EvaluateArgs(
        task="sentiment", model=str(trained / "sentiment" / "best"), data=str(path), held_out=True, clean=clean))
        for clean in (True, False)}
    assert [runs[clean]["clean"] for clean in (True, False)] == [True, False]
    assert all(run["metrics"]["n"] == len(dev) for run in runs.values())


def test_evaluate_scores_similarity_in_one_or_both_pair_orders(trained, data_root):
    path = data_root / "korsts" / "sts-dev.tsv"
    model = str(trained / "similarity" / "best")
    runs = {order: score.evaluate(score.EvaluateArgs(task="similarity", model=model, data=str(path),
                                                           symmetric=order))
            for order in (None, True)}
    assert runs[None]["symmetric"] is False and runs[True]["symmetric"] is True  # the model's own: one
    assert runs[True]["metrics"]["n"] == runs[None]["metrics"]["n"] == 20
    aligned = score.evaluate(score.EvaluateArgs(task="similarity", model=model, data=str(path),
                                                      align_numbers=True))
    assert runs[None]["align_numbers"] is False and aligned["align_numbers"] is True


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
    assert sources.load_pairs(path)["label"].tolist() == [1] * 4 + [0] * 4
    args = score.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"), data=str(path))
    result = score.evaluate(args)
    assert result["metrics"]["n"] == 8 and 0 <= result["metrics"]["paraphrase_at_80"] <= 1
    with pytest.raises(ValueError, match="0/1 paraphrase labels"):
        score.evaluate(score.EvaluateArgs(task="similarity", model=args.model, data=str(path),
                                                plots=str(tmp_path / "plots")))


def test_evaluate_reports_how_far_spelled_out_numbers_move_the_scores(trained, tmp_path):
    path = tmp_path / "sts-dev.tsv"
    rows = [("main", "f", "2012", i, f"{i % 6}.0", f"고양이 {i + 1}마리", POSITIVE[i % 5]) for i in range(12)]
    write_tsv(path, ("genre", "filename", "year", "id", "score", "sentence1", "sentence2"),
              rows + [("main", "f", "2012", 99, "2.0", "숫자 없음", "최고의 영화")])
    result = score.evaluate(score.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"),
                                                     data=str(path), numeral_variants=True))
    metrics = result["metrics"]
    assert result["numeral_variants"] is True and metrics["pairs"] == 12  # the pair without numbers is left out
    assert metrics["as_written"]["n"] == metrics["spelled_out"]["n"] == 12
    assert metrics["mean_absolute_change"] >= abs(metrics["mean_change"])
    with pytest.raises(ValueError, match="numeral_variants"):
        score.EvaluateArgs(task="sentiment", model="m", data=str(path), numeral_variants=True)


def test_evaluate_reads_klue_nli_as_entailment_against_contradiction(trained, tmp_path):
    (tmp_path / "klue-nli").mkdir()
    write_klue_nli(tmp_path, NLI_ROWS)
    path = tmp_path / "klue-nli" / "klue-nli-v1.1_train.json"
    frame = sources.load_pairs(path)
    assert frame[["sentence2", "label"]].values.tolist() == [["비가 오지 않는다", 0], ["비가 온다", 1],
                                                            ["영화가 지루하다", 0]]  # neutral left out
    result = score.evaluate(score.EvaluateArgs(task="similarity", model=str(trained / "similarity" / "best"),
                                                     data=str(path)))
    assert result["metrics"]["n"] == 3 and 0.0 <= result["metrics"]["auc"] <= 1.0
