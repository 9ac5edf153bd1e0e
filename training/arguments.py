"""Command lines of the training scripts: dataclass defaults ← a JSON config ← the command line."""
import json
import sys
from pathlib import Path

from transformers import HfArgumentParser


def pop_option(argv, name):
    """Remove `name VALUE` from argv and return VALUE (None when absent)."""
    if name in argv:
        index = argv.index(name)
        value = argv[index + 1]
        del argv[index:index + 2]
        return value
    return None


def parse_with_config(args_class, argv=None, default_config=None):
    """Parse argv into args_class; `--config FILE` (else default_config, if it exists) sets defaults.

    Unknown keys in the config are refused, so a typo never passes silently.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(args_class)
    config = pop_option(argv, "--config") or default_config
    if config and Path(config).exists():
        values = json.loads(Path(config).read_text())
        unknown = set(values) - set(args_class.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown keys in {config}: {sorted(unknown)}")
        parser.set_defaults(**values)
    (args,) = parser.parse_args_into_dataclasses(argv)
    return args
