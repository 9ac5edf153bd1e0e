"""The Predictor base: one model directory or hub id loaded with its tokenizer, run in three steps.

Inference is split the transformers-pipeline way: encode (text → token ids, in the caller's
thread), forward (padding and the model call, the one place under ``torch.inference_mode()``)
and postprocess (logits → dicts). The task subclasses (sentiment_predictor, similarity_predictor)
supply encode and postprocess; models.BatchedPredictor runs forward for concurrent callers.
"""
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import CONFIG_NAME, cached_file

import microbatch
from compute import (CALL_COST_TOKENS, DTYPE_NAMES, check_int8_layers, quantize_linear_layers,
                     resolve_device, serving_precision, traced_model, use_trace)
from model_errors import ModelLoadError
from model_files import read_serving_info, serving_setting
from preprocessing import clean_if

DEFAULT_MAX_LENGTH = 128
# Texts of the batches a model is traced on and checked against (compute.traced_model): two
# lengths, so the traced batch has padding; pairs, so the checks have both token types.
TRACE_TEXTS = ("짧은 문장", "이것은 조금 더 긴 두 번째 문장입니다.", "세 번째 문장")


def local_directory(location):
    """The directory a model's files are in: the location itself, or a hub id's cached snapshot."""
    if os.path.isdir(location):
        return Path(location)
    try:
        return Path(cached_file(location, CONFIG_NAME)).parent
    except OSError:  # not in the cache and no hub: the model page then has no card or plots
        return None


def check_complete(model, loading, tokenizer) -> None:
    """Refuse a checkpoint that would serve nonsense: a head left random, a foreign tokenizer."""
    # transformers only warns about these: a pretraining checkpoint gets a random classifier,
    # and a directory without tokenizer files gets an empty one that reads everything as [UNK].
    missing = sorted(loading.get("missing_keys", ()))
    if missing:
        raise ModelLoadError(f"the checkpoint lacks weights for {', '.join(missing[:3])}"
                             f"{'…' if len(missing) > 3 else ''}: not a fine-tuned classifier")
    tokens, embeddings = len(tokenizer), model.config.vocab_size
    if not embeddings // 2 <= tokens <= embeddings:
        raise ModelLoadError(f"its tokenizer has {tokens} tokens for the model's {embeddings} "
                             "embeddings: tokenizer files missing or from another model")


@dataclass
class Encoded:
    """One input ready for the model: the cleaned text(s), unpadded token features, truncation."""

    cleaned: object  # the text, or [sentence1, sentence2] for a pair
    features: dict  # input_ids, token_type_ids, attention_mask: lists of ints
    truncated: bool
    swapped: "Encoded" = None  # a pair in the other order, when both orders are scored
    ngram_positive: float = None  # the ensemble's n-gram member's P(positive), when there is one

    def __len__(self):
        return len(self.features["input_ids"])


