"""training/evaluate/plots.py: the evaluation plots, labelled in Korean when a Korean font is installed."""
import warnings

import pytest

from conftest import synthetic_outputs
from model_files import PLOTS
from training.evaluate import plots


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


def test_threshold_plot_marks_the_served_threshold():
    figure = plots.threshold_metrics_plot({"gold": [0.0, 1.0, 3.5, 4.0], "predicted": [0.5, 3.2, 2.9, 4.5]})
    (axes,) = figure.axes
    assert [line.get_label() for line in axes.get_lines()] == [  # Korean where a Korean font is installed
        plots.label("precision"), plots.label("recall"), plots.label("F1"),
        plots.label("served_threshold", t="3.0")]
    assert list(axes.get_lines()[-1].get_xdata()) == [3.0, 3.0]
    # At threshold 3.0: one of the two predicted similar pairs is gold-similar, one of two found.
    thresholds, f1 = axes.get_lines()[2].get_data()
    assert f1[list(thresholds).index(3.0)] == pytest.approx(0.5)


def test_accuracy_by_length_bands_count_every_review():
    outputs = {"labels": [1, 0, 1, 1], "predictions": [1, 1, 1, 0], "lengths": [0, 15, 15, 200]}
    (axes,) = plots.accuracy_by_length_plot(outputs).axes
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["0–10", "11–20", "81+"]
    assert [bar.get_height() for bar in axes.patches] == [1.0, 0.5, 0.0]
