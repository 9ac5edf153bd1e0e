"""Predictors: load an ELECTRA classifier (local directory or hub id), pick a device, predict.

Inference is split the transformers-pipeline way: preprocess (text → tensors), forward (the
model call, the one place under ``torch.inference_mode()``) and postprocess (logits → dicts).
"""
import json
import os
import threading
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from preprocessing import clean_if

SENTIMENT = "sentiment"
SIMILARITY = "similarity"
TASKS = (SENTIMENT, SIMILARITY)

DEFAULT_MAX_LENGTH = 128
SERVING_FILE = "serving.json"  # optional metadata in a model directory: name, task, clean
LABELS_KO = {"negative": "부정", "positive": "긍정"}
SIMILAR_THRESHOLD = 3.0  # KLUE-STS binarises its 0–5 scores at 3.0


class ModelLoadError(RuntimeError):
    """A model location that cannot serve: missing, unreadable, or for another task."""


def resolve_device(device=None) -> torch.device:
    """The requested device, else CUDA when available, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def read_serving_info(location) -> dict:
    """Metadata written by our training pipeline; empty for models from elsewhere."""
    path = Path(location) / SERVING_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {}


def task_of(config) -> str:
    """Which task a sequence-classification config is for: one regression output is similarity."""
    if config.problem_type == "regression" or config.num_labels == 1:
        return SIMILARITY
    return SENTIMENT


def sentiment_label_names(config) -> list:
    """Label names by class index, mapping generic LABEL_0/LABEL_1 to NSMC's negative/positive."""
    names = [str(config.id2label[i]).lower() for i in range(config.num_labels)]
    if config.num_labels == 2 and names == ["label_0", "label_1"]:
        return ["negative", "positive"]
    return names


class Predictor:
    """One model with its tokenizer, device, max length and cleaning choice."""

    task = None

    def __init__(self, location, device=None, max_length=None, batch_size=32, dtype=None):
        self.location = str(location)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        info = read_serving_info(self.location) if os.path.isdir(self.location) else {}
        self.tokenizer = AutoTokenizer.from_pretrained(self.location)
        model = AutoModelForSequenceClassification.from_pretrained(self.location)
        # fp16 halves GPU memory and speeds up inference; CPUs run fp32 (fp16 there is slow).
        dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.config = model.config
        self.max_length = max_length or self._default_max_length()
        self.cleaning = bool(info.get("clean", True))
        self.name = info.get("name") or self._default_name()
        # The fast tokenizer keeps truncation/padding settings in shared state, and concurrent
        # forward passes would only fight over the same cores: one batch at a time per model.
        self._lock = threading.Lock()

    def _default_max_length(self) -> int:
        limits = [DEFAULT_MAX_LENGTH, getattr(self.config, "max_position_embeddings", 512)]
        return min(limits)

    def _default_name(self) -> str:
        path = Path(self.location)
        return path.name if path.is_dir() else self.location

    def describe(self) -> dict:
        """What /readyz and the pages show about this model."""
        return {"name": self.name, "task": self.task, "device": str(self.device),
                "max_length": self.max_length, "clean": self.cleaning}

    def clean(self, text: str) -> str:
        """The cleaning this model was trained with."""
        return clean_if(text, self.cleaning)

    def preprocess(self, first, second=None):
        """Tokenize a batch (pairs when second is given); report which inputs were cut."""
        full = self.tokenizer(first, second, truncation=False)["input_ids"]
        truncated = [len(ids) > self.max_length for ids in full]
        batch = self.tokenizer(first, second, truncation=True, max_length=self.max_length,
                               padding=True, return_tensors="pt")
        return batch.to(self.device), truncated

    def forward(self, batch) -> torch.Tensor:
        """Run the model; float32 logits on the CPU."""
        with torch.inference_mode():
            return self.model(**batch).logits.float().cpu()

    def _run(self, first, second=None):
        """Logits and truncation flags for any number of inputs, in chunks of batch_size."""
        logits, truncated = [], []
        for start in range(0, len(first), self.batch_size):
            end = start + self.batch_size
            chunk_second = second[start:end] if second is not None else None
            with self._lock:
                batch, cut = self.preprocess(first[start:end], chunk_second)
                logits.append(self.forward(batch))
            truncated.extend(cut)
        if not logits:
            return torch.empty(0, self.config.num_labels), []
        return torch.cat(logits), truncated


