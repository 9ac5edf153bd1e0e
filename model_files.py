"""The files of a model directory: their names, serving.json's fields, and how to read them.

A served model is a save_pretrained directory (config, weights, tokenizer) plus the files below.
Training writes them (training.train.finetune, release.average, encoders.import_e5, release.export),
the app reads them (models, model_info, ngrams); both name them from here, so training never imports
a web module to learn a file name. Every file is optional for serving: a model from elsewhere has none.

Pure Python on purpose (no Flask, no torch): anything may import it.
"""
import json
from pathlib import Path

CARD_FILE = "README.md"  # the model card (training.release.export writes it; the model page renders it)
SERVING_FILE = "serving.json"  # how the app serves the weights: the fields of SERVING_DEFAULTS
TRAIN_ARGS_FILE = "train_args.json"  # the arguments of the run that made the weights
DEV_METRICS_FILE = "dev_metrics.json"  # the dev scores the checkpoint was selected on
IMPORT_FILE = "import.json"  # training.encoders.import_e5's record of a conversion of e5 weights
EVALUATIONS_FILE = "evaluations.json"  # training.evaluate.score / baselines results, saved by export
SUMMARY_FILE = "summary_ko.json"  # the model page's Korean summary (format in model_info)
NGRAM_FILE = "ngram.safetensors"  # a sentiment ensemble's n-gram member (ngrams.HashedNgramModel)
PLOT_DIR = "plots"  # the evaluation plots, under the names of PLOTS only

# serving.json's "task": what the weights do.
SENTIMENT = "sentiment"
SIMILARITY = "similarity"
TASKS = (SENTIMENT, SIMILARITY)

# Every serving.json field and its value when the file (or the field) is missing.
SERVING_DEFAULTS = {
    "name": None,  # the name the app shows; None: the directory's or the hub id's
    "task": None,  # SENTIMENT or SIMILARITY; the config's head decides what the model does
    "origin": None,  # one line on what the weights are and how they were made (export)
    "clean": True,  # preprocessing.clean() each text first, as in training
    "quantize": True,  # int8 allowed on a CPU; false where export measured it costing accuracy
    "int8_layers": "attention+feed-forward",  # compute.INT8_LAYER_SETS: which Linear layers int8 takes
    "ngram_weight": 0.0,  # sentiment: NGRAM_FILE's weight in P(positive); 0: no ensemble
    "symmetric": False,  # similarity: score both pair orders and serve their mean
    "align_numbers": False,  # similarity: a number spelt in words on one side read as digits
}

# The evaluation plots training.evaluate.plots draws, by task, in the order a page shows them: the only
# files ever served from PLOT_DIR.
PLOTS = {
    SENTIMENT: ("confusion_matrix.png", "reliability.png", "accuracy_by_length.png"),
    SIMILARITY: ("predicted_vs_gold.png", "score_distributions.png", "threshold_metrics.png"),
}


def read_serving_info(location) -> dict:
    """serving.json's fields as written in a model directory; {} where it has none."""
    path = Path(location) / SERVING_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {}


def serving_setting(info, field):
    """One field of serving.json's content info, or its default (SERVING_DEFAULTS)."""
    return info.get(field, SERVING_DEFAULTS[field])


def write_serving_info(directory, info) -> None:
    """Write info as a model directory's serving.json."""
    text = json.dumps(info, indent=2, ensure_ascii=False)
    Path(directory, SERVING_FILE).write_text(text, encoding="utf-8")


def data_label(path) -> str:
    """A data file as its folder and name: korsts/ and stylekqc/ both hold an sts-dev.tsv."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def evaluation_data(result) -> str:
    """What a saved evaluation scored: its file, and which part of it when only a held-out part."""
    part = " (dev fifth)" if result.get("task") == SENTIMENT else " (held-out 10%)"
    return data_label(result.get("data", "?")) + (part if result.get("held_out") else "")
