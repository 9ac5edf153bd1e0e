"""Predictors: load an ELECTRA classifier (local directory or hub id), pick a device, predict.

Inference is split the transformers-pipeline way: encode (text → token ids, in the caller's
thread), forward (padding and the model call, the one place under ``torch.inference_mode()``)
and postprocess (logits → dicts). `BatchedPredictor` puts a `microbatch.MicroBatcher` between
encode and forward, so concurrent requests share forward passes.
"""
import functools
import itertools
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import CONFIG_NAME, cached_file

import hardware
import microbatch
from korean_numbers import align_number_spellings
# The tasks are serving.json's; models.SENTIMENT, models.TASKS… stay the names the app uses.
from model_files import NGRAM_FILE, SENTIMENT, SIMILARITY, TASKS, read_serving_info, serving_setting  # noqa: F401
from preprocessing import clean_if

DEFAULT_MAX_LENGTH = 128
LABELS_KO = {"negative": "부정", "positive": "긍정"}
CONTRACT_LABELS = ("negative", "positive")
# Sentiment label names published models use, each (negative, positive), lower-cased. "0"/"1"
# and LABEL_0/LABEL_1 follow NSMC, where 1 is positive (as in daekeun-ml/koelectra-small-v3-nsmc).
LABEL_SCHEMES = (("0", "1"), ("label_0", "label_1"), ("negative", "positive"), ("neg", "pos"),
                 ("부정", "긍정"))
SIMILAR_THRESHOLD = 3.0  # KLUE-STS binarises its 0–5 scores at 3.0
# What each whole score means in the 0–5 guideline of the training labels (KLUE-STS's; KorSTS
# follows SemEval STS, which grades alike), so 66% reads as "mostly the same, details differ".
SCORE_GRADES_KO = (
    "핵심 내용도 세부 내용도 겹치지 않습니다.",
    "핵심 내용은 다르지만 비슷한 주제를 다룹니다.",
    "핵심 내용은 다르지만 세부 내용 일부를 함께 담고 있습니다.",
    "핵심 내용은 대체로 같지만 세부 내용이 꽤 다릅니다.",
    "핵심 내용이 같고 세부 내용만 조금 다릅니다.",
    "핵심 내용과 세부 내용이 모두 같습니다.",
)
# What one more forward pass costs, in padded tokens, when a batch is split by length. On a CPU
# a pass over one short review (~20 ms for ELECTRA-small) is mostly fixed cost, about 64 tokens
# of work, so a split pays once it saves more padding than that. A GPU runs a whole batch in
# about the time of one row: there, fewer passes always win.
CALL_COST_TOKENS = {"cpu": 64, "cuda": microbatch.NEVER_SPLIT}
# COMPUTE_DTYPE's values: "auto" picks per host (see compute_dtype), the others force one.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """A model location that cannot serve: missing, unreadable, or for another task."""


def resolve_device(device=None) -> torch.device:
    """The requested device, else CUDA when available, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def local_directory(location):
    """The directory a model's files are in: the location itself, or a hub id's cached snapshot."""
    if os.path.isdir(location):
        return Path(location)
    try:
        return Path(cached_file(location, CONFIG_NAME)).parent
    except OSError:  # not in the cache and no hub: the model page then has no card or plots
        return None


def task_of(config) -> str:
    """Which task a sequence-classification config is for: one regression output is similarity."""
    if config.problem_type == "regression" or config.num_labels == 1:
        return SIMILARITY
    return SENTIMENT


def sentiment_label_names(config, configured=None) -> list:
    """The contract's names (negative/positive) by class index, from config.id2label or configured."""
    if isinstance(configured, str):  # FLASK_SENTIMENT_LABELS=positive,negative
        configured = configured.split(",")
    elif configured is not None and not isinstance(configured, (list, tuple)):
        configured = [configured]  # a number or an object: refused below, as it was given
    names = configured if configured is not None else [config.id2label[i]
                                                       for i in range(config.num_labels)]
    names = [str(name).strip().lower() for name in names]
    for scheme in LABEL_SCHEMES:
        if len(names) == 2 and set(names) == set(scheme):
            return [CONTRACT_LABELS[scheme.index(name)] for name in names]
    source = "SENTIMENT_LABELS" if configured is not None else "its config.id2label"
    raise ModelLoadError(
        f"cannot tell negative from positive in {source} {names}: known label schemes are "
        f"{', '.join('/'.join(scheme) for scheme in LABEL_SCHEMES)} (any case); set "
        "FLASK_SENTIMENT_LABELS to the names by class index, e.g. '[\"positive\", \"negative\"]'")


