"""model_info.py: a model directory's card, metrics and plots, read and rendered safely."""
import json
import re
import types
from pathlib import Path

import pytest

import model_files
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


def write_summary(directory, summary) -> None:
    """A summary_ko.json in directory, as the export step or a person writes it."""
    (directory / model_files.SUMMARY_FILE).write_text(json.dumps(summary, ensure_ascii=False),
                                                     encoding="utf-8")


def test_summary_is_read_with_its_notes(tmp_path):
    write_summary(tmp_path, {"what": " 감정 분석 모델 ", "how": "NSMC로 학습",
                             "notes": ["주의 1", 3, "  ", "주의 2"]})
    assert model_info.read_summary(tmp_path) == {
        "what": "감정 분석 모델", "how": "NSMC로 학습", "notes": ["주의 1", "주의 2"]}


@pytest.mark.parametrize("summary", [
    {"what": "무엇", "notes": []},  # no "how"
    {"what": "무엇", "how": "   "},
    {"what": ["무엇"], "how": "어떻게"},
    ["무엇", "어떻게"],
])
def test_malformed_summary_is_none(tmp_path, summary):
    write_summary(tmp_path, summary)
    assert model_info.read_summary(tmp_path) is None


def test_missing_summary_is_none(tmp_path):
    assert model_info.read_summary(tmp_path) is None and model_info.read_summary(None) is None
    write_summary(tmp_path, {"what": "무엇", "how": "어떻게", "notes": "not a list"})
    assert model_info.read_summary(tmp_path)["notes"] == []


def served(task, name, quantized=False):
    """What comparison() reads of a loaded predictor."""
    return types.SimpleNamespace(task=task, name=name, quantized=quantized)


SIMILARITY_EVALUATIONS = [
    {"model": "run-a", "model_path": "runs/a", "data": "d/korsts/sts-dev.tsv",
     "metrics": {"spearman": 0.84}},  # a candidate run: the developers' table only
    {"model": "served", "model_path": "running_model/similarity", "data": "d/korsts/sts-dev.tsv",
     "quantized": True, "metrics": {"spearman": 0.80}},
    {"model": "served", "model_path": "running_model/similarity", "data": "d/korsts/sts-dev.tsv",
     "quantized": False, "metrics": {"spearman": 0.85}},
    {"model": "served", "model_path": "running_model/similarity", "data": "d/korsts/sts-dev.tsv",
     "contrasts": True, "metrics": {"auc": 0.93}},  # another measure on the same file
    {"model": "served", "model_path": "running_model/similarity",
     "data": "d/klue-sts/train.csv", "held_out": True, "metrics": {"spearman": 0.91}},
    {"model": "tfidf-char-cosine", "data": "/abs/korsts/sts-dev.tsv",
     "metrics": {"spearman": 0.74}},
    {"model": "tfidf-char-cosine", "data": "d/stylekqc/sts-dev.tsv", "metrics": {"spearman": 0.5}},
    {"model": "new-baseline", "data": "d/korsts/sts-dev.tsv", "metrics": {"spearman": 0.7}},
    {"model": "broken", "data": "d/korsts/sts-dev.tsv", "metrics": None}, "not a result",
]


def test_comparison_shows_the_served_model_the_baselines_and_the_published(tmp_path):
    (tmp_path / "evaluations.json").write_text(json.dumps(SIMILARITY_EVALUATIONS))
    result = model_info.comparison(tmp_path, served("similarity", "served"))
    rows = [(row["model"], row["kind"], row["score"], row["quantized"]) for row in result["rows"]]
    assert rows == [("served", "this", 0.85, False),
                    ("글자 n-gram TF-IDF 코사인 유사도", "baseline", 0.74, False),
                    ("new-baseline", "baseline", 0.7, False),
                    ("KoELECTRA-Small-v3", "published", 0.8079, False),
                    ("KoELECTRA-Base-v3", "published", 0.8553, False),
                    ("KcELECTRA-base-v2022", "published", 0.8367, False)]
    assert [row["kind_ko"] for row in result["rows"][:2]] == ["이 모델", "기준선"]
    assert result["metric"] == "spearman" and "KorSTS" in result["title"] and not result["percent"]
    assert "저자가 README에 발표한 값" in result["note"] and "검증 세트" in result["note"]
    quantized = model_info.comparison(tmp_path, served("similarity", "served", quantized=True))
    assert quantized["rows"][0] == {"model": "served", "score": 0.80, "quantized": True,
                                    "kind": "this", "kind_ko": "이 모델"}


def test_comparison_without_saved_scores_has_the_published_only(tmp_path):
    result = model_info.comparison(tmp_path, served("sentiment", "m"))
    assert [row["kind"] for row in result["rows"]] == ["published"] * 3
    assert [row["score"] for row in result["rows"]] == [0.8936, 0.9063, 0.9197]
    assert result["percent"] and "NSMC" in result["title"] and "검증 세트" not in result["note"]


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_served_models_have_a_korean_summary(task):
    directory = Path(__file__).parent.parent / "running_model" / task
    if not (directory / "config.json").exists():
        pytest.skip(f"no model in {directory}")
    summary = model_info.read_summary(directory)
    assert summary is not None, f"{directory / model_files.SUMMARY_FILE} is missing or malformed"
    for text in [summary["what"], summary["how"], *summary["notes"]]:
        assert re.search("[가-힣]", text) and "--" not in text  # Korean, no option names


def test_every_plot_served_has_a_korean_caption():
    served = {name for names in model_files.PLOTS.values() for name in names}
    assert served == set(model_info.PLOT_CAPTIONS)
