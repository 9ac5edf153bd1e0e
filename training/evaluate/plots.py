"""Evaluation plots (matplotlib, Agg backend): what `training.evaluate.score --plots DIR` draws.

Sentiment: the confusion matrix, a reliability (calibration) curve and accuracy by review
length. Similarity: predicted against gold scores, both score distributions, and precision /
recall / F1 of the "similar" verdict against its threshold. The file names are
model_files.PLOTS, the only plots the app serves from a model directory.

The labels are Korean, for the model page, when a font with Hangul is installed (NanumGothic
from Debian's fonts-nanum, which `make test` installs); without one they are English, since
matplotlib's own fonts would draw Hangul as empty boxes.
"""
import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, precision_recall_fscore_support  # noqa: E402

from model_files import PLOTS  # noqa: E402
from training.metrics import SIMILAR_THRESHOLD  # noqa: E402

LENGTH_EDGES = (-1, 10, 20, 40, 80, np.inf)  # characters: 0–10, 11–20, 21–40, 41–80, 81+
# 0.2-wide bins centred on multiples of 0.2: gold scores are averages of ratings (3.8, 4.2…),
# which bin edges at those values would split unevenly by rounding.
SCORE_BINS = np.linspace(-0.1, 5.1, 27)
DPI = 100
# Fonts with Hangul, in order of preference: Debian's fonts-nanum, then Noto CJK.
KOREAN_FONTS = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR")
# Every label the plots draw: key → (Korean, English).
LABELS = {
    "negative": ("부정", "negative"), "positive": ("긍정", "positive"),
    "confusion_title": ("혼동 행렬 (n = {n:,})", "Confusion matrix (n = {n:,})"),
    "true_label": ("실제 레이블", "True label"), "predicted_label": ("예측 레이블", "Predicted label"),
    "perfect": ("완벽한 보정", "perfectly calibrated"), "model": ("모델", "model"),
    "observed_positive": ("실제 긍정 비율", "observed positive rate"),
    "reliability_title": ("신뢰도 곡선 (10구간)", "Reliability (10 bins)"),
    "predicted_positive": ("예측한 긍정 확률", "predicted positive probability"),
    "reviews": ("리뷰 수", "reviews"),
    "length": ("리뷰 길이 (글자 수)", "review length (characters)"),
    "accuracy": ("정확도", "accuracy"),
    "length_title": ("리뷰 길이별 정확도", "Accuracy by review length"),
    "gold_score": ("정답 점수", "gold score"), "predicted_score": ("예측 점수", "predicted score"),
    "vs_title": ("예측 점수와 정답 점수 (n = {n:,})", "Predicted vs gold (n = {n:,})"),
    "predicted_scores": ("예측 점수 분포", "Predicted scores"),
    "gold_scores": ("정답 점수 분포", "Gold scores"), "score": ("점수", "score"),
    "pairs": ("문장 쌍 수", "pairs"),
    "precision": ("정밀도", "precision"), "recall": ("재현율", "recall"), "F1": ("F1", "F1"),
    "served_threshold": ("서비스 기준 {t}", "served threshold {t}"),
    "threshold": ("예측 점수의 기준값", "threshold on the predicted score"),
    "threshold_title": ("기준값별 ‘유사’ 판정 (정답 {t} 이상이 유사)", '"similar" verdict against gold >= {t}'),
}


@functools.cache
def korean_font():
    """The first installed font of KOREAN_FONTS, or None (then the labels are English)."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in KOREAN_FONTS if name in installed), None)


def label(key, **values) -> str:
    """A plot label in Korean when a Korean font is installed, else in English."""
    korean, english = LABELS[key]
    return (korean if korean_font() else english).format(**values)


def font_settings() -> dict:
    """matplotlib settings that draw the labels: the Korean font first, if there is one."""
    if not korean_font():
        return {}
    # Nanum fonts have no U+2212 minus sign: an ASCII hyphen instead of a missing glyph.
    return {"font.family": [korean_font(), "DejaVu Sans"], "axes.unicode_minus": False}


def confusion_matrix_plot(outputs) -> Figure:
    """Counts of each true label (rows) by predicted label (columns)."""
    figure = Figure(figsize=(4.5, 4))
    axes = figure.subplots()
    ConfusionMatrixDisplay.from_predictions(
        outputs["labels"], outputs["predictions"], labels=[0, 1],
        display_labels=[label("negative"), label("positive")], values_format="d", colorbar=False,
        ax=axes)
    axes.set(title=label("confusion_title", n=len(outputs["labels"])),
             xlabel=label("predicted_label"), ylabel=label("true_label"))
    return figure


def reliability_plot(outputs) -> Figure:
    """Observed positive rate against predicted positive probability, with how many per bin."""
    figure = Figure(figsize=(5, 5.5))
    curve, counts = figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    observed, predicted = calibration_curve(outputs["labels"], outputs["positive"], n_bins=10)
    curve.plot([0, 1], [0, 1], "--", color="grey", label=label("perfect"))
    curve.plot(predicted, observed, "o-", label=label("model"))
    curve.set(ylabel=label("observed_positive"), title=label("reliability_title"))
    curve.legend(loc="upper left")
    counts.hist(outputs["positive"], bins=np.linspace(0, 1, 11), color="tab:blue")
    counts.set(xlabel=label("predicted_positive"), ylabel=label("reviews"))
    figure.tight_layout()
    return figure


def accuracy_by_length_plot(outputs) -> Figure:
    """Accuracy of the reviews in each length band, with each band's count."""
    lengths, correct = np.asarray(outputs["lengths"]), (
        np.asarray(outputs["labels"]) == np.asarray(outputs["predictions"]))
    bands, accuracies, counts = [], [], []
    for low, high in zip(LENGTH_EDGES, LENGTH_EDGES[1:]):
        inside = (lengths > low) & (lengths <= high)
        if inside.any():
            bands.append(f"{low + 1}–{high}" if high < np.inf else f"{low + 1}+")
            accuracies.append(correct[inside].mean())
            counts.append(int(inside.sum()))
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    bars = axes.bar(bands, accuracies, color="tab:blue")
    axes.bar_label(bars, labels=[f"{a:.1%}\nn={n:,}" for a, n in zip(accuracies, counts)])
    axes.set(ylim=(0, 1.15), xlabel=label("length"), ylabel=label("accuracy"),
             title=label("length_title"))
    return figure


