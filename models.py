"""Load a task's predictor and serve it: load_predictor, BatchedPredictor, PredictorRegistry.

The predictors themselves are in predictor.py (the base: encode → forward → postprocess) and
sentiment_predictor.py / similarity_predictor.py; the device and dtype choice in compute.py.
`BatchedPredictor` puts a `microbatch.MicroBatcher` between encode and forward, so concurrent
requests share forward passes.
"""
import functools
import threading

from transformers import AutoConfig

import microbatch
from model_errors import ModelLoadError
# The tasks are serving.json's; models.SENTIMENT, models.TASKS… stay the names the app uses.
from model_files import SENTIMENT, SIMILARITY, TASKS  # noqa: F401
from predictor import Predictor
from sentiment_predictor import SentimentPredictor, sentiment_label_names
from similarity_predictor import SimilarityPredictor

PREDICTORS = {SENTIMENT: SentimentPredictor, SIMILARITY: SimilarityPredictor}


def task_of(config) -> str:
    """Which task a sequence-classification config is for: one regression output is similarity."""
    if config.problem_type == "regression" or config.num_labels == 1:
        return SIMILARITY
    return SENTIMENT


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
