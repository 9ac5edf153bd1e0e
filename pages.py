"""HTML pages (Korean UI): the home page, the sentiment and similarity forms, the model pages."""
from flask import Blueprint, abort, current_app, render_template, request, send_file, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

import microbatch
import model_info
import models
from sentiment_predictor import LABELS_KO
from serving import (InputError, check_pair, check_text, get_predictor, get_registry, predict,
                     predict_explained)

bp = Blueprint("pages", __name__)

SENTIMENT_EXAMPLES = ["이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "배우 연기는 좋은데 스토리가 너무 뻔하다"]
SIMILARITY_EXAMPLES = [
    ("오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요"),
    ("회의는 내일 오후 세 시에 시작합니다", "내일 오후 3시에 회의가 열립니다"),
    ("이 영화 정말 재밌다!", "주식 시장이 크게 하락했다"),
]
TASK_NAMES = {models.SENTIMENT: "감정 분석", models.SIMILARITY: "문장 유사도"}
# Korean messages for the HTTP errors Flask raises itself, by status.
HTTP_ERRORS = {
    400: "잘못된 요청입니다.",
    404: "없는 페이지입니다. 주소를 확인해 주세요.",
    405: "이 주소에서는 허용되지 않는 요청 방식입니다.",
    413: "보낸 내용이 너무 큽니다. 문장을 줄여 다시 시도해 주세요.",
    500: "서버 내부 오류입니다. 잠시 후 다시 시도해 주세요.",
}
# Changes of the positive probability (leaving a word out) that a highlight shows as weak,
# medium and strong; below the first, a word is not highlighted.
HIGHLIGHT_STEPS = (0.01, 0.05, 0.15)
CSRF_MESSAGE = "보안 토큰이 없거나 만료되었습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요."


@bp.get("/")
def index():
    """What the demo does, links to both tasks, and the models loaded so far."""
    return render_template("index.html", models=get_registry().loaded(), task_names=TASK_NAMES)


@bp.route("/sentiment", methods=("GET", "POST"))
def sentiment():
    """The sentiment form; on POST, classify the text and show the verdict."""
    text, enabled = request.form.get("text", ""), current_app.config["EXPLAIN"]
    # A form without the box ticked sends no "explain": only a GET shows it ticked by default.
    explain = enabled and (request.method == "GET" or "explain" in request.form)
    page = {"text": text, "examples": SENTIMENT_EXAMPLES, "labels_ko": LABELS_KO,
            "explain_enabled": enabled, "explain": explain}
    if request.method == "GET":
        return render_template("sentiment.html", **page)
    predictor = get_predictor(models.SENTIMENT)
    try:
        check_text(text, predictor, "문장")
    except InputError as error:
        return render_template("sentiment.html", error=error.message, **page), 400
    result = predict_explained(predictor, text) if explain else predict(predictor, [text])[0]
    return render_template("sentiment.html", result=result, model=predictor.describe(), **page)


@bp.route("/similarity", methods=("GET", "POST"))
def similarity():
    """The similarity form; on POST, score the two sentences and say how alike they are."""
    pair = (request.form.get("sentence1", ""), request.form.get("sentence2", ""))
    page = {"sentence1": pair[0], "sentence2": pair[1], "examples": SIMILARITY_EXAMPLES}
    if request.method == "GET":
        return render_template("similarity.html", **page)
    predictor = get_predictor(models.SIMILARITY)
    try:
        check_pair(pair, predictor, "문장 1", "문장 2")
    except InputError as error:
        return render_template("similarity.html", error=error.message, **page), 400
    result = predict(predictor, [pair])[0]
    # Say so when number alignment rewrote what the cleaner left (「세 시」 read as 「3시」).
    aligned = result["cleaned"] != [predictor.clean(pair[0]), predictor.clean(pair[1])]
    return render_template("similarity.html", result=result, model=predictor.describe(),
                           numbers_aligned=aligned, **page)


@bp.get("/models/<task>")
def model(task):
    """The model page (모델 정보): Korean summary and scores, facts, plots; then, folded, the card."""
    if task not in models.TASKS:
        abort(404)
    info = model_info.describe(get_predictor(task))
    plots = [plot["file"] for plot in info["plots"]]

    def plot_url(name):
        return url_for("pages.model_plot", task=task, name=name)

    return render_template(
        "model.html", info=info, task_name=TASK_NAMES[task], plot_url=plot_url,
        columns=model_info.metric_columns(info["metrics"]), card=Markup(model_info.render_markdown(
            info["card"], plots, plot_url)),
        training_data=Markup(model_info.render_markdown(info["training_data"], shift=3)))


@bp.get("/models/<task>/plots/<name>")
def model_plot(task, name):
    """One evaluation plot from the model's directory: only the known PNG files, by name."""
    path = None
    if task in models.TASKS:
        path = model_info.plot_path(get_predictor(task).directory, task, name)
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/png", max_age=300)


@bp.errorhandler(models.ModelLoadError)
def model_unavailable(error):
    """A model that could not load (only when models load lazily): log it, say so, 503."""
    current_app.logger.error("model unavailable: %s", error)
    return render_template("error.html", message="모델을 불러오지 못했습니다. 관리자에게 문의하세요."), 503


@bp.errorhandler(microbatch.Busy)
def busy(error):
    """Too many requests right now: say so in Korean, 503, and when to try again."""
    message = "지금은 사용자가 많아 처리하지 못했습니다. 잠시 후 다시 시도해 주세요."
    return render_template("error.html", message=message), 503, {"Retry-After": "1"}


def http_error(error: HTTPException):
    """An HTTP error (404, 405, 413, a missing CSRF token, 500…) as a Korean page (via main.py)."""
    if isinstance(error, CSRFError):  # an expired page or a forged post: reload and retry
        return render_template("error.html", message=CSRF_MESSAGE, retry=request.path), 400
    message = HTTP_ERRORS.get(error.code, "요청을 처리하지 못했습니다.")
    return render_template("error.html", message=message), error.code


@bp.app_template_filter("percent")
def percent(probability) -> str:
    """0.974 → '97%'."""
    return f"{probability:.0%}"


@bp.app_template_filter("signed_points")
def signed_points(change) -> str:
    """A change of probability in percentage points: 0.123 → '+12.3%p'."""
    return f"{change * 100:+.1f}%p"


@bp.app_template_filter("strength")
def strength(change) -> str:
    """A word's highlight class: its direction and one of three strengths (none when tiny)."""
    if change is None or abs(change) < HIGHLIGHT_STEPS[0]:
        return "word"
    level = sum(abs(change) >= step for step in HIGHLIGHT_STEPS)
    return f"word {'pos' if change > 0 else 'neg'}{level}"


@bp.app_template_filter("pushed")
def pushed(words, sign) -> list:
    """The (at most) three words that moved the positive probability most towards sign (±1)."""
    moved = [item for item in words if item["contribution"] is not None
             and item["contribution"] * sign >= HIGHLIGHT_STEPS[0]]
    return sorted(moved, key=lambda item: -item["contribution"] * sign)[:3]


@bp.app_template_filter("gwa")
def gwa(word) -> str:
    """The particle 'and' for word: 과 after a final consonant, 와 after a vowel (과 if unsure)."""
    for char in reversed(word):
        if "가" <= char <= "힣":
            return "과" if (ord(char) - ord("가")) % 28 else "와"
        if char.isalnum():  # ends in a Latin letter or a digit: no syllable to read
            break
    return "과"
