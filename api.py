"""JSON API under /api/v1, and the health probes /healthz and /readyz."""
from flask import Blueprint, current_app, request, url_for
from werkzeug.exceptions import BadRequest, HTTPException

import microbatch
import model_info
import models
from serving import (InputError, check_pair, check_text, get_predictor, get_registry, predict,
                     predict_explained)

bp = Blueprint("api", __name__)
PREFIX = "/api/v1"

# Korean messages for the HTTP errors Flask raises itself, by status.
HTTP_ERRORS = {
    400: ("bad_request", "잘못된 요청입니다."),
    404: ("not_found", "없는 API 주소입니다."),
    405: ("method_not_allowed", "이 주소에서 허용되지 않는 HTTP 메서드입니다."),
    413: ("payload_too_large", "요청 본문이 너무 큽니다."),
    500: ("internal_error", "서버 내부 오류입니다."),
}
BUSY_MESSAGE = "지금은 요청이 너무 많아 처리하지 못했습니다. 잠시 후 다시 시도하세요."
BUSY_MESSAGES = {"timeout": "처리 시간이 초과되었습니다. 잠시 후 다시 시도하세요."}
RETRY_AFTER_S = "1"  # a batch takes well under a second: the queue has moved on by then
FIELDS = {"sentiment": ("text", "texts", "explain"),
          "similarity": ("sentence1", "sentence2", "pairs")}


@bp.post(f"{PREFIX}/sentiment")
def sentiment():
    """Classify {"text": ...} or a batch {"texts": [...]} as positive or negative."""
    body = json_object(FIELDS["sentiment"])
    predictor = get_predictor(models.SENTIMENT)
    explain = explain_requested(body)
    if "texts" in body:
        reject_mixed(body, ("text", "explain") if explain else ("text",), "texts")
        texts = batch_items(body, "texts")
        checked = [check_text(text, predictor, f"texts[{i}]") for i, text in enumerate(texts)]
        return {"results": predict(predictor, checked), "model": predictor.name}
    text = check_text(required(body, "text", "'text' 또는 'texts'"), predictor, "text")
    return predict_explained(predictor, text) if explain else predict(predictor, [text])[0]


@bp.post(f"{PREFIX}/similarity")
def similarity():
    """Score {"sentence1", "sentence2"} or a batch {"pairs": [[a, b], ...]} from 0 to 5."""
    body = json_object(FIELDS["similarity"])
    predictor = get_predictor(models.SIMILARITY)
    if "pairs" in body:
        reject_mixed(body, ("sentence1", "sentence2"), "pairs")
        pairs = [pair_of(item, f"pairs[{i}]") for i, item in enumerate(batch_items(body, "pairs"))]
        checked = [check_pair(pair, predictor, f"pairs[{i}][0]", f"pairs[{i}][1]")
                   for i, pair in enumerate(pairs)]
        return {"results": predict(predictor, checked), "model": predictor.name}
    needed = "'sentence1'과 'sentence2', 또는 'pairs'"
    pair = (required(body, "sentence1", needed), required(body, "sentence2", needed))
    return predict(predictor, [check_pair(pair, predictor, "sentence1", "sentence2")])[0]