def predicted_vs_gold_plot(outputs) -> Figure:
    """Each pair's predicted score against its gold score, and the y = x line."""
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    axes.scatter(outputs["gold"], outputs["predicted"], s=6, alpha=0.4)
    axes.plot([0, 5], [0, 5], "--", color="grey", label="y = x")
    axes.set(xlim=(-0.1, 5.1), ylim=(-0.1, 5.1), xlabel=label("gold_score"),
             ylabel=label("predicted_score"), title=label("vs_title", n=len(outputs["gold"])))
    axes.legend(loc="upper left")
    return figure


def score_distributions_plot(outputs) -> Figure:
    """Histograms of the predicted and the gold scores, side by side on the same bins."""
    figure = Figure(figsize=(8, 3.5))
    predicted, gold = figure.subplots(1, 2, sharey=True)
    predicted.hist(outputs["predicted"], bins=SCORE_BINS, color="tab:blue")
    predicted.set(title=label("predicted_scores"), xlabel=label("score"), ylabel=label("pairs"))
    gold.hist(outputs["gold"], bins=SCORE_BINS, color="tab:orange")
    gold.set(title=label("gold_scores"), xlabel=label("score"))
    figure.tight_layout()
    return figure


def threshold_metrics_plot(outputs) -> Figure:
    """Precision, recall and F1 of "predicted >= t" against gold >= 3.0, for t from 0 to 5."""
    gold = np.asarray(outputs["gold"]) >= SIMILAR_THRESHOLD
    predicted, thresholds = np.asarray(outputs["predicted"]), np.linspace(0, 5, 101)
    scores = np.array([precision_recall_fscore_support(gold, predicted >= t, average="binary",
                                                       zero_division=0)[:3] for t in thresholds])
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for column, name in enumerate(("precision", "recall", "F1")):
        axes.plot(thresholds, scores[:, column], label=label(name))
    axes.axvline(SIMILAR_THRESHOLD, color="grey", linestyle="--",
                 label=label("served_threshold", t=SIMILAR_THRESHOLD))
    axes.set(xlabel=label("threshold"), ylim=(0, 1.05),
             title=label("threshold_title", t=SIMILAR_THRESHOLD))
    axes.legend(loc="lower left")
    return figure


# What each plot shows, for the model card (English, like the card).
TITLES = {
    "confusion_matrix.png": "Confusion matrix", "reliability.png": "Reliability curve",
    "accuracy_by_length.png": "Accuracy by review length",
    "predicted_vs_gold.png": "Predicted against gold scores",
    "score_distributions.png": "Predicted and gold score distributions",
    "threshold_metrics.png": "Precision, recall and F1 against the threshold",
}
DRAW = {
    "confusion_matrix.png": confusion_matrix_plot, "reliability.png": reliability_plot,
    "accuracy_by_length.png": accuracy_by_length_plot,
    "predicted_vs_gold.png": predicted_vs_gold_plot,
    "score_distributions.png": score_distributions_plot,
    "threshold_metrics.png": threshold_metrics_plot,
}


def write_plots(task, outputs, directory) -> list:
    """Draw every plot of task from the evaluation's outputs into directory; their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(font_settings()):  # fonts are looked up when drawn and saved
        for name in PLOTS[task]:
            DRAW[name](outputs).savefig(directory / name, dpi=DPI)
            paths.append(directory / name)
    return paths
