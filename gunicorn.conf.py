"""Gunicorn settings: `gunicorn -c gunicorn.conf.py 'main:create_app()'`.

Environment: PORT (a port, or host:port; default 127.0.0.1:8000), HOST (with a bare PORT),
WEB_CONCURRENCY (worker processes, default 1), GUNICORN_THREADS (threads per worker, default 64),
PROMETHEUS_MULTIPROC_DIR (the workers' shared metrics; default: a new temporary directory).
"""
import os
import secrets
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # where the workers' metrics meet (monitoring.py)
SECRET_KEY_ENV = "FLASK_SECRET_KEY"  # signs the forms' CSRF tokens (security.py)


def bind_address(port=None, host=None) -> str:
    """host:port to listen on: PORT when it holds a host, else HOST (loopback) and PORT."""
    port = port or "8000"
    return port if ":" in port else f"{host or '127.0.0.1'}:{port}"


bind = [bind_address(os.environ.get("PORT"), os.environ.get("HOST"))]
# One worker: it holds both models, and its batcher threads already keep every core (or the GPU)
# busy with large batches; a second worker would split the requests into smaller batches and
# hold the models twice. For several GPUs, run one server per GPU (CUDA_VISIBLE_DEVICES=i).
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Request threads mostly wait for their batch: there must be at least as many as concurrent
# requests for those requests to share a batch (64 = the most concurrent clients we measure).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
# create_app runs in each worker after the fork, never in the master: CUDA does not survive fork.
preload_app = False
# A worker that is still loading its models sends no heartbeat; give loading time before a kill.
timeout = 120
graceful_timeout = 30
accesslog = "-"


def on_starting(server):
    """Before any worker: shared metrics directory and secret key, cores split between workers."""
    if not os.environ.get(MULTIPROC_ENV):
        # Fresh per server run: files left by an earlier run would be counted again.
        os.environ[MULTIPROC_ENV] = server.metrics_dir = tempfile.mkdtemp(prefix="kotext-metrics-")
    if not os.environ.get(SECRET_KEY_ENV):
        # One key for every worker of this run: a form served by one worker posts to another,
        # and a restarted worker must accept the forms its predecessor served.
        os.environ[SECRET_KEY_ENV] = secrets.token_hex(32)
        server.log.warning("%s is not set: generated one for this server run. Open forms stop "
                           "working when the server restarts; set %s to keep them.",
                           SECRET_KEY_ENV, SECRET_KEY_ENV)
    if server.cfg.workers > 1:
        # Each worker's torch would otherwise start a thread per core, and they would fight.
        cores = os.cpu_count() or 1
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // server.cfg.workers)))


def post_worker_init(worker):
    """Say when a worker has loaded its models and starts taking requests."""
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (queue depth) from /metrics."""
    from prometheus_client import multiprocess  # here: the master never serves metrics itself
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this run created."""
    if getattr(server, "metrics_dir", None):
        shutil.rmtree(server.metrics_dir, ignore_errors=True)