class Predictor:
    """One model with its tokenizer, device, max length and cleaning choice."""

    task = None
    warm_up_input = None  # one short input, run once when a worker loads the model

    def __init__(self, location, device=None, max_length=None, batch_size=32, dtype=None,
                 quantize=False, int8_layers=None, trace=None):
        self.location = str(location)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        info = read_serving_info(self.location) if os.path.isdir(self.location) else {}
        self.serving_info = info
        self.int8_layers = int8_layers or serving_setting(info, "int8_layers")
        check_int8_layers(self.int8_layers)
        self.tokenizer = AutoTokenizer.from_pretrained(self.location)
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            self.location, output_loading_info=True)
        check_complete(model, loading, self.tokenizer)
        self.parameter_count = model.num_parameters()  # before int8 packs the Linear weights away
        self.directory = local_directory(self.location)
        # fp16 halves GPU memory and speeds up inference; a CPU computes in bf16 only where it
        # has native bf16 (fp16 and emulated bf16 are slower than fp32 there). A model whose
        # export measured int8 costing accuracy says "quantize": false in serving.json, or keeps
        # int8 to the layers that measured within its tolerance ("int8_layers").
        self.dtype, self.quantized = serving_precision(
            dtype, self.device, quantize, bool(serving_setting(info, "quantize")), self.int8_layers)
        model = model.to(device=self.device, dtype=self.dtype).eval()
        self.model = quantize_linear_layers(model, self.int8_layers) if self.quantized else model
        self.config = model.config
        self.max_length = max_length or self._default_max_length()
        self.cleaning = bool(serving_setting(info, "clean"))
        self.name = serving_setting(info, "name") or self._default_name()
        # What the weights are and how they were made (training.release.export writes it); none for a
        # model from elsewhere, whose own card says.
        self.origin = serving_setting(info, "origin")
        self.call_cost_tokens = CALL_COST_TOKENS.get(self.device.type, microbatch.NEVER_SPLIT)
        # The fast tokenizer keeps its truncation settings in shared state: one caller at a time.
        self._tokenizer_lock = threading.Lock()
        # Concurrent forward passes would only fight over the same cores: one batch at a time.
        self._model_lock = threading.Lock()
        # TRACE_MODEL: the forward pass as a TorchScript trace (None: on a CPU), checked at load.
        self.traced = self._trace() if use_trace(trace, self.device) else None

    def _trace(self):
        """The model traced on a padded batch and checked on others; None where it does not fit."""
        def batch(first, second=None):
            return dict(self.tokenizer(first, second, padding=True, return_tensors="pt").to(self.device))
        texts = list(TRACE_TEXTS)
        checks = [batch(texts[1]), batch(texts, texts[::-1])]
        return traced_model(self.model, batch(texts[:2]), checks)

    def _default_max_length(self) -> int:
        limits = [DEFAULT_MAX_LENGTH, getattr(self.config, "max_position_embeddings", 512)]
        return min(limits)

    def _default_name(self) -> str:
        path = Path(self.location)
        return path.name if path.is_dir() else self.location

    def describe(self) -> dict:
        """What /readyz and the pages show about this model."""
        return {"name": self.name, "task": self.task, "device": str(self.device),
                "max_length": self.max_length, "clean": self.cleaning,
                "dtype": DTYPE_NAMES.get(self.dtype, str(self.dtype)),
                "quantized": self.quantized,
                "int8_layers": self.int8_layers if self.quantized else None,
                "traced": self.traced is not None, "origin": self.origin}

    def clean(self, text: str) -> str:
        """The cleaning this model was trained with."""
        return clean_if(text, self.cleaning)

    def encode(self, inputs) -> list:
        """Clean and tokenize inputs (texts, or pairs): one Encoded each."""
        raise NotImplementedError

    def tokenize(self, cleaned, first, second=None) -> list:
        """Token features of texts (pairs when second is given), unpadded; flag the ones cut."""
        if not first:
            return []
        with self._tokenizer_lock:
            kept = self.tokenizer(first, second, truncation=True, max_length=self.max_length)
            if kept.encodings is not None:  # a fast tokenizer keeps what it cut in `overflowing`
                cut = [bool(encoding.overflowing) for encoding in kept.encodings]
            else:  # a Python tokenizer: tokenize again without the limit
                full = self.tokenizer(first, second, truncation=False)["input_ids"]
                cut = [len(ids) > self.max_length for ids in full]
        rows = [dict(zip(kept.keys(), values)) for values in zip(*kept.values())]
        return [Encoded(text, row, truncated) for text, row, truncated in zip(cleaned, rows, cut)]

    def forward_encoded(self, encoded) -> list:
        """Logits rows (float32 tensors on the CPU) for encoded inputs, padded into one batch."""
        with self._model_lock:
            batch = self.tokenizer.pad([item.features for item in encoded], return_tensors="pt")
            return list(self.forward(batch.to(self.device)))

    def forward(self, batch) -> torch.Tensor:
        """Run the model (its trace, when it has one); float32 logits on the CPU."""
        with torch.inference_mode():
            module = self.model if self.traced is None else self.traced
            return module(**batch)["logits"].float().cpu()

    def postprocess(self, encoded, logits) -> dict:
        """One input's logits → the API's result object (without the model name)."""
        raise NotImplementedError

    def rows(self, encoded) -> list:
        """The forward-pass rows for encoded inputs: one each, unless a subclass needs more."""
        return encoded

    def merge(self, encoded, logits) -> list:
        """The rows' logits → one logits row per input (the inverse of rows)."""
        return logits

    def logits(self, encoded) -> list:
        """One raw logits row per encoded input; forward passes of up to batch_size like-length rows."""
        rows = self.rows(encoded)
        logits = microbatch.run_grouped(
            self.forward_encoded, rows, [len(row) for row in rows], self.batch_size,
            self.batch_size * self.max_length, self.call_cost_tokens)
        return self.merge(encoded, logits)

    def predict(self, inputs) -> list:
        """One result dict per input."""
        encoded = self.encode(inputs)
        return [self.postprocess(item, row) for item, row in zip(encoded, self.logits(encoded))]

    def warm_up(self) -> None:
        """A tiny forward pass, so the first user does not pay for lazy set-up (CUDA above all)."""
        self.predict([self.warm_up_input])
