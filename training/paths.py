"""Where training runs live: outside the checkout, so a fresh clone or `git clean` keeps them."""
import os
from pathlib import Path

RUNS_DIR_ENV = "KOTEXT_RUNS_DIR"


def runs_dir() -> Path:
    """$KOTEXT_RUNS_DIR, else ~/.cache/kotext/runs."""
    return Path(os.environ.get(RUNS_DIR_ENV) or Path.home() / ".cache" / "kotext" / "runs")
