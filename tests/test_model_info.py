"""model_info.py: a model directory's card, metrics and plots, read and rendered safely."""
import json
import re

import pytest

import model_info

CARD = """# name

Intro.

## Data

NSMC, **80:20**.

### Details

More data.

## Commands

run
"""


@pytest.mark.parametrize("card, expected", [
    (CARD, "NSMC, **80:20**.\n\n### Details\n\nMore data."),
    ("# x\n\n## Training data\n\nKorSTS\n", "KorSTS"),
    ("# x\n\n## 학습 데이터\n\n뉴스 댓글\n# y\n", "뉴스 댓글"),
    ("# x\n\nNo sections.\n", None),
])
def test_card_section_finds_the_data(card, expected):
    assert model_info.card_section(card, model_info.DATA_HEADING) == expected


def test_card_front_matter_is_dropped(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\ndatasets: [nsmc]\n---\n# Card\n")
    assert model_info.read_card(tmp_path) == "# Card"
    assert model_info.read_card(tmp_path / "missing") is None and model_info.read_card(None) is None


def test_headings_move_under_the_page(tmp_path):
    html = model_info.render_markdown("# A\n\n## B\n\n###### C\n")
    assert re.findall(r"<(h\d)>", html) == ["h3", "h4", "h6"]


@pytest.mark.parametrize("markdown, absent, present", [
    ("<script>x()</script>", "<script>", "&lt;script&gt;"),
    ("text <span onclick=x()>y</span>", "<span", "&lt;span onclick=x()&gt;"),
    ("[go](javascript:alert(1))", 'href="javascript', "[go](javascript:alert(1))"),
    ("![pixel](https://example.com/p.png)", "<img", "pixel"),
    ("![plot](plots/unknown.png)", "<img", "plot"),
])
def test_markdown_passes_no_html_through(markdown, absent, present):
    html = model_info.render_markdown(markdown, ["confusion_matrix.png"], lambda name: f"/p/{name}")
    assert absent not in html and present in html


def test_known_plot_in_a_card_links_to_the_served_plot():
    html = model_info.render_markdown("![CM](plots/confusion_matrix.png)", ["confusion_matrix.png"],
                                      lambda name: f"/models/sentiment/plots/{name}")
    assert '<a href="/models/sentiment/plots/confusion_matrix.png">CM</a>' in html


def test_plot_path_wants_a_known_name_and_a_png(tmp_path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "reliability.png").write_bytes(b"<html>not a png</html>")
    (tmp_path / "plots" / "confusion_matrix.png").write_bytes(model_info.PNG_SIGNATURE + b"rest")
    (tmp_path / "plots" / "other.png").write_bytes(model_info.PNG_SIGNATURE)
    assert model_info.plot_path(tmp_path, "sentiment", "confusion_matrix.png")
    assert model_info.plot_path(tmp_path, "sentiment", "reliability.png") is None
    assert model_info.plot_path(tmp_path, "sentiment", "other.png") is None
    assert model_info.plot_path(tmp_path, "similarity", "confusion_matrix.png") is None
    assert model_info.plot_path(None, "sentiment", "confusion_matrix.png") is None


def test_metric_rows_from_dev_and_saved_evaluations(tmp_path):
    (tmp_path / "dev_metrics.json").write_text(json.dumps(
        {"accuracy": 0.86, "macro_f1": 0.85, "n": 30000, "epoch": 3.0, "confusion_matrix": [[1]]}))
    (tmp_path / "evaluations.json").write_text(json.dumps([
        {"model": "m", "data": "../shared/data/nsmc/ratings_test.txt", "quantized": True,
         "metrics": {"accuracy": 0.8644, "n": 50000}}]))
    rows = model_info.metric_rows(tmp_path, "m")
    assert rows == [
        {"model": "m", "data": "dev (체크포인트 선택)", "quantized": False, "n": 30000,
         "metrics": {"accuracy": 0.86, "macro_f1": 0.85}},
        {"model": "m", "data": "nsmc/ratings_test.txt", "quantized": True, "n": 50000,
         "metrics": {"accuracy": 0.8644}}]
    assert model_info.metric_columns(rows) == {"accuracy": "정확도", "macro_f1": "macro F1"}
    assert model_info.metric_rows(tmp_path / "none", "m") == []


def test_data_label_keeps_the_folder_that_tells_same_named_files_apart():
    assert model_info.data_label("../shared/data/korsts/sts-dev.tsv") == "korsts/sts-dev.tsv"
    assert model_info.data_label("../shared/data/extra/stylekqc/sts-dev.tsv") == "stylekqc/sts-dev.tsv"
    assert model_info.data_label("sts-dev.tsv") == "sts-dev.tsv"
    held_out = {"task": "similarity", "data": "d/klue-sts/train.csv", "held_out": True}
    assert model_info.evaluation_data(held_out) == "klue-sts/train.csv (held-out 10%)"
