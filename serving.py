"""The web app's models: a predictor registry per app, and the input checks pages and API share."""
import json
import os
from pathlib import Path

from flask import current_app

import compute
import models
import monitoring
from sentiment_predictor import leave_one_out, word_contributions

ROOT = Path(__file__).resolve().parent
LOCAL_MODEL_DIR = "running_model"  # a relative setting under here is always a path, never a hub id
MODEL_SETTINGS = {models.SENTIMENT: "SENTIMENT_MODEL", models.SIMILARITY: "SIMILARITY_MODEL"}
TRAIN_COMMAND = "python -m training.train.finetune --task {task}"
# gunicorn's "worker failed to boot" status: its master then stops instead of respawning workers
# that cannot load a model; `flask run` and other callers simply exit with it.
EXIT_NO_MODEL = 3


class InputError(ValueError):
    """Input a user can fix: a code for programs, a Korean message for people, an HTTP status."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def model_location(value) -> str:
    """An absolute path for a local model (relative to the repo root), else the hub model id."""
    value = str(value)
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    if (ROOT / path).exists() or value.startswith((".", LOCAL_MODEL_DIR + "/")):
        return str(ROOT / path)
    return value


def init_app(app) -> None:
    """Give the app its predictor registry; load both models now when LOAD_MODELS_AT_START."""
    locations = {task: model_location(app.config[key]) for task, key in MODEL_SETTINGS.items()}
    compute.check_dtype_setting(app.config["COMPUTE_DTYPE"])  # a typo fails here, not per model
    registry = models.PredictorRegistry(
        locations, batcher_options=batcher_options(app.config), device=app.config["DEVICE"],
        max_length=app.config["MAX_LENGTH"], quantize=app.config["QUANTIZE"],
        dtype=app.config["COMPUTE_DTYPE"], trace=app.config["TRACE_MODEL"],
        task_options={models.SENTIMENT: {"labels": app.config["SENTIMENT_LABELS"]}})
    app.extensions["predictors"] = registry
    if app.config["LOAD_MODELS_AT_START"]:
        load_models_or_exit(app, registry)


def batcher_options(config) -> dict:
    """The micro-batcher settings (see microbatch.MicroBatcher), reporting to the metrics."""
    return {"max_batch_items": config["BATCH_MAX_ROWS"],
            "token_budget": config["BATCH_TOKEN_BUDGET"],
            "max_wait_ms": config["BATCH_MAX_WAIT_MS"],
            "call_cost_tokens": config["BATCH_CALL_COST_TOKENS"],
            "max_queue": config["QUEUE_MAX"],
            "timeout_s": config["REQUEST_TIMEOUT_S"],
            "on_batch": monitoring.observe_batch,
            "on_queue_depth": monitoring.set_queue_depth}


def load_models_or_exit(app, registry) -> None:
    """Load every model; if one cannot load, log one line saying which setting to fix, and exit."""
    for task, location in registry.locations.items():
        try:
            require_local_directory(location)
            registry.get(task)
        except models.ModelLoadError as error:
            app.logger.error(no_model_message(task, location, error))
            raise SystemExit(EXIT_NO_MODEL) from error


def require_local_directory(location) -> None:
    """Name a missing local directory plainly (the hub would only call its path a bad repo id)."""
    if os.path.isabs(location) and not os.path.isdir(location):
        raise models.ModelLoadError("no such directory")


def no_model_message(task, location, error) -> str:
    """One log line: the setting, where it points, why that fails, and how to get a model."""
    setting = MODEL_SETTINGS[task]
    reason = " ".join(str(error).split())  # library errors span lines; the log line must not
    return (f"cannot serve {task}: {setting} points to {location}: {reason}. "
            f"Train a model with `{TRAIN_COMMAND.format(task=task)}` "
            f"or set FLASK_{setting} to a model directory or hub model id.")


def get_registry() -> models.PredictorRegistry:
    """The current app's predictor registry."""
    return current_app.extensions["predictors"]


def get_predictor(task):
    """The current app's (batched) predictor for task, loaded on first use."""
    return get_registry().get(task)


def predict(predictor, inputs) -> list:
    """predictor.predict(inputs), each result with the model name (microbatch.Busy when too busy)."""
    log_inputs(predictor.task, inputs)
    return [{**result, "model": predictor.name} for result in predictor.predict(inputs)]


def predict_explained(predictor, text) -> dict:
    """One sentiment result with per-word contributions: one predict call, text + leave-one-outs."""
    words, variants = leave_one_out(predictor.clean(text), current_app.config["EXPLAIN_MAX_WORDS"])
    # One call: the text and its variants share a forward pass (a batch, not len(words) requests).
    full, *without = predict(predictor, [text, *variants])
    return {**full, "explanation": {"words": word_contributions(words, full, without),
                                    "max_words": current_app.config["EXPLAIN_MAX_WORDS"]}}


def log_inputs(task, inputs) -> None:
    """One log line per prediction: sizes only, unless LOG_INPUTS asks for the texts themselves."""
    if current_app.config["LOG_INPUTS"]:
        current_app.logger.info("%s: %s", task, one_line(inputs))
        return
    texts = [text for item in inputs for text in ([item] if isinstance(item, str) else item)]
    current_app.logger.info("%s: %d input(s), %d characters", task, len(inputs),
                            sum(map(len, texts)))


def one_line(value) -> str:
    """value as JSON with Korean kept readable, and every unprintable character escaped."""
    # Newlines, U+2028 and friends escaped: a text cannot forge another log line.
    text = json.dumps(value, ensure_ascii=False)
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode()
                   for char in text)


def check_text(text, predictor, field) -> str:
    """Return text if it is a string the model can read, else raise InputError naming field."""
    limit = current_app.config["MAX_TEXT_CHARS"]
    if not isinstance(text, str):
        raise InputError("invalid_type", f"{field}: 문자열이어야 합니다.")
    if not text.strip():
        raise InputError("empty_text", f"{field}: 내용이 비어 있습니다. 문장을 입력하세요.")
    if len(text) > limit:
        raise InputError("text_too_long",
                         f"{field}: {len(text)}자로 너무 깁니다. {limit}자 이하로 입력하세요.", 413)
    if not is_encodable(text):
        raise InputError("invalid_text", f"{field}: 올바르지 않은 유니코드 문자(짝 없는 서로게이트)가 있습니다.")
    if not predictor.clean(text):
        raise InputError("empty_after_cleaning",
                         f"{field}: 이모지·링크·특수문자를 빼면 남는 글자가 없습니다. 글자가 있는 문장을 입력하세요.")
    return text


def check_pair(pair, predictor, field1, field2) -> tuple:
    """Both sentences of a pair, each checked with check_text."""
    return check_text(pair[0], predictor, field1), check_text(pair[1], predictor, field2)


def is_encodable(text) -> bool:
    """Whether text is valid Unicode: JSON can carry lone surrogates that UTF-8 cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
