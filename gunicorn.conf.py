"""Gunicorn settings: `gunicorn -c gunicorn.conf.py 'main:create_app()'`.

Environment: PORT (a port, or host:port; default 127.0.0.1:8000), HOST (with a bare PORT),
WEB_CONCURRENCY (worker processes, default 1), GUNICORN_THREADS (threads per worker, default 4).
"""
import os


def bind_address(port=None, host=None) -> str:
    """host:port to listen on: PORT when it holds a host, else HOST (loopback) and PORT."""
    port = port or "8000"
    return port if ":" in port else f"{host or '127.0.0.1'}:{port}"


bind = [bind_address(os.environ.get("PORT"), os.environ.get("HOST"))]
# Each worker holds both models in memory; one worker already uses every core for inference.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Threads keep /healthz answering while a prediction runs (predictions take turns; serving.py).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# create_app runs in each worker after the fork, never in the master: CUDA does not survive fork.
preload_app = False
# A worker that is still loading its models sends no heartbeat; give loading time before a kill.
timeout = 120
graceful_timeout = 30
accesslog = "-"
