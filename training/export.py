"""Copy a trained model into running_model/<task> in fp16, with its model card.

    python -m training.export --model runs/sentiment/best --out running_model/sentiment \
        --evaluations results/sentiment-nsmc-test.json --command "python -m training.finetune --task sentiment"
"""
import json
import os
import platform
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, HfArgumentParser

from model_info import EVALUATIONS_FILE, PLOT_DIR
from models import SERVING_FILE

MAX_SHARD = "30MB"


@dataclass
class ExportArgs:
    model: str = field(metadata={"help": "Trained model directory (runs/<task>/best)."})
    out: str = field(metadata={"help": "Destination (running_model/<task>); replaced."})
    evaluations: list[str] = field(default_factory=list, metadata={"help": "training.evaluate / baselines JSON files for the card."})
    command: list[str] = field(default_factory=list, metadata={"help": "Commands that made the model, for the card."})
    name: str = field(default=None, metadata={"help": "Model name shown by the app (default: keep)."})
    notes: str = field(default="", metadata={"help": "Extra Markdown for the card."})
    plots: str = field(default=None, metadata={"help": "A training.evaluate --plots directory: its plots are copied to <out>/plots and shown in the card."})


def architecture(config) -> str:
    """One line describing the network."""
    return (f"ELECTRA discriminator, {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
            f"embedding {config.embedding_size}, {config.num_attention_heads} heads, "
            f"FFN {config.intermediate_size}, vocabulary {config.vocab_size}")


def evaluation_rows(paths) -> list:
    """Markdown table rows from saved evaluation JSON files."""
    rows = []
    for path in paths:
        result = json.loads(Path(path).read_text())
        figures = ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items() if isinstance(v, float))
        name = result["model"] + (" (int8, `QUANTIZE`)" if result.get("quantized") else "")
        rows.append(f"| {name} | `{Path(result['data']).name}` | {figures} | `{path}` |")
    return rows


def model_card(args, config, train_args, dev, serving) -> str:
    """The README.md of an exported model directory."""
    size = sum(p.stat().st_size for p in Path(args.out).glob("*.safetensors")) / 2**20
    lines = [f"# {serving['name']}", "",
             f"Task: **{serving['task']}**. Exported {date.today().isoformat()} by `training.export`.", "",
             "## Model", "", f"- {architecture(config)}; weights fp16, {size:.1f} MB.",
             f"- Initialisation: {train_args.get('init') or 'random (no pretraining)'}.",
             f"- Tokenizer: `{train_args.get('init') or train_args.get('tokenizer')}`.",
             f"- Text cleaning (`preprocessing.clean`): {'on' if serving['clean'] else 'off'} "
             f"(recorded in `{SERVING_FILE}`, which serving follows).", "",
             "## Data", "", DATA_LINES[serving["task"]], "",
             "## Commands", "", "```", *args.command, "```", "",
             "## Training", "",
             f"- Best dev checkpoint at step {dev.get('step')} (epoch {dev.get('epoch')}), "
             f"after {dev.get('train_seconds')} s of training on {dev.get('device')} "
             f"({platform.machine()}, {train_args.get('threads') or os.cpu_count()} threads); "
             "full arguments in `train_args.json`.",
             f"- Dev metrics at selection: `{json.dumps({k: v for k, v in dev.items() if isinstance(v, float)})}`.",
             "", "## Evaluation (`training.evaluate`, through the serving predictor)", "",
             "| model | data | metrics | file |", "|---|---|---|---|", *evaluation_rows(args.evaluations)]
    if args.notes:
        lines += ["", "## Notes", "", args.notes]
    return "\n".join(lines) + "\n"


DATA_LINES = {
    "sentiment": "NSMC (e9t/nsmc, CC0): `ratings_train.txt` split 80:20 (random_state=42) into train "
                 "and dev; dev selects the checkpoint; the final score is on `ratings_test.txt` (50,000).",
    "similarity": "KorSTS (kakaobrain/KorNLUDatasets, CC BY-SA 4.0): trained on `sts-train.tsv`, "
                  "selected and scored on `sts-dev.tsv` (1,500 pairs).",
}


def export(args: ExportArgs):
    """Write the fp16 model, tokenizer, serving metadata and card to args.out."""
    source = Path(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(source).to(torch.float16)
    tokenizer = AutoTokenizer.from_pretrained(source)
    shutil.rmtree(args.out, ignore_errors=True)
    model.save_pretrained(args.out, max_shard_size=MAX_SHARD)
    tokenizer.save_pretrained(args.out)
    serving = json.loads((source / SERVING_FILE).read_text())
    serving["name"] = args.name or serving["name"]
    Path(args.out, SERVING_FILE).write_text(json.dumps(serving, indent=2, ensure_ascii=False))
    for extra in ("train_args.json", "dev_metrics.json"):
        shutil.copy(source / extra, Path(args.out) / extra)
    train_args = json.loads((source / "train_args.json").read_text())
    dev = json.loads((source / "dev_metrics.json").read_text())
    plots = copy_plots(args.plots, args.out, serving["task"]) if args.plots else []
    save_evaluations(args.evaluations, args.out)
    card = model_card(args, model.config, train_args, dev, serving) + plots_section(plots)
    Path(args.out, "README.md").write_text(card)


def copy_plots(source, out, task) -> list:
    """Copy the task's evaluation plots found in source to out/plots; the names copied."""
    from training.plots import PLOTS  # the names the app serves (model_info.PLOTS)
    names = [name for name in PLOTS[task] if Path(source, name).is_file()]
    if not names:
        raise FileNotFoundError(f"no {task} plots ({', '.join(PLOTS[task])}) in {source}")
    Path(out, PLOT_DIR).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(Path(source, name), Path(out, PLOT_DIR, name))
    return names


def plots_section(names) -> str:
    """The card's Markdown for the copied plots (images relative to the model directory)."""
    from training.plots import TITLES
    if not names:
        return ""
    images = [f"![{TITLES[name]}]({PLOT_DIR}/{name})" for name in names]
    return "\n## Plots (`training.evaluate --plots`)\n\n" + "\n\n".join(images) + "\n"


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
