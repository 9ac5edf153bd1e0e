"""What a model page and /api/v1/models/<task> show: a loaded model's facts, card, metrics, plots.

Everything is read from the model's directory: the card (README.md), the metrics that
training.export saved (evaluations.json, dev_metrics.json) and the plots of `training.evaluate
--plots` (plots/*.png). A model from elsewhere may have none of them; the page then says so.
"""
import json
import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

import models

CARD_FILE = "README.md"
EVALUATIONS_FILE = "evaluations.json"  # training.evaluate / baselines results, saved by export
DEV_METRICS_FILE = "dev_metrics.json"  # the dev scores the checkpoint was selected on
PLOT_DIR = "plots"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CARD_CHARS = 100_000  # a card is a page of text; anything longer is cut before rendering
# The evaluation plots training.plots draws, by task: file name → Korean caption. Only these
# files are ever served from a model directory.
PLOTS = {
    models.SENTIMENT: {
        "confusion_matrix.png": "혼동 행렬: 실제 레이블(행)별 예측(열) 개수",
        "reliability.png": "신뢰도(보정) 곡선: 예측한 긍정 확률과 실제 긍정 비율",
        "accuracy_by_length.png": "리뷰 길이(글자 수)별 정확도",
    },
    models.SIMILARITY: {
        "predicted_vs_gold.png": "예측 점수와 정답 점수 (대각선: y = x)",
        "score_distributions.png": "예측 점수와 정답 점수의 분포",
        "threshold_metrics.png": "유사 판정 기준 점수별 정밀도·재현율·F1 (3.0에 표시)",
    },
}
# The metrics a page shows, in this order, with their names there.
METRICS = {"accuracy": "정확도", "macro_f1": "macro F1", "pearson": "Pearson",
           "spearman": "Spearman", "mse": "MSE", "binary_f1": "F1 (≥ 3.0)",
           "paraphrase_at_80": "같은 뜻 ≥ 80%", "unrelated_at_20": "무관 ≤ 20%", "auc": "ROC AUC"}
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)  # a hub card's YAML metadata
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
DATA_HEADING = re.compile(r"data|데이터", re.IGNORECASE)


def describe(predictor) -> dict:
    """Everything the model page and the API tell about a loaded predictor."""
    directory = predictor.directory
    card = read_card(directory)
    info = {**predictor.describe(), "location": predictor.location,
            "architecture": architecture(predictor.config),
            "parameters": predictor.parameter_count,
            "training_data": card and card_section(card, DATA_HEADING),
            "metrics": metric_rows(directory, predictor.name),
            "plots": [{"file": name, "caption": caption}
                      for name, caption in PLOTS[predictor.task].items()
                      if plot_path(directory, predictor.task, name)],
            "card": card}
    if predictor.task == models.SENTIMENT:
        info["labels"] = list(predictor.labels)
    return info


def architecture(config) -> str:
    """One line: the model class and its size (layers, hidden width, heads, vocabulary)."""
    name = (config.architectures or [config.model_type])[0]
    sizes = [("num_hidden_layers", "layers"), ("hidden_size", "hidden"),
             ("num_attention_heads", "heads"), ("vocab_size", "vocabulary")]
    parts = [f"{label} {getattr(config, key)}" for key, label in sizes
             if getattr(config, key, None) is not None]
    return f"{name}: {', '.join(parts)}" if parts else name


def read_json(path):
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_card(directory):
    """The model card's Markdown without its YAML front matter, or None."""
    if directory is None:
        return None
    try:
        text = (Path(directory) / CARD_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return FRONT_MATTER.sub("", text[:MAX_CARD_CHARS]).strip() or None


def card_section(card, heading) -> str | None:
    """The text under the card's first heading that matches, up to the next heading as high."""
    lines, level, found = card.splitlines(), 0, []
    for line in lines:
        match = HEADING.match(line)
        if match and level and len(match.group(1)) <= level:
            break
        if level:
            found.append(line)
        elif match and heading.search(match.group(2)):
            level = len(match.group(1))
    return "\n".join(found).strip() or None


def metric_rows(directory, name) -> list:
    """The metrics table: the dev scores at selection, then each saved evaluation."""
    if directory is None:
        return []
    rows = []
    dev = read_json(Path(directory) / DEV_METRICS_FILE)
    if isinstance(dev, dict):
        rows.append(metric_row(name, "dev (체크포인트 선택)", dev, False))
    for result in read_json(Path(directory) / EVALUATIONS_FILE) or []:
        rows.append(metric_row(result.get("model", "?"), evaluation_data(result),
                               result.get("metrics", {}), result.get("quantized", False)))
    return rows


def data_label(path) -> str:
    """A data file as its folder and name: korsts/ and stylekqc/ both hold an sts-dev.tsv."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def evaluation_data(result) -> str:
    """What a saved evaluation scored: its file, and which part of it when only a held-out part."""
    part = " (dev fifth)" if result.get("task") == models.SENTIMENT else " (held-out 10%)"
    return data_label(result.get("data", "?")) + (part if result.get("held_out") else "")


def metric_row(model, data, metrics, quantized) -> dict:
    """One row of the metrics table: the known metrics only, floats or None."""
    return {"model": model, "data": data, "quantized": bool(quantized), "n": metrics.get("n"),
            "metrics": {key: metrics[key] for key in METRICS if key in metrics}}


def metric_columns(rows) -> dict:
    """The metrics any row has, in METRICS order: key → name."""
    return {key: title for key, title in METRICS.items() if any(key in row["metrics"] for row in rows)}


def plot_path(directory, task, name):
    """The path of a known plot of task in directory, if it is there and is a PNG; else None."""
    if directory is None or name not in PLOTS.get(task, {}):
        return None
    path = Path(directory) / PLOT_DIR / name
    try:
        with open(path, "rb") as file:
            return path if file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE else None
    except OSError:
        return None


def markdown_renderer() -> MarkdownIt:
    """CommonMark with tables, and raw HTML shown as text, never passed through."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    renderer.add_render_rule("image", render_image)
    return renderer


def render_image(self, tokens, index, options, env) -> str:
    """A card's image as its alt text, linked when it is one of the model's own plots.

    The page shows those plots in a section of their own; other images would point elsewhere.
    """
    token = tokens[index]
    alt = escapeHtml(self.renderInlineAsText(token.children, options, env))
    src = token.attrGet("src") or ""
    name = src[len(PLOT_DIR) + 1:] if src.startswith(f"{PLOT_DIR}/") else None
    if name in env["plots"]:
        return f'<a href="{escapeHtml(env["plot_url"](name))}">{alt}</a>'
    return alt


def render_markdown(text, plots=(), plot_url=None, shift=2) -> str:
    """Safe HTML of a card's Markdown; headings moved down `shift` levels under the page's own."""
    if not text:
        return ""
    renderer = markdown_renderer()
    env = {"plots": set(plots), "plot_url": plot_url}
    tokens = renderer.parse(text, env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + shift, 6)}"
    return renderer.renderer.render(tokens, renderer.options, env)
