"""training/plots.py: the evaluation plots, labelled in Korean when a Korean font is installed."""
import warnings

import pytest

from conftest import synthetic_outputs
from model_info import PLOTS
from training import plots


@pytest.fixture
def no_korean_font(monkeypatch):
    """A machine without any font of plots.KOREAN_FONTS."""
    monkeypatch.setattr(plots, "korean_font", lambda: None)


def test_labels_are_korean_with_a_korean_font(monkeypatch):
    monkeypatch.setattr(plots, "korean_font", lambda: "NanumGothic")
    assert plots.label("confusion_title", n=50000) == "혼동 행렬 (n = 50,000)"
    assert plots.font_settings() == {"font.family": ["NanumGothic", "DejaVu Sans"],
                                     "axes.unicode_minus": False}


def test_labels_fall_back_to_english_without_one(no_korean_font):
    assert plots.label("confusion_title", n=50000) == "Confusion matrix (n = 50,000)"
    assert plots.label("served_threshold", t=3.0) == "served threshold 3.0"
    assert plots.font_settings() == {}


def test_every_label_has_both_languages():
    assert all(len(pair) == 2 and all(pair) for pair in plots.LABELS.values())


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
@pytest.mark.parametrize("font", ["installed", "none"])
def test_plots_draw_every_glyph(task, font, tmp_path, request):
    if font == "none":
        request.getfixturevalue("no_korean_font")
    elif plots.korean_font() is None:
        pytest.skip("no Korean font installed (apt-get install fonts-nanum)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns for each glyph a font lacks
        paths = plots.write_plots(task, synthetic_outputs(task), tmp_path)
    assert [path.name for path in paths] == list(PLOTS[task])
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in paths)
