"""Batch analysis of a CSV/TSV file (or pasted lines): the /batch pages and the /api/v1/batch API.

An upload becomes a job (batch_jobs.py): a draft to preview and choose columns for, then queued and
run on the worker that started it, its progress and result readable from every worker.
"""
import os
import time
import unicodedata
from pathlib import PurePath
from urllib.parse import quote

from flask import (Blueprint, current_app, redirect, render_template, request, send_file,
                   url_for)
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

import batch_files
import batch_jobs
import batch_queue
import models
from batch_files import FileError
from security import csrf
from serving import InputError, check_text, get_predictor

bp = Blueprint("batch", __name__)

UPLOAD_ENDPOINTS = ("batch.upload", "batch.api_submit")
FORM_OVERHEAD = 65_536  # bytes of multipart framing and form fields besides the file
PREVIEW_ROWS = 5
PROBLEMS_SHOWN = 100
MAX_WAIT_S = 60  # longest ?wait= the API honours
PASTED = "붙여넣기"
NOT_FOUND_MESSAGE = "작업을 찾을 수 없습니다. 주소가 틀렸거나 보관 기간이 지나 지워졌습니다."
TSV_MIMETYPE = "text/tab-separated-values"
RFC5987_SAFE = "!#$&+-.^_`|~"  # attr-chars besides letters and digits, as Werkzeug quotes them


class JobNotFound(NotFound):
    """No job with that id."""


class ColumnError(InputError):
    """A column choice the client must fix; the API lists the table's columns with it."""

    def __init__(self, code, message, columns):
        super().__init__(code, message)
        self.columns = list(columns)


def init_app(app) -> None:
    """The job runner; and the batch uploads' larger size limit, set before CSRF reads the form."""
    if app.config["BATCH_QUEUE_URL"]:  # jobs in Redis, run by `flask jobs worker` on any host
        app.extensions["batch_jobs"] = batch_queue.QueueRunner.from_app(app)
    else:
        root = app.config["BATCH_JOBS_DIR"] or os.path.join(app.instance_path, "jobs")
        app.extensions["batch_jobs"] = batch_jobs.JobRunner(
            root, lambda task: app.extensions["predictors"].get(task),
            chunk_size=app.config["BATCH_JOB_CHUNK"] or app.config["BATCH_MAX_ROWS"],
            per_worker=app.config["BATCH_JOBS_PER_WORKER"], ttl_s=app.config["BATCH_JOB_TTL_S"])
    app.before_request(allow_big_uploads)


def allow_big_uploads() -> None:
    """Batch uploads may carry BATCH_FILE_MAX_BYTES, more than MAX_CONTENT_LENGTH."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        limit = current_app.config["BATCH_FILE_MAX_BYTES"]
        overhead = FORM_OVERHEAD if request.endpoint == "batch.upload" else 0  # API: the file only
        request.max_content_length = limit + overhead
        # Pasted text is a form field. Werkzeug also counts its read buffer against this limit,
        # so it gets the same room as the whole body; the view checks the exact size.
        request.max_form_memory_size = limit + FORM_OVERHEAD


def get_runner() -> batch_jobs.JobRunner:
    """The current app's job runner."""
    return current_app.extensions["batch_jobs"]


def get_job(job_id) -> batch_jobs.Job:
    """The job with this id, else JobNotFound (404)."""
    job = get_runner().get(job_id)
    if job is None:
        raise JobNotFound()
    return job


@bp.get("/batch")
def form():
    """The upload form."""
    return render_template("batch.html", **limits())


@bp.post("/batch")
def upload():
    """Read the uploaded file or pasted lines into a draft job and show its preview."""
    task = request.form.get("task")
    try:
        if task not in models.TASKS:
            raise FileError("invalid_task", "분석할 작업(감정 분석 또는 문장 유사도)을 고르세요.")
        data, filename, header = uploaded_data()
        delimiter = "\t" if filename == PASTED else delimiter_of(filename)
        table = batch_files.parse(data, header, limits()["max_rows"], delimiter)
        check_width(table, task)
    except FileError as error:
        return render_template("batch.html", error=error.message, task=task, **limits()), \
            error.status
    job = get_runner().create(task, table, filename)
    return redirect(url_for(".job_page", job_id=job.id), 303)


def uploaded_data() -> tuple:
    """(bytes, file name, has a header row) of the form's file, else of its pasted text."""
    upload, limit = request.files.get("file"), limits()["max_bytes"]
    if upload and upload.filename:
        data = upload.read(limit + 1)
        name = PurePath(upload.filename).name
        header = request.form.get("header") == "on"
    else:
        data, name, header = request.form.get("text", "").encode("utf-8"), PASTED, False
    if len(data) > limit:
        raise FileError("file_too_large", too_large_message(), 413)
    if not data.strip():
        raise FileError("empty_file", "파일을 고르거나 분석할 문장을 붙여 넣으세요.")
    return data, name, header


def delimiter_of(filename, mimetype=None):
    """A tab for a .tsv name or a TSV content type (one column has no tab to sniff), else None."""
    return "\t" if filename.lower().endswith(".tsv") or mimetype == TSV_MIMETYPE else None


