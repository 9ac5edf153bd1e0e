"""The trained models in running_model/, served by the app; skipped until they exist."""
import json
from pathlib import Path

import pytest

from main import create_app
from models import load_predictor
from serving import ROOT


def requires_model(task):
    """Skip unless running_model/<task> holds a trained model."""
    present = (ROOT / "running_model" / task / "config.json").is_file()
    return pytest.mark.skipif(not present, reason=f"no trained model in running_model/{task}")


@pytest.fixture(scope="module")
def real_client():
    """A client on the default settings, loading only the models that exist (lazily)."""
    return create_app({"TESTING": True, "LOAD_MODELS_AT_START": False}).test_client()


@pytest.mark.real_model
@requires_model("sentiment")
@pytest.mark.parametrize("text, label", [  # the four reviews of the KoELECTRA-Small example
    ("이 영화 정말 재밌다!", "positive"),
    ("연기도 별로고 스토리도 엉망이네", "negative"),
    ("배우들 연기력이 대단하다", "positive"),
    ("시간 낭비했다 다신 안 봄", "negative"),
])
def test_real_sentiment(real_client, text, label):
    response = real_client.post("/api/v1/sentiment", json={"text": text})
    assert response.status_code == 200 and response.json["label"] == label


@pytest.mark.real_model
@requires_model("similarity")
def test_real_similarity_ranks_paraphrase_above_unrelated(real_client):
    pairs = [["오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요"],
             ["오늘 날씨가 정말 좋네요", "주식 시장이 크게 하락했다"]]
    response = real_client.post("/api/v1/similarity", json={"pairs": pairs})
    paraphrase, unrelated = (result["score"] for result in response.json["results"])
    assert paraphrase > unrelated


@pytest.mark.real_model
@requires_model("similarity")
def test_real_similarity_reads_a_number_in_words_as_its_digits(real_client):
    pairs = [["회의는 내일 오후 세 시에 시작합니다", "내일 오후 3시에 회의가 열립니다"],
             ["회의는 내일 오후 3시에 시작합니다", "내일 오후 3시에 회의가 열립니다"]]
    words, digits = real_client.post("/api/v1/similarity", json={"pairs": pairs}).json["results"]
    assert words["cleaned"] == pairs[1] and words["score"] == pytest.approx(digits["score"], abs=1e-4)


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
