"""training.evaluate.probe: the everyday pairs a user might try, scored as the app scores them."""
import json

import pytest

from models import load_predictor
from pages import SIMILARITY_EXAMPLES
from training.evaluate import probe


def test_probes_hold_the_page_examples_with_their_kinds():
    frame = probe.load_probes()
    kinds = {(a, b): kind for kind, a, b in zip(frame["kind"], frame["sentence1"], frame["sentence2"])}
    assert [kinds.get(pair) for pair in SIMILARITY_EXAMPLES] == ["paraphrase", "paraphrase", "unrelated"]
    assert set(frame["kind"]) == set(probe.KINDS)


@pytest.mark.parametrize("kind, percent, expected", [
    ("paraphrase", 80, True), ("paraphrase", 79, False),
    ("unrelated", 20, True), ("unrelated", 21, False),
    ("contradiction", 59, True), ("contradiction", 60, False),  # 60% is a score of 3.0: 유사
])
def test_reads_right_follows_the_issue_lines(kind, percent, expected):
    assert probe.reads_right(kind, percent) is expected


def test_unknown_kind_is_refused(tmp_path):
    path = tmp_path / "probes.tsv"
    path.write_text("kind\tsentence1\tsentence2\nsynonym\t가\t나\n", encoding="utf-8")
    with pytest.raises(ValueError, match="synonym"):
        probe.load_probes(path)


def test_report_scores_every_pair_as_the_app_does(pair_order_models, tmp_path):
    model = str(pair_order_models["symmetric"])
    out = tmp_path / "probe.json"
    probe.main(["--models", model, "--out", str(out)])
    (report,) = json.loads(out.read_text())
    frame = probe.load_probes()
    expected = load_predictor(model, "similarity").predict(
        [[a, b] for a, b in zip(frame["sentence1"], frame["sentence2"])])
    assert report["symmetric"] is True
    assert [pair["percent"] for pair in report["pairs"]] == [result["percent"] for result in expected]
    for kind, summary in report["kinds"].items():
        mine = [pair for pair in report["pairs"] if pair["kind"] == kind]
        assert summary["pairs"] == len(mine)
        assert summary["reads_right"] == sum(probe.reads_right(kind, pair["percent"]) for pair in mine)
    assert sum(summary["pairs"] for summary in report["kinds"].values()) == len(frame)


def test_symmetric_overrides_the_models_pair_order(pair_order_models, tmp_path):
    model = str(pair_order_models["plain"])
    out = tmp_path / "probe.json"
    probe.main(["--models", model, "--symmetric", "true", "--out", str(out)])
    (report,) = json.loads(out.read_text())
    predictor = load_predictor(model, "similarity")
    assert predictor.symmetric is False and report["symmetric"] is True
    predictor.symmetric = True
    frame = probe.load_probes()
    expected = predictor.predict([[a, b] for a, b in zip(frame["sentence1"], frame["sentence2"])])
    assert [pair["percent"] for pair in report["pairs"]] == [result["percent"] for result in expected]


def test_align_numbers_reads_the_meeting_example_as_its_digit_twin(pair_order_models, tmp_path):
    out = tmp_path / "probe.json"
    probe.main(["--models", str(pair_order_models["symmetric"]), "--align_numbers", "true", "--out", str(out)])
    (report,) = json.loads(out.read_text())
    by_pair = {(pair["sentence1"], pair["sentence2"]): pair["percent"] for pair in report["pairs"]}
    assert report["align_numbers"] is True
    assert by_pair[("회의는 내일 오후 세 시에 시작합니다", "내일 오후 3시에 회의가 열립니다")] == \
        by_pair[("회의는 내일 오후 3시에 시작합니다", "내일 오후 3시에 회의가 열립니다")]
