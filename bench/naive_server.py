"""The baseline to beat, as issue 27 describes it: a `transformers` pipeline call per request.

    gunicorn -w 2 -k gthread --threads 4 'bench.naive_server:create_app()'

Each worker holds `pipeline("text-classification", model=<the model directory>)` loaded as it is
(computing in the dtype the weights are stored in: fp16 for our exports) and calls it once per
request, with no lock: one text, or one pair in the order given (`function_to_apply="none"` for
the 0–5 regression). Same models and settings (FLASK_SENTIMENT_MODEL, FLASK_SIMILARITY_MODEL,
FLASK_DEVICE, FLASK_MAX_LENGTH) and the same text the model reads (the model's cleaning and
number alignment) as the app, the same routes and `label`/`score` fields. FLASK_NAIVE_DTYPE=fp32
(or bf16, fp16) loads the pipeline in that dtype instead, to separate dtype from batching.
"""
from flask import Flask, request
from transformers import pipeline

import compute
import models
import serving
from main import DEFAULTS
from model_files import read_serving_info, serving_setting
from predictor import DEFAULT_MAX_LENGTH
from preprocessing import clean_if
from similarity_predictor import clean_pair

WARM_UP = {models.SENTIMENT: "안녕하세요", models.SIMILARITY: {"text": "안녕하세요", "text_pair": "반갑습니다"}}


class NaiveModel:
    """A text-classification pipeline and the text preprocessing its model was trained with."""

    def __init__(self, location, task, device=None, max_length=None, dtype=None):
        options = {"dtype": compute.DTYPES[dtype]} if dtype else {}  # default: as stored
        self.pipe = pipeline("text-classification", model=location,
                             device=compute.resolve_device(device), **options)
        info = read_serving_info(location)
        self.cleaning = bool(serving_setting(info, "clean"))
        self.align_numbers = bool(serving_setting(info, "align_numbers"))
        self.max_length = max_length or min(DEFAULT_MAX_LENGTH,
                                            self.pipe.model.config.max_position_embeddings)
        self.options = {"function_to_apply": "none"} if task == models.SIMILARITY else {}
        # No lock: every call sets the same truncation, so after this first call the shared fast
        # tokenizer's settings are never written again, and concurrent calls only read them.
        self(WARM_UP[task])

    def __call__(self, inputs) -> dict:
        """The pipeline's answer for one input (a text, or {"text", "text_pair"})."""
        answer = self.pipe(inputs, truncation=True, max_length=self.max_length, **self.options)
        return answer[0] if isinstance(answer, list) else answer

    def describe(self) -> dict:
        """Where and in what dtype the pipeline computes."""
        return {"device": str(self.pipe.device),
                "dtype": compute.DTYPE_NAMES.get(self.pipe.model.dtype, str(self.pipe.model.dtype))}


def create_app(test_config=None):
    """The naive app: FLASK_* settings as in main.py, both pipelines loaded now."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(NAIVE_DTYPE=None)
    app.config.from_prefixed_env()
    app.config.from_mapping(test_config or {})
    app.json.ensure_ascii = False
    options = {"device": app.config["DEVICE"], "max_length": app.config["MAX_LENGTH"],
               "dtype": app.config["NAIVE_DTYPE"]}
    pipes = {task: NaiveModel(serving.model_location(app.config[setting]), task, **options)
             for task, setting in serving.MODEL_SETTINGS.items()}

    @app.get("/healthz")
    def healthz():
        """Up (and, since the pipelines load before the first request, ready)."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        """Ready, with each pipeline's device and dtype (the bench records them)."""
        return {"ready": True, "models": {task: pipe.describe() for task, pipe in pipes.items()}}

    @app.post("/api/v1/sentiment")
    def sentiment():
        """{"text"} → {"label", "score"}."""
        model = pipes[models.SENTIMENT]
        answer = model(clean_if(request.get_json(force=True)["text"], model.cleaning))
        return {"label": answer["label"], "score": answer["score"]}

    @app.post("/api/v1/similarity")
    def similarity():
        """{"sentence1", "sentence2"} → {"score"}: one order, the raw output clamped to 0–5."""
        model, body = pipes[models.SIMILARITY], request.get_json(force=True)
        first, second = clean_pair(body["sentence1"], body["sentence2"], model.cleaning,
                                   model.align_numbers)
        answer = model({"text": first, "text_pair": second})
        return {"score": min(max(answer["score"], 0.0), 5.0)}

    return app