def check_dtype_setting(requested) -> None:
    """Refuse a COMPUTE_DTYPE that is none of auto, fp32, bf16, fp16."""
    if requested is not None and not isinstance(requested, torch.dtype) \
            and requested not in DTYPE_CHOICES:
        raise ModelLoadError(f"COMPUTE_DTYPE must be one of {', '.join(DTYPE_CHOICES)}, "
                             f"not {requested!r}")


def compute_dtype(requested, device) -> torch.dtype:
    """The dtype requested, or for auto: fp16 on CUDA, bf16 on a CPU with native bf16, else fp32."""
    # A CPU without AMX or AVX-512 BF16 emulates bf16, slower than fp32 (hardware.py).
    check_dtype_setting(requested)
    if isinstance(requested, torch.dtype):
        return requested
    if requested not in (None, "auto"):
        return DTYPES[requested]
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if hardware.cpu_has_fast_bf16() else torch.float32


def serving_precision(requested, device, quantize, model_allows_int8=True) -> tuple:
    """(dtype, int8?): how a model runs, from COMPUTE_DTYPE, QUANTIZE and its serving.json."""
    # int8 dynamic quantization needs fp32 around it and runs on CPUs only. QUANTIZE None gives
    # int8 to a model that allows it, unless COMPUTE_DTYPE forces bf16 or fp16; a model that
    # refuses int8 runs in the host's dtype (bf16 where the CPU has it natively, else fp32).
    dtype = compute_dtype(requested, device)
    if device.type != "cpu":
        if quantize:
            log.warning("QUANTIZE applies to CPU models only; %s runs unquantized", device)
        return dtype, False
    forced = requested not in (None, "auto")
    if dtype == torch.float16:
        log.warning("COMPUTE_DTYPE=fp16 on a CPU: most CPUs emulate fp16, far slower than fp32")
    if quantize is None:
        quantize = model_allows_int8 and (not forced or dtype == torch.float32)
    if quantize and forced and dtype != torch.float32:
        raise ModelLoadError(f"QUANTIZE=true (int8 with fp32 around it) conflicts with "
                             f"COMPUTE_DTYPE={DTYPE_NAMES.get(dtype, dtype)}: set one of them")
    return (torch.float32, True) if quantize else (dtype, False)


def quantize_linear_layers(model):
    """int8 dynamic quantization of every Linear layer (CPU only): int8 weights, fp32 elsewhere."""
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao (not installed); it still
        # works, and its deprecation warnings would fill every worker's start-up log.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8,
                                                      inplace=True)  # no second fp32 copy


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
                 quantize=False):
        self.location = str(location)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        info = read_serving_info(self.location) if os.path.isdir(self.location) else {}
        self.serving_info = info
        self.tokenizer = AutoTokenizer.from_pretrained(self.location)
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            self.location, output_loading_info=True)
        check_complete(model, loading, self.tokenizer)
        self.parameter_count = model.num_parameters()  # before int8 packs the Linear weights away
        self.directory = local_directory(self.location)
        # fp16 halves GPU memory and speeds up inference; a CPU computes in bf16 only where it
        # has native bf16 (fp16 and emulated bf16 are slower than fp32 there). A model whose
        # export measured int8 costing accuracy says "quantize": false in serving.json.
        self.dtype, self.quantized = serving_precision(
            dtype, self.device, quantize, bool(serving_setting(info, "quantize")))
        model = model.to(device=self.device, dtype=self.dtype).eval()
        self.model = quantize_linear_layers(model) if self.quantized else model
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
                "quantized": self.quantized, "origin": self.origin}

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
        """Run the model; float32 logits on the CPU."""
        with torch.inference_mode():
            return self.model(**batch).logits.float().cpu()

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


