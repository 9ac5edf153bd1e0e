"""Token lengths of the NSMC train reviews under a tokenizer: how much each max length would cut.

    python -m training.data.lengths --tokenizer runs/e5-small-ko      # JSON: mean, percentiles, share over
"""
import json
from dataclasses import dataclass, field

import numpy as np
from transformers import AutoTokenizer, HfArgumentParser

from preprocessing import clean_if
from training.data.dedup import nsmc_split


@dataclass
class LengthArgs:
    tokenizer: str = field(metadata={"help": "Tokenizer directory (a model or an imported encoder)."})
    data_dir: str = field(default=None, metadata={"help": "Data root (default $KOTEXT_DATA_DIR or ../shared/data)."})
    clean: bool = field(default=True, metadata={"help": "Apply preprocessing.clean() first, as training does."})
    limit: int = field(default=20000, metadata={"help": "Count the first N train reviews (0 = all)."})
    max_lengths: str = field(default="48,64,96,128", metadata={"help": "Comma-separated limits to report."})


def length_report(args: LengthArgs) -> dict:
    """Mean and percentiles of tokens per review (specials included), and the share over each limit."""
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    texts = nsmc_split(args.data_dir)[0]["text"].tolist()
    texts = texts[:args.limit] if args.limit else texts
    counts = np.array([len(ids) for ids in tokenizer([clean_if(t, args.clean) for t in texts])["input_ids"]])
    limits = [int(n) for n in args.max_lengths.split(",")]
    return {"reviews": len(counts), "mean": round(float(counts.mean()), 2),
            "p95": float(np.percentile(counts, 95)), "p99": float(np.percentile(counts, 99)),
            "max": int(counts.max()),
            "share_longer_than": {str(n): round(float((counts > n).mean()), 4) for n in limits},
            "tokenizer": args.tokenizer, "clean": args.clean}


def main(argv=None):
    """Print the report as JSON."""
    (args,) = HfArgumentParser(LengthArgs).parse_args_into_dataclasses(argv)
    print(json.dumps(length_report(args), indent=2))


if __name__ == "__main__":
    main()
