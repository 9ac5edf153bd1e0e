"""Keys that find a review again after cleaning, and the held-out texts no training text may match.

Two keys, from strict to loose:

- `exact_key`: `preprocessing.clean()` then whitespace normalised: the same review as the model
  would read it.
- `loose_key`: the exact key lower-cased with everything but letters and digits removed and runs
  of one character cut to two, so "최고의 영화!!" and "최고의영화" meet. Used for near-duplicates,
  and for the held-out sets, where dropping too much costs nothing and missing a copy leaks.
"""
import re
import unicodedata

from preprocessing import clean
from training.data import sources

_NOT_WORD = re.compile(r"[\W_]+")
_RUNS = re.compile(r"(.)\1{2,}")


def exact_key(text: str) -> str:
    """The cleaned text with its whitespace normalised."""
    return " ".join(clean(text).split())


def loose_key(text: str) -> str:
    """Letters and digits of the cleaned, NFKC-folded, lower-cased text, long runs cut to two."""
    return loosen(exact_key(text))


def loosen(key: str) -> str:
    """The loose key of an exact key (saves cleaning a text twice)."""
    folded = unicodedata.normalize("NFKC", key).lower()
    return _RUNS.sub(r"\1\1", _NOT_WORD.sub("", folded))


def held_out_keys(root) -> dict:
    """Loose keys of NSMC test and of the dev fifth of NSMC train, by set name.

    The test reviews must never reach training in any form; the dev reviews pick checkpoints and
    the next round's teacher, so a student that trained on them (even with a teacher's labels)
    would make dev read better than test.
    """
    test = sources.load_nsmc(sources.data_dir(root) / "nsmc" / "ratings_test.txt")
    _, dev = nsmc_split(root)
    return {"test": {loose_key(text) for text in test["text"]},
            "dev": {loose_key(text) for text in dev["text"]}}


def nsmc_split(root):
    """NSMC train split 80:20 as the fine-tuning uses it: (train, dev) frames."""
    return sources.split_nsmc_train(sources.load_nsmc(sources.data_dir(root) / "nsmc" / "ratings_train.txt"))
