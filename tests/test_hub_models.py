"""Models as published elsewhere: label-name schemes, KoELECTRA vocabulary directories, and our
own directories read by a standard transformers pipeline."""
import shutil

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, ElectraConfig, pipeline

from conftest import put_in_hub_cache, save_tiny_model
import ngrams
from main import create_app
from model_files import read_serving_info
from models import ModelLoadError
from preprocessing import clean
from sentiment_predictor import sentiment_label_names
from serving import ROOT
from test_main import startup_failure
from training.data.sources import data_dir

KOELECTRA_VOCAB = data_dir() / "vocab" / "koelectra-v1"
# ../shared/README.md: the documented tokenization of the KoELECTRA v1 vocabulary.
KOELECTRA_TEXT = "한국어 ELECTRA를 공유합니다."
KOELECTRA_IDS = [2, 18429, 41, 6240, 15229, 6204, 20894, 5689, 12622, 10690, 18, 3]


def config_with(*names) -> ElectraConfig:
    """A 2-label config whose id2label holds names by class index."""
    return ElectraConfig(num_labels=2, id2label=dict(enumerate(names)))


@pytest.mark.parametrize("names, expected", [
    (("0", "1"), ["negative", "positive"]),
    (("LABEL_0", "LABEL_1"), ["negative", "positive"]),
    (("label_0", "label_1"), ["negative", "positive"]),
    (("negative", "positive"), ["negative", "positive"]),
    (("Negative", "POSITIVE"), ["negative", "positive"]),
    (("positive", "negative"), ["positive", "negative"]),  # the order is the model's own
    (("neg", "pos"), ["negative", "positive"]),
    (("Pos", "Neg"), ["positive", "negative"]),
    (("부정", "긍정"), ["negative", "positive"]),
    (("1", "0"), ["positive", "negative"]),
])
def test_label_schemes_map_to_the_contract(names, expected):
    assert sentiment_label_names(config_with(*names)) == expected


@pytest.mark.parametrize("names", [("bad", "good"), ("neg", "positive"), ("0", "2"), ("pos", "pos")])
def test_unknown_label_scheme_is_refused(names):
    with pytest.raises(ModelLoadError, match="cannot tell negative from positive"):
        sentiment_label_names(config_with(*names))


@pytest.mark.parametrize("configured, expected", [
    (["good", "bad"], None), (["positive", "negative"], ["positive", "negative"]),
    ("negative,positive", ["negative", "positive"]), (["neg", "pos"], ["negative", "positive"]),
])
def test_configured_labels_override_the_config(configured, expected):
    config = config_with("bad", "good")
    if expected is None:
        with pytest.raises(ModelLoadError, match="in SENTIMENT_LABELS"):
            sentiment_label_names(config, configured)
    else:
        assert sentiment_label_names(config, configured) == expected


@pytest.fixture(scope="module")
def labeled_model(tiny_models, tmp_path_factory):
    """Save the tiny sentiment model again with other label names; returns a maker."""
    from conftest import build_tokenizer
    tokenizer, root = build_tokenizer(), tmp_path_factory.mktemp("labeled")

    def make(*names):
        directory = root / "-".join(names)
        if not directory.exists():
            save_tiny_model(directory, tokenizer, num_labels=2, id2label=dict(enumerate(names)),
                            label2id={name: i for i, name in enumerate(names)})
        return directory
    return make


def positive_probability(directory, index, text) -> float:
    """softmax(logits)[index] of the model in directory for text (already clean), without the app."""
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    with torch.inference_mode():
        logits = model(**tokenizer([text], return_tensors="pt")).logits
    return torch.softmax(logits, dim=-1)[0, index].item()


