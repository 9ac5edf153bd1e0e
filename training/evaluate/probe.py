"""Everyday pairs a person might try on the similarity page, scored as the app scores them.

    python -m training.evaluate.probe --models running_model/similarity runs/sim-e5-rank2/best \
        --out results/probe-similarity.json

The pairs are `training/evaluate/probes/similarity.tsv` (`kind sentence1 sentence2`): the page's own
examples and a few more written here, never trained on. Each is a paraphrase, a same-topic
contradiction or an unrelated pair. Per kind, the report counts the pairs that read right by the
issue's lines: a paraphrase at ≥ 80%, an unrelated pair at ≤ 20%, a contradiction not called
유사 (under 60%, a score under 3.0). Two dozen pairs are a look at what a user sees, not a
benchmark: select on the dev sets, and read this beside them.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd
from transformers import HfArgumentParser

from models import SIMILARITY, load_predictor
from similarity_predictor import SIMILAR_THRESHOLD
from training.metrics import PARAPHRASE_SCORE, UNRELATED_SCORE

PROBES = Path(__file__).parent / "probes" / "similarity.tsv"
KINDS = ("paraphrase", "contradiction", "unrelated")


@dataclass
class ProbeArgs:
    models: list[str] = field(metadata={"help": "Similarity model directories to score."})
    probes: str = field(default=str(PROBES), metadata={"help": "TSV of `kind sentence1 sentence2`."})
    out: str = field(default=None, metadata={"help": "Also write the report here as JSON."})
    symmetric: Optional[bool] = field(default=None, metadata={"help": "Override each model's pair-order choice (serving.json `symmetric`), as training.evaluate.score does: a training run's best/ has none and scores one order."})
    align_numbers: Optional[bool] = field(default=None, metadata={"help": "Override each model's number-spelling choice (serving.json `align_numbers`), as training.evaluate.score does."})


def load_probes(path=PROBES) -> pd.DataFrame:
    """The probe pairs, refusing a kind the report does not know."""
    frame = pd.read_csv(path, sep="\t", quoting=3, keep_default_na=False)
    unknown = sorted(set(frame["kind"]) - set(KINDS))
    if unknown:
        raise ValueError(f"{path}: unknown kinds {unknown}; expected one of {KINDS}")
    return frame


def as_percent(score) -> float:
    """A 0–5 score as the page's percentage."""
    return score / 5 * 100


def reads_right(kind, percent) -> bool:
    """Whether a pair's shown percentage reads right for its kind (the lines in the module docstring)."""
    if kind == "paraphrase":
        return percent >= as_percent(PARAPHRASE_SCORE)
    if kind == "unrelated":
        return percent <= as_percent(UNRELATED_SCORE)
    return percent < as_percent(SIMILAR_THRESHOLD)


def probe(model, frame, symmetric=None, align_numbers=None) -> dict:
    """One model's percentages on every pair, and per kind how many read right."""
    predictor = load_predictor(model, SIMILARITY)  # serving.json decides, as in the app…
    if symmetric is not None:  # …unless overridden
        predictor.symmetric = symmetric
    if align_numbers is not None:
        predictor.align_numbers = align_numbers
    results = predictor.predict([[a, b] for a, b in zip(frame["sentence1"], frame["sentence2"])])
    pairs = [{"kind": kind, "sentence1": a, "sentence2": b, "percent": result["percent"],
              "reads_right": reads_right(kind, result["percent"])}
             for kind, a, b, result in zip(frame["kind"], frame["sentence1"], frame["sentence2"], results)]
    kinds = {}
    for kind in KINDS:
        mine = [pair for pair in pairs if pair["kind"] == kind]
        if mine:
            kinds[kind] = {"pairs": len(mine), "reads_right": sum(pair["reads_right"] for pair in mine),
                           "mean_percent": round(sum(pair["percent"] for pair in mine) / len(mine), 1)}
    return {"model": model, "symmetric": predictor.symmetric, "align_numbers": predictor.align_numbers, "kinds": kinds, "pairs": pairs}


def main(argv=None):
    """Score every model; print one line per model and kind, and optionally write JSON."""
    (args,) = HfArgumentParser(ProbeArgs).parse_args_into_dataclasses(argv)
    frame = load_probes(args.probes)
    reports = [probe(model, frame, args.symmetric, args.align_numbers) for model in args.models]
    for report in reports:
        for kind, summary in report["kinds"].items():
            print(f"{report['model']}  {kind}: {summary['reads_right']}/{summary['pairs']} read right, "
                  f"mean {summary['mean_percent']}%  "
                  f"{[pair['percent'] for pair in report['pairs'] if pair['kind'] == kind]}")
    if args.out:
        Path(args.out).write_text(json.dumps(reports, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