class SentimentPredictor(Predictor):
    """Positive/negative with probabilities, label names from config.id2label."""

    task = SENTIMENT
    warm_up_input = "안녕하세요"

    def __init__(self, *args, labels=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = sentiment_label_names(self.config, labels)
        # An ensemble (serving.json `ngram_weight`): P(positive) mixes in the n-gram model saved
        # beside the weights, at that weight.
        self.ngram_weight = float(serving_setting(self.serving_info, "ngram_weight"))
        self.ngram = None
        if self.ngram_weight:
            import ngrams  # scikit-learn only for a model that needs it
            self.ngram = ngrams.load_if_present(self.directory)
        if self.ngram_weight and self.ngram is None:
            raise ModelLoadError(f"serving.json mixes in an n-gram model at weight {self.ngram_weight}, "
                                 f"but there is no {NGRAM_FILE} beside the weights")

    def describe(self) -> dict:
        """As Predictor's, plus the n-gram member's weight (0: the model alone)."""
        return {**super().describe(), "ngram_weight": self.ngram_weight}

    def encode(self, texts) -> list:
        """Each text cleaned and tokenized (and scored by the n-gram member, if any)."""
        cleaned = [self.clean(text) for text in texts]
        encoded = self.tokenize(cleaned, cleaned)
        if self.ngram is not None and encoded:
            for item, positive in zip(encoded, self.ngram.positive_probability(cleaned)):
                item.ngram_positive = float(positive)
        return encoded

    def probabilities(self, encoded, logits) -> list:
        """Class probabilities: the model's softmax, mixed with the n-gram member's if any."""
        probs = torch.softmax(logits, dim=-1).tolist()
        if encoded.ngram_positive is None:
            return probs
        positive = self.labels.index("positive")
        mixed = (1 - self.ngram_weight) * probs[positive] + self.ngram_weight * encoded.ngram_positive
        return [mixed if i == positive else 1.0 - mixed for i in range(len(probs))]

    def postprocess(self, encoded, logits) -> dict:
        """Logits of one text → label, Korean label, probabilities."""
        probs = self.probabilities(encoded, logits)
        best = max(range(len(probs)), key=probs.__getitem__)
        label = self.labels[best]
        return {"label": label, "label_ko": LABELS_KO.get(label, label),
                "score": probs[best],
                "probabilities": dict(zip(self.labels, probs)),
                "cleaned": encoded.cleaned, "truncated": encoded.truncated}


def clean_pair(first: str, second: str, cleaning: bool, align_numbers: bool) -> tuple:
    """Both sentences cleaned (if cleaning), then numbers spelled two ways in digits (if align_numbers)."""
    first, second = clean_if(first, cleaning), clean_if(second, cleaning)
    return align_number_spellings(first, second) if align_numbers else (first, second)


class SimilarityPredictor(Predictor):
    """A 0–5 similarity score for a sentence pair (a cross-encoder regression)."""

    task = SIMILARITY
    warm_up_input = ("안녕하세요", "반갑습니다")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A cross-encoder reads "A then B" and "B then A" a little differently; a model whose
        # export measured the mean of both orders better says "symmetric": true in serving.json.
        # It also makes the answer independent of which box a user typed each sentence in.
        self.symmetric = bool(serving_setting(self.serving_info, "symmetric"))
        # 「세 시」 on one side and 「3시」 on the other name one number; a model trained on pairs
        # that mostly write digits reads them as different words. "align_numbers": true in
        # serving.json writes such numbers in digits on both sides before scoring.
        self.align_numbers = bool(serving_setting(self.serving_info, "align_numbers"))

    def describe(self) -> dict:
        """The base description plus whether both pair orders are scored and numbers aligned."""
        return {**super().describe(), "symmetric": self.symmetric, "align_numbers": self.align_numbers}

    def clean_pair(self, first: str, second: str) -> tuple:
        """Both sentences as this model reads them (see clean_pair)."""
        return clean_pair(first, second, self.cleaning, self.align_numbers)

    def encode(self, pairs) -> list:
        """Each (sentence1, sentence2) pair cleaned and tokenized together (and swapped)."""
        cleaned = [self.clean_pair(a, b) for a, b in pairs]
        first = [a for a, _ in cleaned]
        second = [b for _, b in cleaned]
        encoded = self.tokenize([[a, b] for a, b in zip(first, second)], first, second)
        if self.symmetric:
            swapped = self.tokenize([[b, a] for a, b in zip(first, second)], second, first)
            for item, other in zip(encoded, swapped):
                item.swapped = other
                item.truncated = item.truncated or other.truncated
        return encoded

    def rows(self, encoded) -> list:
        """Each pair, then its swapped order when both are scored."""
        if not self.symmetric:
            return encoded
        return [row for item in encoded for row in (item, item.swapped)]

    def merge(self, encoded, logits) -> list:
        """The mean of each pair's two orders when both are scored."""
        if not self.symmetric:
            return logits
        return [(logits[i] + logits[i + 1]) / 2 for i in range(0, len(logits), 2)]

    def postprocess(self, encoded, logits) -> dict:
        """Raw regression output → clamped score, percent and verdict."""
        score = min(max(logits[0].item(), 0.0), 5.0)
        percent = round(score / 5 * 100)
        grade = int(score)  # the guideline's whole grade at or below: 2.9 is 2, so 비유사 agrees
        return {"score": score, "percent": percent, "similar": score >= SIMILAR_THRESHOLD,
                "message": f"유사도는 {percent}% 입니다", "grade": grade,
                "grade_ko": SCORE_GRADES_KO[grade],
                "cleaned": encoded.cleaned, "truncated": encoded.truncated}


def leave_one_out(cleaned, max_words) -> tuple:
    """The words of a cleaned text, and the text without each of its first max_words words."""
    words = cleaned.split()
    variants = [" ".join(words[:i] + words[i + 1:]) for i in range(min(len(words), max_words))]
    return words, variants


def word_contributions(words, full, without) -> list:
    """Per word, the positive probability with it minus without it (None past the cap)."""
    base = full["probabilities"]["positive"]
    changes = [base - result["probabilities"]["positive"] for result in without]
    return [{"word": word, "contribution": change}
            for word, change in itertools.zip_longest(words, changes)]


class BatchedPredictor:
    """A predictor whose predict() shares forward passes with concurrent callers.

    Callers clean and tokenize in their own threads; one batcher thread pads and runs the model.
    Everything else (name, task, describe, clean, labels…) is the wrapped predictor's.
    """

    def __init__(self, predictor, on_batch=None, on_queue_depth=None, call_cost_tokens=None,
                 **batcher_options):
        self.predictor = predictor
        task = predictor.task
        self.batcher = microbatch.MicroBatcher(
            predictor.forward_encoded, length_of=len, name=f"batcher-{task}",
            call_cost_tokens=call_cost_tokens or predictor.call_cost_tokens,
            on_batch=on_batch and functools.partial(on_batch, task),
            on_queue_depth=on_queue_depth and functools.partial(on_queue_depth, task),
            **batcher_options)

    def __getattr__(self, name):
        """The wrapped predictor's attribute (name, task, describe, clean, labels…)."""
        if name == "predictor":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.predictor, name)

    def predict(self, inputs) -> list:
        """One result dict per input; microbatch.Overloaded or microbatch.Timeout when too busy."""
        encoded = self.predictor.encode(inputs)
        logits = self.predictor.merge(encoded, self.batcher.submit(self.predictor.rows(encoded)))
        return [self.predictor.postprocess(item, row) for item, row in zip(encoded, logits)]

    def close(self) -> None:
        """Stop the batcher thread."""
        self.batcher.close()