@pytest.mark.parametrize("names, positive_index", [
    (("0", "1"), 1), (("LABEL_0", "LABEL_1"), 1), (("부정", "긍정"), 1), (("Positive", "Negative"), 0),
])
def test_api_serves_the_contract_for_published_label_names(tiny_config, labeled_model, names,
                                                           positive_index):
    directory = labeled_model(*names)
    client = create_app({**tiny_config, "SENTIMENT_MODEL": str(directory),
                         "QUANTIZE": False}).test_client()
    answer = client.post("/api/v1/sentiment", json={"text": "이 영화 정말 재밌다!"}).json
    assert set(answer["probabilities"]) == {"negative", "positive"}
    assert answer["label"] in ("negative", "positive") and answer["label_ko"] in ("부정", "긍정")
    assert answer["probabilities"]["positive"] == pytest.approx(
        positive_probability(directory, positive_index, "이 영화 정말 재밌다!"), abs=1e-5)


def test_hub_model_with_digit_labels_serves_the_contract(hub_cache, tiny_config, labeled_model):
    # The labels of daekeun-ml/koelectra-small-v3-nsmc: {0: "0", 1: "1"}, 1 meaning positive.
    put_in_hub_cache(hub_cache, labeled_model("0", "1"), "someone/koelectra-nsmc-digits")
    client = create_app({**tiny_config, "SENTIMENT_MODEL": "someone/koelectra-nsmc-digits"}).test_client()
    answer = client.post("/api/v1/sentiment", json={"texts": ["재밌다", "별로"]}).json
    for result in answer["results"]:
        assert result["label"] in ("negative", "positive") and set(result["probabilities"]) == {
            "negative", "positive"}


def test_unknown_labels_refuse_to_start_in_one_line(caplog, tiny_config, labeled_model):
    directory = labeled_model("bad", "good")
    line = startup_failure(caplog, {**tiny_config, "SENTIMENT_MODEL": str(directory)})
    assert "cannot tell negative from positive in its config.id2label ['bad', 'good']" in line
    assert "FLASK_SENTIMENT_LABELS" in line and f"SENTIMENT_MODEL points to {directory}" in line


def test_sentiment_labels_setting_serves_unknown_labels(tiny_config, labeled_model):
    directory = labeled_model("bad", "good")
    config = {**tiny_config, "SENTIMENT_MODEL": str(directory), "QUANTIZE": False,
              "SENTIMENT_LABELS": ["negative", "positive"]}
    answer = create_app(config).test_client().post("/api/v1/sentiment", json={"text": "재밌다"}).json
    assert answer["probabilities"]["positive"] == pytest.approx(
        positive_probability(directory, 1, "재밌다"), abs=1e-5)


def test_bad_sentiment_labels_setting_refuses_to_start(caplog, tiny_config):
    line = startup_failure(caplog, {**tiny_config, "SENTIMENT_LABELS": ["good", "bad"]})
    assert "cannot tell negative from positive in SENTIMENT_LABELS ['good', 'bad']" in line


@pytest.fixture(scope="module")
def koelectra_dir(tmp_path_factory):
    """A KoELECTRA-style directory: a tiny random ELECTRA, vocab.txt and tokenizer_config.json."""
    if not (KOELECTRA_VOCAB / "vocab.txt").is_file():
        pytest.skip(f"no KoELECTRA vocabulary at {KOELECTRA_VOCAB} (set KOTEXT_DATA_DIR)")
    directory = tmp_path_factory.mktemp("koelectra-style")
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(KOELECTRA_VOCAB / name, directory / name)
    vocab_size = sum(1 for _ in open(directory / "vocab.txt", encoding="utf-8"))
    save_tiny_model(directory, FakeVocab(vocab_size), num_labels=2,
                    id2label={0: "negative", 1: "positive"})
    return directory


class FakeVocab:
    """What save_tiny_model needs of a tokenizer: its size; saving writes nothing (files exist)."""

    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size

    def save_pretrained(self, directory):
        """The directory already holds the published tokenizer files."""


def test_koelectra_style_directory_serves_the_documented_tokenization(tiny_config, koelectra_dir):
    assert sorted(path.name for path in koelectra_dir.iterdir() if "token" in path.name
                  or path.name.startswith("vocab")) == ["tokenizer_config.json", "vocab.txt"]
    app = create_app({**tiny_config, "SENTIMENT_MODEL": str(koelectra_dir)})
    with app.app_context():
        predictor = app.extensions["predictors"].get("sentiment")
        (encoded,) = predictor.encode([KOELECTRA_TEXT])
    assert encoded.features["input_ids"] == KOELECTRA_IDS
    answer = app.test_client().post("/api/v1/sentiment", json={"text": KOELECTRA_TEXT})
    assert answer.status_code == 200 and answer.json["cleaned"] == KOELECTRA_TEXT