@bp.get(f"{PREFIX}/models/<task>")
def model(task):
    """What the model serving task is: name, architecture, device, data, metrics, plots, card."""
    if task not in models.TASKS:
        return error_response(404, "not_found", "없는 작업입니다. sentiment 또는 similarity를 쓰세요.")
    info = model_info.describe(get_predictor(task))
    plots = [{**plot, "url": url_for("pages.model_plot", task=task, name=plot["file"],
                                     _external=False)} for plot in info["plots"]]
    return {**info, "plots": plots}


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Ready once both models are loaded (loading them now if they were not): names and devices."""
    registry = get_registry()
    try:
        registry.load_all()
    except models.ModelLoadError as error:
        current_app.logger.error("model not ready: %s", error)
        return {"ready": False, "models": registry.loaded()}, 503
    return {"ready": True, "models": registry.loaded()}


def json_object(fields) -> dict:
    """The request body: a JSON object (any content type) of known fields only, else InputError."""
    try:
        body = request.get_json(force=True)
    except (BadRequest, RecursionError) as error:  # RecursionError: arrays nested thousands deep
        raise InputError("invalid_json", "요청 본문이 올바른 JSON이 아닙니다.") from error
    if not isinstance(body, dict):
        raise InputError("invalid_type", "요청 본문은 JSON 객체({…})여야 합니다.")
    reject_unknown(body, fields)
    return body


def reject_unknown(body, fields) -> None:
    """Refuse fields the API does not read: a typo ("txet") must not pass silently."""
    unknown = [name for name in body if name not in fields]
    if unknown:
        name = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:40] + "…"
        allowed = ", ".join(f"'{field}'" for field in fields)
        raise InputError("unknown_field", f"알 수 없는 필드가 있습니다: '{name}'. 쓸 수 있는 필드: {allowed}.")


def required(body, field, needed):
    """body[field], else a missing_field error saying which fields the request needs."""
    if field not in body:
        raise InputError("missing_field", f"{needed} 필드가 필요합니다.")
    return body[field]


def explain_requested(body) -> bool:
    """The optional "explain" flag: a JSON boolean, refused when EXPLAIN is off on this server."""
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        raise InputError("invalid_type", "explain: true 또는 false여야 합니다.")
    if explain and not current_app.config["EXPLAIN"]:
        raise InputError("explain_disabled", "이 서버에서는 단어별 설명(explain)이 꺼져 있습니다.")
    return explain


def reject_mixed(body, singles, batch) -> None:
    """A request is either one input or a batch: refuse a body that has both kinds of field."""
    for single in singles:
        if single in body:
            raise InputError("conflicting_fields", f"'{single}'와 '{batch}' 중 하나만 보내세요.")


def batch_items(body, field) -> list:
    """body[field] as a list of 1 to MAX_BATCH_ITEMS items."""
    items, limit = body[field], current_app.config["MAX_BATCH_ITEMS"]
    if not isinstance(items, list):
        raise InputError("invalid_type", f"{field}: 목록이어야 합니다.")
    if not items:
        raise InputError("empty_batch", f"{field}: 목록이 비어 있습니다.")
    if len(items) > limit:
        raise InputError("too_many_items",
                         f"{field}: {len(items)}개는 너무 많습니다. 한 번에 {limit}개까지 보낼 수 있습니다.", 413)
    return items


def pair_of(item, field) -> list:
    """A batch item that must be a list of exactly two sentences."""
    if not isinstance(item, list) or len(item) != 2:
        raise InputError("invalid_type", f"{field}: 문장 두 개의 목록이어야 합니다.")
    return item


def error_response(status, code, message):
    """The API's error body: {"error": {"code", "message"}}."""
    return {"error": {"code": code, "message": message}}, status


@bp.errorhandler(InputError)
def input_error(error):
    """A request the client can fix: 400, or 413 for too much input."""
    return error_response(error.status, error.code, error.message)


@bp.errorhandler(models.ModelLoadError)
def model_unavailable(error):
    """A model that could not load (only when models load lazily): log it, answer 503."""
    current_app.logger.error("model unavailable: %s", error)
    return error_response(503, "model_unavailable", "모델을 불러오지 못했습니다. 관리자에게 문의하세요.")


@bp.errorhandler(microbatch.Busy)
def busy(error):
    """The model's queue is full, or the answer took too long: 503, and when to try again."""
    body, status = error_response(503, error.code, BUSY_MESSAGES.get(error.code, BUSY_MESSAGE))
    return body, status, {"Retry-After": RETRY_AFTER_S}


def is_api_path(path) -> bool:
    """Whether path is under /api, where every answer is JSON."""
    return path.split("/")[1] == "api"


def http_error(error: HTTPException):
    """An HTTP error (404, 405, 413, 500…) as the API's JSON error (main.py routes it here)."""
    code, message = HTTP_ERRORS.get(error.code, ("http_error", "요청을 처리하지 못했습니다."))
    return error_response(error.code, code, message)