def check_width(table, task) -> None:
    """Similarity needs two columns: refuse a one-column table before any job is made."""
    if len(table.columns) < needed_columns(task):
        raise FileError("too_few_columns", "문장 유사도에는 문장 열이 두 개 필요한데 열이 "
                                           "하나뿐입니다. 한 줄의 두 문장을 쉼표(CSV)나 탭(TSV)으로 "
                                           "나눠 주세요.")


def too_large_message() -> str:
    """Past the upload limit, in Korean."""
    return f"파일이 너무 큽니다. {limits()['max_bytes'] / 1048576:g} MB까지 올릴 수 있습니다."


def limits() -> dict:
    """The upload limits, for the form and the checks."""
    config = current_app.config
    return {"max_bytes": config["BATCH_FILE_MAX_BYTES"], "max_rows": config["BATCH_FILE_MAX_ROWS"],
            "max_chars": config["MAX_TEXT_CHARS"]}


@bp.get("/batch/jobs/<job_id>")
def job_page(job_id):
    """A job: its preview and column choice (draft), its progress, or its summary and result."""
    job = get_job(job_id)
    status = get_runner().status(job)
    page = {"job": job, "status": status, "meta": job.read("job.json"),
            "problems": read_problems(job)}
    if status["state"] == "draft":
        page.update(preview(job, page["meta"]["task"]))
    return render_template("batch_job.html", **page)


def preview(job, task, chosen=None) -> dict:
    """The draft's table facts, first rows and column choice (None: unsure, ask), for the page."""
    table = job.read("table.json")
    chosen = chosen or batch_files.guess_columns(table["columns"], table["rows"], task)
    return {"table": table, "rows": table["rows"][:PREVIEW_ROWS], "row_count": len(table["rows"]),
            "chosen": chosen or [], "unsure": chosen is None}


@bp.post("/batch/jobs/<job_id>/run")
def run(job_id):
    """Check the chosen columns and every row, then start the job on this worker."""
    job = get_job(job_id)
    meta, table = job.read("job.json"), job.read("table.json")
    columns = [request.form.get(f"column{i}", "") for i in (1, 2)][:needed_columns(meta["task"])]
    try:
        start_job(job, meta["task"], table, columns)
    except InputError as error:
        page = {"job": job, "status": job.read("status.json"), "meta": meta, "problems": [],
                "error": error.message, **preview(job, meta["task"], columns)}
        return render_template("batch_job.html", **page), 400
    return redirect(url_for(".job_page", job_id=job.id), 303)


def needed_columns(task) -> int:
    """Text columns a task reads: one text, or two sentences."""
    return 1 if task == models.SENTIMENT else 2


def column_indices(columns, chosen, task) -> list:
    """Positions of the chosen columns, else ColumnError: missing, unknown, or one chosen twice."""
    if len(chosen) != needed_columns(task) or not all(chosen):
        raise ColumnError("missing_column", f"분석할 열을 {needed_columns(task)}개 고르세요. "
                                            f"있는 열: {listed(columns)}.", columns)
    for name in chosen:
        if name not in columns:
            raise ColumnError("missing_column", f"'{name[:40]}' 열이 없습니다. 있는 열: "
                                                f"{listed(columns)}.", columns)
    if len(set(chosen)) < len(chosen):  # a sentence compared with itself always looks alike
        raise ColumnError("same_column", f"문장 1과 문장 2에 서로 다른 열을 고르세요. 지금은 둘 다 "
                                         f"'{chosen[0][:40]}' 열입니다.", columns)
    return [columns.index(name) for name in chosen]


def listed(columns, shown=20) -> str:
    """'a', 'b', 'c': the first columns' names, for a message."""
    more = " …" if len(columns) > shown else ""
    return ", ".join(f"'{column}'" for column in columns[:shown]) + more


def start_job(job, task, table, chosen) -> None:
    """Check every row's text(s) and start the job; rows that fail are kept as problems."""
    indices = column_indices(table["columns"], chosen, task)
    predictor = get_predictor(task)
    inputs, problems = [], []
    for i, (row, number) in enumerate(zip(table["rows"], table["numbers"])):
        try:
            texts = [row_text(row, index, name, number, predictor)
                     for index, name in zip(indices, chosen)]
            inputs.append([i, texts[0] if task == models.SENTIMENT else texts])
        except InputError as error:
            problems.append([i, number, error.message])
    get_runner().start(job, chosen, inputs, problems)


def row_text(row, index, name, number, predictor) -> str:
    """The cell of row in the named column, checked like an API text (InputError names the cell)."""
    text = batch_files.cell(row, index)
    if text is None:
        raise InputError("missing_column", f"{number}행: '{name}' 열의 칸이 없습니다.")
    return check_text(text, predictor, f"{number}행 '{name}' 열")


def read_problems(job, limit=PROBLEMS_SHOWN) -> list:
    """The first rows refused, as {"row", "message"}."""
    if not job.has("problems.json"):  # a draft
        return []
    problems = job.read("problems.json")[:limit]
    return [{"row": number, "message": message} for _, number, message in problems]