def test_koelectra_vocabulary_loaded_directly_matches(koelectra_dir):
    tokenizer = AutoTokenizer.from_pretrained(koelectra_dir)
    assert tokenizer(KOELECTRA_TEXT)["input_ids"] == KOELECTRA_IDS


TEXTS = ["이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "배우 연기는 좋은데 스토리가 너무 뻔하다"]
PAIRS = [("오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요"), ("돈이 아깝다", "주식 시장이 크게 하락했다")]


def assert_pipeline_matches_api(directories):
    """pipeline("text-classification") on each directory gives what the API answers.

    The pipeline runs in the dtype the directory was saved in (fp16 for exported models, even on
    a CPU) and the app in fp32: scores agree to fp16's precision, about three digits.
    """
    client = create_app({"TESTING": True, "QUANTIZE": False, "DEVICE": "cpu",
                         "SENTIMENT_MODEL": str(directories["sentiment"]),
                         "SIMILARITY_MODEL": str(directories["similarity"])}).test_client()
    classify = pipeline("text-classification", model=str(directories["sentiment"]), device="cpu")
    answers = client.post("/api/v1/sentiment", json={"texts": TEXTS}).json["results"]
    # An ensemble directory (serving.json `ngram_weight`) mixes in its n-gram member, which the
    # pipeline knows nothing of: the pipeline gives the ELECTRA member, the mix is done here.
    weight = read_serving_info(str(directories["sentiment"])).get("ngram_weight", 0.0)
    ngram = ngrams.load_if_present(directories["sentiment"]) if weight else None
    for text, answer in zip(TEXTS, answers):
        positive = {item["label"]: item["score"] for item in classify(text, top_k=None)}["positive"]
        if ngram is not None:
            positive = (1 - weight) * positive + weight * ngram.positive_probability([clean(text)])[0]
        assert answer["label"] == ("positive" if positive >= 0.5 else "negative")
        assert answer["probabilities"]["positive"] == pytest.approx(positive, abs=1e-3)
    score = pipeline("text-classification", model=str(directories["similarity"]), device="cpu")
    answers = client.post("/api/v1/similarity", json={"pairs": PAIRS}).json["results"]
    orders = [(0, 1), (1, 0)] if read_serving_info(str(directories["similarity"])).get("symmetric") else [(0, 1)]
    raws = [sum(score({"text": pair[a], "text_pair": pair[b]}, function_to_apply="none")["score"]
                for a, b in orders) / len(orders)
            for pair in PAIRS]  # a "symmetric" model answers the mean of both pair orders
    assert any(0 < raw < 5 for raw in raws), raws  # not only scores the clamp hides
    for raw, answer in zip(raws, answers):
        assert min(max(raw, 0.0), 5.0) == pytest.approx(answer["score"], abs=5e-3)


def test_our_directories_work_in_a_standard_pipeline(tiny_models, pair_order_models):
    # The "plain" copy has its output spread around mid-scale, where the clamp hides nothing.
    assert_pipeline_matches_api({"sentiment": tiny_models["sentiment"], "similarity": pair_order_models["plain"]})


def test_a_symmetric_directory_is_the_pipeline_mean_of_both_orders(tiny_models, pair_order_models):
    assert_pipeline_matches_api({"sentiment": tiny_models["sentiment"],
                                 "similarity": pair_order_models["symmetric"]})


@pytest.mark.real_model
@pytest.mark.skipif(not all((ROOT / "running_model" / task / "config.json").is_file()
                            for task in ("sentiment", "similarity")),
                    reason="no trained models in running_model/")
def test_embedded_models_work_in_a_standard_pipeline():
    assert_pipeline_matches_api({task: ROOT / "running_model" / task
                                 for task in ("sentiment", "similarity")})
