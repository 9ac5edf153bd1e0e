"""training.release.export: the fp16 model directory, its card (data, evaluations, plots, origin) and
serving.json (int8, pair order, number alignment)."""
import json
import shutil

import pytest

import model_info
from model_files import PLOTS
from models import load_predictor
from training.data import mix
from training.evaluate import plots
from training.release import export


def test_export_writes_fp16_model_with_card_that_serves(trained, tmp_path):
    out = tmp_path / "sentiment"
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"model": "x", "data": "test.txt", "metrics": {"accuracy": 0.5}}))
    export.export(export.ExportArgs(model=str(trained / "sentiment" / "best"), out=str(out),
                                    evaluations=[str(evaluation)], command=["python -m training.train.finetune"],
                                    name="tiny-sentiment"))
    card = (out / "README.md").read_text()
    assert "accuracy 0.5000" in card and "python -m training.train.finetune" in card
    predictor = load_predictor(out, "sentiment")
    assert predictor.name == "tiny-sentiment"
    assert next(predictor.model.parameters()).dtype.is_floating_point
    config = json.loads((out / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "float16"
    result = predictor.predict(["정말 재밌다"])[0]
    assert result["label"] in ("positive", "negative")


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
    (source / "train_args.json").write_text(json.dumps({**train_args, "init": str(stage), "mix": {
        "train": [{"source": "korsts"}, {"source": "klue_sts"}]}}))
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
    # finetune always starts from --init now; a model whose train_args name none is one from before.
    source, out = tmp_path / "scratch", tmp_path / "exported"
    shutil.copytree(trained / "sentiment" / "best", source)
    train_args = json.loads((source / "train_args.json").read_text())
    (source / "train_args.json").write_text(json.dumps({**train_args, "init": None}))
    export.export(export.ExportArgs(model=str(source), out=str(out)))
    serving = json.loads((out / "serving.json").read_text())
    assert "random" in serving["origin"] and "e5" not in serving["origin"]


def test_export_card_names_the_pseudo_labeled_reviews_only_when_used():
    plain = export.data_lines("sentiment", {"task": "sentiment"}, [])
    student = export.data_lines("sentiment", {"task": "sentiment", "mix": {"train": [
        {"source": "nsmc"}, {"source": "pseudo_labels", "path": "p.tsv"}]}}, [])
    assert not any("movie_reviews" in line for line in plain)
    assert student[1] == mix.CARD["pseudo_labels"] and "test or dev" in student[1]
    # A student from before --mix says the same.
    assert export.data_lines("sentiment", {"task": "sentiment", "pseudo_labels": "p.tsv"}, []) == student


def test_export_card_names_the_stylekqc_pairs_and_numeral_variants_only_when_used():
    korsts = {"task": "similarity", "mix": {"train": [{"source": "korsts"}]}}
    style = {"task": "similarity", "mix": {"train": [{"source": "korsts"}, {"source": "stylekqc"}]}}
    numerals = {"task": "similarity", "mix": {"train": [{"source": "korsts"}], "variants": ["numerals"]}}
    assert export.paraphrase_data_lines([style]) == [mix.CARD["stylekqc"]]
    assert export.paraphrase_data_lines([korsts, numerals]) == [mix.CARD["numerals"]]
    # Runs from before --mix read the same from their old options.
    assert export.paraphrase_data_lines([{"style_paraphrases": 1}]) == [mix.CARD["stylekqc"]]
    assert export.paraphrase_data_lines([{}, {"numeral_variants": True}]) == [mix.CARD["numerals"]]


def write_evaluation(path, spearman, quantized, **fields):
    """A training.evaluate.score result file with one Spearman figure (and any further fields)."""
    path.write_text(json.dumps({"task": "similarity", "model": "m", "model_path": "m", "data": "dev.tsv",
                                "held_out": False, "quantized": quantized,
                                "metrics": {"spearman": spearman}, **fields}))
    return str(path)


@pytest.mark.parametrize("int8_spearman, served_int8", [(0.8430, True), (0.8400, False), (0.7700, False)])
def test_export_keeps_int8_only_when_it_costs_nothing(trained, tmp_path, int8_spearman, served_int8):
    evaluations = [write_evaluation(tmp_path / "fp32.json", 0.8437, False),
                   write_evaluation(tmp_path / "int8.json", int8_spearman, True)]
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(trained / "similarity" / "best"), out=str(out),
                                    evaluations=evaluations))
    assert json.loads((out / "serving.json").read_text())["quantize"] is served_int8
    assert load_predictor(out, "similarity", quantize=None, device="cpu").quantized is served_int8
    assert load_predictor(out, "similarity", quantize=True, device="cpu").quantized  # asked for: obeyed


