"""serving.py: where model settings point, and predictions from many threads at once."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from main import create_app
from serving import ROOT, get_predictor, model_location, predict


@pytest.mark.parametrize("setting, location", [
    ("running_model/sentiment", str(ROOT / "running_model/sentiment")),  # even before training
    ("./my-model", str(ROOT / "my-model")),
    ("tests", str(ROOT / "tests")),  # an existing directory in the repo
    ("/srv/models/sentiment", "/srv/models/sentiment"),
    ("org/koelectra-nsmc", "org/koelectra-nsmc"),  # a hub model id
    ("koelectra-nsmc", "koelectra-nsmc"),
])
def test_model_location(setting, location):
    assert model_location(setting) == location


def test_concurrent_predictions_stay_correct(tiny_config):
    # Mixed lengths around MAX_LENGTH make threads disagree on truncation and padding; without
    # serving's lock the shared fast tokenizer gives ragged batches and wrong truncation flags.
    app = create_app({**tiny_config, "MAX_LENGTH": 8})
    texts = [["재밌다 " * (1 + (i + j) % 6) for j in range(1 + i % 3)] for i in range(64)]

    def run(batch):
        with app.app_context():
            return [result["truncated"] for result in predict(get_predictor("sentiment"), batch)]

    with app.app_context():
        tokenizer = get_predictor("sentiment").tokenizer
    expected = [[len(tokenizer(text.strip())["input_ids"]) > 8 for text in batch]
                for batch in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(run, texts)) == expected
