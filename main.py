"""Application factory: config defaults → FLASK_* environment → test config; models; blueprints.

Run with `gunicorn -c gunicorn.conf.py 'main:create_app()'` (see README.md for the settings).
"""
import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException

import api
import batch_queue
import batch_views
import feedback
import monitoring
import pages
import security
import serving

DEFAULTS = {
    # A model directory (relative paths are read from the repo root) or a hub model id.
    "SENTIMENT_MODEL": "running_model/sentiment",
    "SIMILARITY_MODEL": "running_model/similarity",
    # The sentiment model's label names by class index, for a scheme sentiment_predictor.py does not know.
    "SENTIMENT_LABELS": None,  # e.g. ["positive", "negative"]; None: read config.id2label
    "DEVICE": None,  # "cpu", "cuda", "cuda:1"…; None: CUDA when available, else CPU
    "MAX_TEXT_CHARS": 1000,  # longest text or sentence accepted, in characters
    "MAX_BATCH_ITEMS": 64,  # most texts or pairs in one API request
    "MAX_CONTENT_LENGTH": 1_048_576,  # largest request body in bytes; Flask answers 413 above it
    "MAX_LENGTH": None,  # tokens per input; None: the model's own (predictor.py caps it at 128)
    "EXPLAIN": True,  # per-word contributions on the sentiment page and with "explain" in the API
    "EXPLAIN_MAX_WORDS": 30,  # words explained per text: 30 + the text fit one 32-row pass
    "LOAD_MODELS_AT_START": True,  # load both models in create_app, so a bad setting fails fast
    "COMPUTE_DTYPE": "auto",  # auto|fp32|bf16|fp16; auto: fp16 on CUDA, bf16 on a CPU with AMX/AVX-512 BF16, else fp32
    "QUANTIZE": None,  # int8 dynamic quantization of the Linear layers; None: on for CPU unless the model's serving.json says not, off on CUDA
    "TRACE_MODEL": None,  # run the forward pass as a TorchScript trace, checked against the model at load; None: on a CPU
    # Micro-batching: concurrent requests for one model share forward passes (microbatch.py).
    "BATCH_MAX_ROWS": 32,  # most texts or pairs in one forward pass
    "BATCH_TOKEN_BUDGET": 4096,  # most padded tokens (rows × longest row) in one forward pass
    "BATCH_MAX_WAIT_MS": 10,  # longest a batch waits for more requests once it has one
    "BATCH_CALL_COST_TOKENS": None,  # a forward pass's fixed cost in tokens; None: by device
    "QUEUE_MAX": 256,  # most texts or pairs waiting per model; more: 503 overloaded
    "REQUEST_TIMEOUT_S": 10,  # longest a request waits for its results; then 503 timeout
    # Security (security.py).
    "SECRET_KEY": None,  # signs the forms' CSRF tokens; None: a random one, with a warning
    "SESSION_COOKIE_SAMESITE": "Lax",  # the session cookie (CSRF token) stays on this site
    "LOG_INPUTS": False,  # log the texts users send; False: only how many and how long
    # Batch analysis of files (batch_views.py, batch_jobs.py).
    "BATCH_FILE_MAX_BYTES": 5_242_880,  # largest uploaded file (5 MB)
    "BATCH_FILE_MAX_ROWS": 10_000,  # most data rows in one file
    "BATCH_JOBS_DIR": None,  # job files, shared by the workers; None: <instance>/jobs
    "BATCH_JOB_CHUNK": None,  # inputs a job hands the batcher at a time; None: BATCH_MAX_ROWS
    "BATCH_JOBS_PER_WORKER": 1,  # jobs one worker runs at once; more wait their turn
    "BATCH_JOB_TTL_S": 86_400,  # a finished job's files are removed this long after it ended
    # Several hosts (batch_queue.py): jobs queued in Redis, run by `flask --app main jobs worker`.
    "BATCH_QUEUE_URL": None,  # e.g. "redis://host:6379/0"; None: jobs run in the web workers
    "BATCH_QUEUE_CHUNK_ROWS": 500,  # inputs per queued task: a bigger file is shared by workers
    "BATCH_QUEUE_LEASE_S": 30,  # a worker silent this long is presumed dead; its chunk reruns
    # Feedback store (feedback.py).
    "FEEDBACK_DATABASE_URL": None,  # any SQLAlchemy URL; None: SQLite <instance>/feedback.db
    "FEEDBACK_MAX_ROWS": 100_000,  # past it new feedback is refused with a message
}


def create_app(test_config=None):
    """Build the app: defaults, then FLASK_* environment variables, then test_config."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env()
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.json.ensure_ascii = False  # Korean stays readable in JSON, not \uXXXX
    monitoring.init_app(app)
    batch_views.init_app(app)  # before security: its upload limit must be set before CSRF reads forms
    security.init_app(app, csrf_exempt=[api.bp])  # also turns debug off under gunicorn
    # INFO: one line per prediction (serving.log_inputs); set after debug is settled.
    app.logger.setLevel(logging.DEBUG if app.debug else logging.INFO)
    serving.init_app(app)
    feedback.init_app(app)
    batch_queue.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(batch_views.bp)
    app.register_blueprint(feedback.bp)
    app.register_error_handler(HTTPException, http_error)
    return app


def http_error(error):
    """HTTP errors (404, 405, 413, a missing CSRF token, 500…): JSON under /api, else a page."""
    if api.is_api_path(request.path):
        return api.http_error(error)
    return pages.http_error(error)