PREDICTORS = {SENTIMENT: SentimentPredictor, SIMILARITY: SimilarityPredictor}


def load_predictor(location, task=None, **options) -> Predictor:
    """Load a predictor for a directory or model id, checking it serves the expected task."""
    try:
        config = AutoConfig.from_pretrained(str(location))
    except Exception as error:  # noqa: BLE001 - missing, unparsable or unknown: all refused alike
        raise ModelLoadError(f"cannot read a model config at {location!r}: {error}") from error
    found = task_of(config)
    if task and found != task:
        raise ModelLoadError(f"model at {location!r} is a {found} model, expected {task}")
    if found == SENTIMENT and config.num_labels != 2:
        raise ModelLoadError(f"model at {location!r} has {config.num_labels} labels; "
                             "a sentiment model has 2 (negative, positive)")
    if found == SENTIMENT:  # refused here, before the weights load, with the reason as it is
        sentiment_label_names(config, options.get("labels"))
    try:
        return PREDICTORS[found](location, **options)
    except Exception as error:  # noqa: BLE001 - libraries raise their own types (SafetensorError…)
        raise ModelLoadError(f"cannot load the model at {location!r}: {error}") from error


class PredictorRegistry:
    """One predictor per task per process, loaded once, lazily and thread-safely, and warmed up.

    With batcher_options (MicroBatcher settings, plus on_batch and on_queue_depth hooks that
    receive the task first), each predictor gets a batcher thread of its own.
    """

    def __init__(self, locations: dict, batcher_options=None, task_options=None, **options):
        self.locations = dict(locations)
        self.batcher_options = batcher_options
        self.task_options = task_options or {}  # e.g. {"sentiment": {"labels": [...]}}
        self.options = options
        self._predictors = {}
        self._lock = threading.Lock()

    def get(self, task):
        """The loaded predictor for task, loading it on first use."""
        predictor = self._predictors.get(task)
        if predictor is None:
            with self._lock:
                predictor = self._predictors.get(task)
                if predictor is None:
                    predictor = self._load(task)
                    self._predictors[task] = predictor
        return predictor

    def _load(self, task):
        """Load, warm up, and put a batcher in front when configured."""
        location = self.locations[task]
        predictor = load_predictor(location, task, **self.options,
                                   **self.task_options.get(task, {}))
        try:
            predictor.warm_up()
        except Exception as error:  # noqa: BLE001 - CUDA out of memory, ids past the embeddings…
            raise ModelLoadError(f"the model at {location!r} fails on a test input: {error}") \
                from error
        if self.batcher_options is not None:
            predictor = BatchedPredictor(predictor, **self.batcher_options)
        return predictor

    def load_all(self) -> None:
        """Load every configured model now (at worker start, so failures show up front)."""
        for task in self.locations:
            self.get(task)

    def loaded(self) -> dict:
        """Descriptions of the models loaded so far, by task."""
        return {task: p.describe() for task, p in self._predictors.items()}

    def close(self) -> None:
        """Stop the batcher threads of the loaded predictors."""
        for predictor in self._predictors.values():
            if isinstance(predictor, BatchedPredictor):
                predictor.close()