@pytest.mark.parametrize("int8_auc, kept", [(0.747, True), (0.742, False)])
def test_int8_must_keep_the_nli_auc_too(tmp_path, int8_auc, kept):
    """A KLUE-NLI result has an AUC and no Spearman: int8 is judged on it like on the others."""
    def nli(name, auc, quantized):
        path = tmp_path / name
        path.write_text(json.dumps({"task": "similarity", "model_path": "m", "data": "nli-dev.json",
                                    "quantized": quantized, "metrics": {"auc": auc, "n": 10}}))
        return str(path)
    sts = [write_evaluation(tmp_path / "fp32.json", 0.8503, False),
           write_evaluation(tmp_path / "int8.json", 0.8498, True)]
    assert export.int8_keeps_accuracy(sts + [nli("a.json", 0.748, False), nli("b.json", int8_auc, True)]) is kept


@pytest.mark.parametrize("setting", ["clean", "symmetric"])
def test_int8_is_compared_only_with_fp32_under_the_same_setting(tmp_path, setting):
    def evaluation(name, spearman, quantized, value):
        return write_evaluation(tmp_path / name, spearman, quantized, **{setting: value})
    other_setting = evaluation("other.json", 0.90, False, False)
    int8_on, fp32_on = evaluation("int8.json", 0.84, True, True), evaluation("on.json", 0.8401, False, True)
    assert export.int8_keeps_accuracy([other_setting, int8_on, fp32_on])
    assert not export.int8_keeps_accuracy([evaluation("on-high.json", 0.90, False, True), int8_on])


def test_int8_is_judged_on_the_layer_set_it_would_serve(tmp_path):
    """int8 of every layer losing does not stop int8 of the attention alone, which kept the figure."""
    fp32 = write_evaluation(tmp_path / "fp32.json", 0.8503, False)
    every_layer = write_evaluation(tmp_path / "int8.json", 0.8440, True)  # no int8_layers: the default set
    attention = write_evaluation(tmp_path / "attention.json", 0.8490, True, int8_layers="attention")
    paths = [fp32, every_layer, attention]
    assert not export.int8_keeps_accuracy(paths)
    assert export.int8_keeps_accuracy(paths, "attention")
    assert export.int8_keeps_accuracy([fp32, every_layer], "attention")  # not measured: nothing against


def test_export_writes_the_int8_layer_set(trained, tmp_path):
    evaluations = [write_evaluation(tmp_path / "fp32.json", 0.8437, False),
                   write_evaluation(tmp_path / "int8.json", 0.8430, True, int8_layers="attention")]
    out = tmp_path / "exported"
    export.export(export.ExportArgs(model=str(trained / "similarity" / "best"), out=str(out),
                                    evaluations=evaluations, int8_layers="attention"))
    serving = json.loads((out / "serving.json").read_text())
    assert (serving["quantize"], serving["int8_layers"]) == (True, "attention")
    assert "attention projections only" in (out / "README.md").read_text()
    predictor = load_predictor(out, "similarity", quantize=None, device="cpu")
    assert predictor.quantized and predictor.int8_layers == "attention"


def test_int8_is_compared_with_fp32_on_the_same_number_of_examples(tmp_path):
    """The first 10,000 dev reviews in fp32 are no yardstick for int8 on all 30,000."""
    def dev(name, accuracy, n, quantized):
        path = tmp_path / name
        path.write_text(json.dumps({"task": "sentiment", "model_path": "m", "data": "train.txt", "held_out": True,
                                    "quantized": quantized, "metrics": {"accuracy": accuracy, "n": n}}))
        return str(path)
    whole = [dev("fp32.json", 0.8848, 30000, False), dev("int8.json", 0.8835, 30000, True)]
    assert export.int8_keeps_accuracy(whole + [dev("fp32-10k.json", 0.8900, 10000, False)])
    assert not export.int8_keeps_accuracy(whole + [dev("fp32-10k.json", 0.8823, 10000, False),
                                                   dev("int8-10k.json", 0.8798, 10000, True)])


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
