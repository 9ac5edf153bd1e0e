"""Task metrics from scikit-learn and scipy, as plain JSON-ready dicts."""
import math

from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, mean_squared_error, roc_auc_score

SIMILAR_THRESHOLD = 3.0
# Fine grading: how well a model ranks the pairs a user asks "how similar?" about, those the
# annotators scored 2.5 or more. Overall correlation mostly rewards telling unrelated pairs from
# related ones; within these pairs it has to grade near-paraphrases.
FINE_GRADING_FROM = 2.5


def sentiment_metrics(labels, predictions, classes=2) -> dict:
    """Accuracy, macro F1 and the confusion matrix (rows: true class; sentiment: negative/positive)."""
    return {"accuracy": float(accuracy_score(labels, predictions)),
            "macro_f1": float(f1_score(labels, predictions, average="macro")),
            "confusion_matrix": confusion_matrix(labels, predictions, labels=list(range(classes))).tolist(),
            "n": len(labels)}


def correlation(value) -> float | None:
    """A correlation as a float, or None where it is undefined (constant predictions)."""
    return None if math.isnan(value) else float(value)


def correlations(gold, predicted) -> dict:
    """Pearson and Spearman, None where undefined (fewer than two pairs or constant values)."""
    if len(gold) < 2 or len(set(predicted)) < 2 or len(set(gold)) < 2:
        return {"pearson": None, "spearman": None, "n": len(gold)}  # scipy would warn and give NaN
    return {"pearson": correlation(pearsonr(gold, predicted).statistic),
            "spearman": correlation(spearmanr(gold, predicted).statistic), "n": len(gold)}


def fine_grading(gold, predicted) -> dict:
    """Pearson and Spearman within the pairs whose gold score is at least FINE_GRADING_FROM."""
    kept = [(score, guess) for score, guess in zip(gold, predicted) if score >= FINE_GRADING_FROM]
    return correlations([score for score, _ in kept], [guess for _, guess in kept])


def similarity_metrics(gold, predicted) -> dict:
    """Pearson, Spearman, MSE, the F1 of the binary decision score >= 3.0, and fine grading."""
    gold_binary = [score >= SIMILAR_THRESHOLD for score in gold]
    predicted_binary = [score >= SIMILAR_THRESHOLD for score in predicted]
    overall = correlations(gold, predicted)
    return {"pearson": overall["pearson"], "spearman": overall["spearman"],
            "mse": float(mean_squared_error(gold, predicted)),
            "binary_f1": float(f1_score(gold_binary, predicted_binary, zero_division=0)),
            "fine_grading": fine_grading(gold, predicted), "n": len(gold)}


def calibration_table(gold, predicted, width=0.5) -> list:
    """Pairs in bins of predicted score (`width` wide, 0–5): how many, mean predicted, mean gold."""
    # A gold mean under a bin's predicted mean: the model reads such pairs as more alike than the
    # annotators did; over it, as less alike.
    bins = {}
    last = round(5.0 / width) - 1  # a prediction of exactly 5.0 joins the top bin
    for score, guess in zip(gold, predicted):
        bins.setdefault(min(max(int(guess // width), 0), last), []).append((score, guess))
    return [{"predicted_from": index * width, "predicted_to": (index + 1) * width, "pairs": len(rows),
             "predicted_mean": round(sum(guess for _, guess in rows) / len(rows), 4),
             "gold_mean": round(sum(score for score, _ in rows) / len(rows), 4)}
            for index, rows in sorted(bins.items())]


PARAPHRASE_SCORE = 4.0  # the page's "paraphrases read ≥ 80%"
UNRELATED_SCORE = 1.0  # and "unrelated pairs ≤ 20%"


def paraphrase_metrics(labels, predicted) -> dict:
    """For pairs labelled 1 (same meaning) or 0 (unrelated): how each kind reads on the 0–5 scale.

    The shares of paraphrases at ≥ 80% and of unrelated pairs at ≤ 20%, both means, and the ROC AUC.
    """
    same = [score for label, score in zip(labels, predicted) if label == 1]
    other = [score for label, score in zip(labels, predicted) if label == 0]
    both_kinds = bool(same) and bool(other)
    return {"paraphrase_mean": sum(same) / len(same) if same else None,
            "paraphrase_at_80": sum(s >= PARAPHRASE_SCORE for s in same) / len(same) if same else None,
            "unrelated_mean": sum(other) / len(other) if other else None,
            "unrelated_at_20": sum(s <= UNRELATED_SCORE for s in other) / len(other) if other else None,
            "auc": float(roc_auc_score(labels, predicted)) if both_kinds else None,
            "n": len(labels)}


def headline(task, metrics) -> float:
    """The one number a model is selected on (-inf when undefined): accuracy, or for similarity
    the mean of the overall and the fine-grading Spearman, so a choice weighs both (Spearman
    alone for evaluation files written before fine grading was measured)."""
    if task != "similarity":
        return metrics["accuracy"]
    values = [metrics["spearman"]]
    if "fine_grading" in metrics:
        values.append(metrics["fine_grading"]["spearman"])
    return -math.inf if None in values else sum(values) / len(values)
