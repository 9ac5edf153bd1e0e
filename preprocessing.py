"""Text cleaning shared by serving and training: the KcELECTRA cleaner for today's libraries."""
import importlib.util
import re
import sys

import emoji


def _import_repeat_normalize():
    """soynlp's repeat_normalize, imported without running soynlp/__init__.py.

    That file imports every soynlp tool and with them pandas and scikit-learn: about 70 MB in
    each serving worker for one regex function. With the package registered unexecuted, Python
    runs only soynlp.normalizer and the soynlp.hangle it needs. Other soynlp tools are then
    reachable as submodules (`import soynlp.noun`), not as attributes of a bare `import soynlp`.
    """
    if "soynlp" not in sys.modules:
        spec = importlib.util.find_spec("soynlp")
        sys.modules["soynlp"] = importlib.util.module_from_spec(spec)
    from soynlp.normalizer import repeat_normalize
    return repeat_normalize


repeat_normalize = _import_repeat_normalize()

# Printable ASCII, Korean jamo and syllables, and the punctuation KcELECTRA keeps;
# everything else (Hanja, kana, control characters, symbols) becomes a space.
_UNWANTED = re.compile(r"[^ -~ㄱ-ㅣ가-힣 .,?!/@$%~％·∼()]+")
_URL = re.compile(
    r"https?://(www\.)?[-a-zA-Z0-9@:%._+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b"
    r"([-a-zA-Z0-9()@:%_+.~#?&/=]*)"
)
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """Clean one text the KcELECTRA way: drop emoji, URLs and odd characters, shorten repeats."""
    text = emoji.replace_emoji(text, replace=" ")
    text = _URL.sub(" ", text)
    text = _UNWANTED.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    # ㅋㅋㅋㅋㅋ → ㅋㅋ: long repeats carry no more meaning than two and waste tokens.
    return repeat_normalize(text, num_repeats=2)


def clean_if(text: str, enabled: bool) -> str:
    """Apply clean() when enabled, else only trim the text (a model may be trained either way)."""
    return clean(text) if enabled else text.strip()
