"""create_app: defaults, environment, test config; loading the models or refusing to start."""
import json
import logging
import shutil
from pathlib import Path

import pytest
from transformers import ElectraConfig, ElectraForPreTraining

from conftest import build_tokenizer, put_in_hub_cache
from main import DEFAULTS, create_app
from serving import EXIT_NO_MODEL, ROOT

def test_defaults_point_at_running_model():
    assert DEFAULTS["SENTIMENT_MODEL"] == "running_model/sentiment"
    assert DEFAULTS["SIMILARITY_MODEL"] == "running_model/similarity"
    assert DEFAULTS["MAX_CONTENT_LENGTH"] == 1_048_576 and DEFAULTS["MAX_BATCH_ITEMS"] == 64


def test_loads_both_models_from_directories(app, tiny_models):
    loaded = app.extensions["predictors"].loaded()
    assert {task: model["name"] for task, model in loaded.items()} == {
        "sentiment": "sentiment-tiny", "similarity": "similarity-tiny"}
    assert loaded["sentiment"]["device"] == "cpu" and app.json.ensure_ascii is False


def test_environment_then_test_config(monkeypatch, tiny_models, tiny_config):
    monkeypatch.setenv("FLASK_SENTIMENT_MODEL", str(tiny_models["sentiment"]))
    monkeypatch.setenv("FLASK_SIMILARITY_MODEL", str(tiny_models["similarity"]))
    monkeypatch.setenv("FLASK_MAX_TEXT_CHARS", "20")
    monkeypatch.setenv("FLASK_DEVICE", "cpu")
    app = create_app({"TESTING": True, "MAX_BATCH_ITEMS": 2})
    assert (app.config["MAX_TEXT_CHARS"], app.config["MAX_BATCH_ITEMS"]) == (20, 2)
    assert app.config["DEVICE"] == "cpu"
    assert app.extensions["predictors"].loaded()["sentiment"]["name"] == "sentiment-tiny"


def test_loads_model_by_hub_id_offline(hub_cache, tiny_models, tiny_config):
    put_in_hub_cache(hub_cache, tiny_models["sentiment"], "tiny-org/sentiment-tiny")
    app = create_app({**tiny_config, "SENTIMENT_MODEL": "tiny-org/sentiment-tiny"})
    assert app.extensions["predictors"].loaded()["sentiment"]["name"] == "tiny-org/sentiment-tiny"
    response = app.test_client().post("/api/v1/sentiment", json={"text": "재밌다"})
    assert response.status_code == 200 and response.json["model"] == "tiny-org/sentiment-tiny"


def startup_failure(caplog, config) -> str:
    """The one error line create_app logs when it refuses to start, checking it exits with 3."""
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as raised:
        create_app(config)
    assert raised.value.code == EXIT_NO_MODEL
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    return errors[0]


def test_missing_directory_refuses_to_start(caplog, tiny_config, tmp_path):
    missing = tmp_path / "no-model-here"
    line = startup_failure(caplog, {**tiny_config, "SIMILARITY_MODEL": str(missing)})
    assert f"SIMILARITY_MODEL points to {missing}: no such directory" in line
    assert "python -m training.train.finetune --task similarity" in line


def test_missing_running_model_is_a_path_not_a_hub_id(caplog, tiny_config):
    # Were it tried as a hub id, the hub client would retry the network for many seconds.
    setting = "running_model/no-such-model"
    line = startup_failure(caplog, {**tiny_config, "SENTIMENT_MODEL": setting})
    assert f"SENTIMENT_MODEL points to {ROOT / setting}: no such directory" in line
    assert "python -m training.train.finetune --task sentiment" in line


def test_directory_without_model_refuses_to_start(caplog, tiny_config, tmp_path):
    line = startup_failure(caplog, {**tiny_config, "SENTIMENT_MODEL": str(tmp_path)})
    assert f"SENTIMENT_MODEL points to {tmp_path}: cannot read a model config" in line


def test_wrong_task_model_refuses_to_start(caplog, tiny_config, tiny_models):
    config = {**tiny_config, "SENTIMENT_MODEL": str(tiny_models["similarity"])}
    line = startup_failure(caplog, config)
    assert "SENTIMENT_MODEL points to" in line
    assert "is a similarity model, expected sentiment" in line


def test_lazy_loading_reports_unready_model(tiny_config, tmp_path):
    config = {**tiny_config, "LOAD_MODELS_AT_START": False, "SIMILARITY_MODEL": str(tmp_path)}
    client = create_app(config).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["ready"] is False
    assert list(ready.json["models"]) == ["sentiment"]  # loaded by readyz, unlike similarity
    response = client.post("/api/v1/similarity", json={"sentence1": "좋다", "sentence2": "싫다"})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "model_unavailable"


def truncate(path):
    """Cut a file in half, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def remove_tokenizer(directory):
    """Delete the tokenizer files, leaving the model's."""
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (directory / name).unlink(missing_ok=True)


def grow_vocabulary(directory):
    """A tokenizer with more tokens than the model has embeddings: another model's tokenizer."""
    path = directory / "tokenizer.json"
    tokenizer = json.loads(path.read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    vocab.update({f"extra{i}": len(vocab) + i for i in range(100)})
    path.write_text(json.dumps(tokenizer), encoding="utf-8")


def relabel(directory, **changes):
    """Rewrite config.json with changes."""
    path = directory / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


CORRUPTIONS = {
    "truncated weights": (lambda d: truncate(d / "model.safetensors"), "cannot load the model"),
    "garbage weights": (lambda d: (d / "model.safetensors").write_bytes(b"\0" * 64),
                        "cannot load the model"),
    "no weights": (lambda d: (d / "model.safetensors").unlink(), "no file named model.safetensors"),
    "config not JSON": (lambda d: (d / "config.json").write_text("{oops"),
                        "cannot read a model config"),
    "tokenizer not JSON": (lambda d: (d / "tokenizer.json").write_text("{oops"),
                           "cannot load the model"),
    "no tokenizer": (remove_tokenizer, "tokenizer files missing or from another model"),
    "foreign tokenizer": (grow_vocabulary, "tokenizer files missing or from another model"),
    "three labels": (lambda d: relabel(d, id2label={"0": "a", "1": "b", "2": "c"},
                                       label2id={"a": 0, "b": 1, "c": 2}), "has 3 labels"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_model_refuses_to_start(caplog, tiny_config, tiny_models, tmp_path, corruption):
    corrupt, reason = CORRUPTIONS[corruption]
    directory = Path(shutil.copytree(tiny_models["sentiment"], tmp_path / "model"))
    corrupt(directory)
    line = startup_failure(caplog, {**tiny_config, "SENTIMENT_MODEL": str(directory)})
    assert f"SENTIMENT_MODEL points to {directory}:" in line and reason in line


def test_pretraining_checkpoint_refuses_to_start(caplog, tiny_config, tmp_path):
    # What training's ELECTRA pretraining saves: no classifier, which transformers would
    # initialise at random with only a warning.
    directory = tmp_path / "discriminator"
    tokenizer = build_tokenizer()
    config = ElectraConfig(vocab_size=len(tokenizer), embedding_size=32, hidden_size=32,
                           num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ElectraForPreTraining(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    line = startup_failure(caplog, {**tiny_config, "SENTIMENT_MODEL": str(directory)})
    assert "lacks weights for classifier." in line and "not a fine-tuned classifier" in line