class SentimentPredictor(Predictor):
    """Positive/negative with probabilities, label names from config.id2label."""

    task = SENTIMENT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = sentiment_label_names(self.config)

    def predict(self, texts) -> list:
        """One result dict per text."""
        cleaned = [self.clean(text) for text in texts]
        logits, truncated = self._run(cleaned)
        probabilities = torch.softmax(logits, dim=-1).tolist()
        return [self.postprocess(text, probs, cut)
                for text, probs, cut in zip(cleaned, probabilities, truncated)]

    def postprocess(self, cleaned, probs, truncated) -> dict:
        """Logits of one text → the API's result object (without the model name)."""
        best = max(range(len(probs)), key=probs.__getitem__)
        label = self.labels[best]
        return {"label": label, "label_ko": LABELS_KO.get(label, label),
                "score": probs[best],
                "probabilities": dict(zip(self.labels, probs)),
                "cleaned": cleaned, "truncated": truncated}


class SimilarityPredictor(Predictor):
    """A 0–5 similarity score for a sentence pair (a cross-encoder regression)."""

    task = SIMILARITY

    def predict(self, pairs) -> list:
        """One result dict per (sentence1, sentence2) pair."""
        first = [self.clean(a) for a, _ in pairs]
        second = [self.clean(b) for _, b in pairs]
        logits, truncated = self._run(first, second)
        return [self.postprocess(score, a, b, cut)
                for score, a, b, cut in zip(logits[:, 0].tolist(), first, second, truncated)]

    def postprocess(self, raw, cleaned1, cleaned2, truncated) -> dict:
        """Raw regression output → clamped score, percent and verdict."""
        score = min(max(raw, 0.0), 5.0)
        percent = round(score / 5 * 100)
        return {"score": score, "percent": percent, "similar": score >= SIMILAR_THRESHOLD,
                "message": f"유사도는 {percent}% 입니다",
                "cleaned": [cleaned1, cleaned2], "truncated": truncated}


PREDICTORS = {SENTIMENT: SentimentPredictor, SIMILARITY: SimilarityPredictor}


def load_predictor(location, task=None, **options) -> Predictor:
    """Load a predictor for a directory or model id, checking it serves the expected task."""
    try:
        config = AutoConfig.from_pretrained(str(location))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read a model config at {location!r}: {error}") from error
    found = task_of(config)
    if task and found != task:
        raise ModelLoadError(f"model at {location!r} is a {found} model, expected {task}")
    try:
        return PREDICTORS[found](location, **options)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"cannot load the model at {location!r}: {error}") from error


class PredictorRegistry:
    """One predictor per task per process, loaded once, lazily and thread-safely."""

    def __init__(self, locations: dict, **options):
        self.locations = dict(locations)
        self.options = options
        self._predictors = {}
        self._lock = threading.Lock()

    def get(self, task) -> Predictor:
        """The loaded predictor for task, loading it on first use."""
        predictor = self._predictors.get(task)
        if predictor is None:
            with self._lock:
                predictor = self._predictors.get(task)
                if predictor is None:
                    predictor = load_predictor(self.locations[task], task, **self.options)
                    self._predictors[task] = predictor
        return predictor

    def load_all(self) -> None:
        """Load every configured model now (at worker start, so failures show up front)."""
        for task in self.locations:
            self.get(task)

    def loaded(self) -> dict:
        """Descriptions of the models loaded so far, by task."""
        return {task: p.describe() for task, p in self._predictors.items()}
