"""The baseline to beat: how the reference demos serve, a `transformers` pipeline call per request.

    gunicorn -c gunicorn.conf.py 'bench.naive_server:create_app()'

Same models, settings (FLASK_SENTIMENT_MODEL, FLASK_SIMILARITY_MODEL, FLASK_DEVICE,
FLASK_MAX_LENGTH), text cleaning and gunicorn settings as the app, and the same routes and
`label`/`score` fields; no batching: one request, one forward pass, one at a time per model.
"""
import threading

import torch
from flask import Flask, request
from transformers import pipeline

import models
import serving
from main import DEFAULTS
from preprocessing import clean_if


class NaiveModel:
    """A text-classification pipeline, its cleaning choice, and a lock around it."""

    def __init__(self, location, device=None, max_length=None):
        device = models.resolve_device(device)
        # fp16 on a GPU, as the app runs it, so a GPU comparison is about batching alone.
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        self.pipe = pipeline("text-classification", model=location, tokenizer=location,
                             device=device, dtype=dtype)
        info = models.read_serving_info(location)
        self.cleaning = bool(info.get("clean", True))
        # A similarity model served as the mean of both pair orders is that model: score it so.
        self.symmetric = bool(info.get("symmetric", False))
        self.align_numbers = bool(info.get("align_numbers", False))  # as the app reads numbers
        self.max_length = max_length or min(models.DEFAULT_MAX_LENGTH,
                                            self.pipe.model.config.max_position_embeddings)
        # A pipeline's fast tokenizer is not thread-safe; the reference demos served one request
        # at a time anyway (Flask's server, or a lock, as here).
        self.lock = threading.Lock()

    def __call__(self, inputs, **options):
        """The pipeline's answer for one input (a text, or {"text", "text_pair"})."""
        with self.lock:
            return self.pipe(inputs, truncation=True, max_length=self.max_length, **options)


def create_app(test_config=None):
    """The naive app: FLASK_* settings as in main.py, both pipelines loaded now."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env()
    app.config.from_mapping(test_config or {})
    app.json.ensure_ascii = False
    options = {"device": app.config["DEVICE"], "max_length": app.config["MAX_LENGTH"]}
    pipes = {task: NaiveModel(serving.model_location(app.config[setting]), **options)
             for task, setting in serving.MODEL_SETTINGS.items()}

    @app.get("/healthz")
    def healthz():
        """Up (and, since the pipelines load before the first request, ready)."""
        return {"status": "ok"}

    @app.post("/api/v1/sentiment")
    def sentiment():
        """{"text"} → {"label", "score"}."""
        model = pipes[models.SENTIMENT]
        answer = model(clean_if(request.get_json(force=True)["text"], model.cleaning))[0]
        return {"label": answer["label"], "score": answer["score"]}

    @app.post("/api/v1/similarity")
    def similarity():
        """{"sentence1", "sentence2"} → {"score"}: the raw regression output, clamped to 0–5."""
        model, body = pipes[models.SIMILARITY], request.get_json(force=True)
        first, second = models.clean_pair(body["sentence1"], body["sentence2"], model.cleaning,
                                          model.align_numbers)
        pairs = [{"text": first, "text_pair": second}]
        if model.symmetric:
            pairs.append({"text": second, "text_pair": first})
        answers = model(pairs, function_to_apply="none", batch_size=len(pairs))
        score = sum(answer["score"] for answer in answers) / len(answers)
        return {"score": min(max(score, 0.0), 5.0)}

    return app