@bp.post("/api/v1/batch/<task>")
@csrf.exempt  # a program's request, like the JSON API: no cookie, no session
def api_submit(task):
    """Score a CSV/TSV body: 202 with the job, or 200 with the result CSV if done within ?wait=."""
    if task not in models.TASKS:
        raise NotFound()
    header = request.args.get("header", "true").lower() not in ("false", "0", "no")
    wait = wait_seconds(request.args.get("wait", "0"))
    name = request.args.get("name", "api.csv")
    table = batch_files.parse(request.get_data(), header, limits()["max_rows"],
                             delimiter_of(name, request.mimetype))
    check_width(table, task)
    chosen = request.args.getlist("column") or guessed_columns(table, task)
    column_indices(table.columns, chosen, task)  # before a job exists
    job = get_runner().create(task, table, name)
    start_job(job, task, table.to_dict(), chosen)
    status = wait_for(job, wait)
    if status["state"] == "done":
        return result_file(job)
    return job_json(job, status), 202, {"Location": url_for(".api_status", job_id=job.id)}


def guessed_columns(table, task) -> list:
    """The API's columns when column= is omitted; ColumnError when no guess is safe."""
    chosen = batch_files.guess_columns(table.columns, table.rows, task)
    if chosen is None:
        raise ColumnError("column_required", "어느 열을 분석할지 알 수 없습니다. column= 매개변수로 "
                                             f"열을 고르세요. 있는 열: {listed(table.columns)}.",
                          table.columns)
    return chosen


def wait_seconds(value) -> float:
    """?wait= as seconds between 0 and MAX_WAIT_S."""
    try:
        return min(max(float(value), 0.0), MAX_WAIT_S)
    except ValueError:
        raise InputError("invalid_type", "wait: 초 단위 숫자여야 합니다.") from None


def wait_for(job, seconds) -> dict:
    """The job's status once it is finished, or after seconds."""
    deadline = time.monotonic() + seconds
    while True:
        status = get_runner().status(job)
        if status["state"] not in batch_jobs.UNFINISHED or time.monotonic() >= deadline:
            return status
        time.sleep(0.1)


@bp.get("/api/v1/batch/jobs/<job_id>")
def api_status(job_id):
    """A job's state, progress, refused rows and summary (any worker answers)."""
    job = get_job(job_id)
    return job_json(job, get_runner().status(job))


@bp.get("/api/v1/batch/jobs/<job_id>/result")
def api_result(job_id):
    """A finished job's result CSV (UTF-8 with BOM); 409 while it runs."""
    job = get_job(job_id)
    status = get_runner().status(job)
    if status["state"] != "done":
        return api_error(409, "not_done", "작업이 아직 끝나지 않았습니다. 상태를 확인한 뒤 다시 받으세요.")
    return result_file(job)


def job_json(job, status) -> dict:
    """The API's view of a job."""
    keys = ("state", "done", "total", "problems", "summary", "error")
    shares = {"workers": status["workers"]} if "workers" in status else {}  # queued jobs only
    return {"id": job.id, "task": status["task"],
            **{key: status.get(key) for key in keys}, **shares, "refused": read_problems(job),
            "status_url": url_for(".api_status", job_id=job.id),
            "result_url": url_for(".api_result", job_id=job.id)}


def result_file(job):
    """result.csv as a download named after the upload, with an ASCII name for old clients."""
    name, fallback = download_names(job.read("job.json")["filename"])
    # Werkzeug adds the charset to text/* itself.
    response = send_file(job.result_file(), mimetype="text/csv", as_attachment=True,
                         download_name=name, max_age=0)
    # Werkzeug's own ASCII name drops the Korean word, leaving "reviews-.csv".
    response.headers.set("Content-Disposition", "attachment", filename=fallback,
                         **{"filename*": f"UTF-8''{quote(name, safe=RFC5987_SAFE)}"})
    return response


def download_names(filename) -> tuple:
    """(name, ASCII name) of an upload's result: 리뷰.csv → 리뷰-결과.csv, batch-result.csv."""
    stem = PurePath(filename).stem or "batch"
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().strip()
    return f"{stem}-결과.csv", f"{ascii_stem or 'batch'}-result.csv"


def api_error(status, code, message, **details):
    """The API's error body."""
    return {"error": {"code": code, "message": message, **details}}, status


@bp.errorhandler(FileError)
@bp.errorhandler(InputError)
def input_error(error):
    """A file or choice the client can fix: JSON under /api (pages handle theirs in the view)."""
    details = {"columns": error.columns} if isinstance(error, ColumnError) else {}
    return api_error(error.status, error.code, error.message, **details)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """A body far over the upload limit, refused before it was read."""
    if request.path.startswith("/api/"):
        return api_error(413, "payload_too_large", too_large_message())
    return render_template("batch.html", error=too_large_message(), **limits()), 413


@bp.errorhandler(JobNotFound)
def job_not_found(error):
    """An unknown or expired job id."""
    if request.path.startswith("/api/"):
        return api_error(404, "job_not_found", NOT_FOUND_MESSAGE)
    return render_template("error.html", message=NOT_FOUND_MESSAGE), 404
