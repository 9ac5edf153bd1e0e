"""Prometheus metrics: requests, latency, batch sizes and queue depth; served at /metrics.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before the workers start, so every
worker writes its samples there and /metrics, answered by any one worker, adds them all up.
Without it (tests, `flask run`) the metrics live in this process only.
"""
import os
import time

from flask import Blueprint, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest, multiprocess)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("kotext_requests", "HTTP requests answered, by route and status.",
                   ["route", "status"])
REQUEST_SECONDS = Histogram(
    "kotext_request_seconds", "Time to answer a request, by route.", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BATCH_SIZE = Histogram("kotext_batch_size", "Inputs per batch the model ran, by task.", ["task"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
# livesum: the items waiting in every live worker's queue, added up.
QUEUE_DEPTH = Gauge("kotext_queue_depth", "Inputs waiting for the model, by task.", ["task"],
                    multiprocess_mode="livesum")

bp = Blueprint("monitoring", __name__)


def init_app(app) -> None:
    """Count and time every request of app, and serve /metrics."""
    app.before_request(start_timer)
    app.after_request(record_request)
    app.register_blueprint(bp)


def start_timer() -> None:
    """Note when the request started."""
    g.request_started = time.perf_counter()


def record_request(response):
    """Count the answered request and observe its latency, labelled by route pattern."""
    # The URL rule, not the path: unknown paths must not create a label value each.
    route = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(route=route, status=str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        REQUEST_SECONDS.labels(route=route).observe(time.perf_counter() - started)
    return response


def observe_batch(task, items) -> None:
    """A batcher ran a batch of items inputs."""
    BATCH_SIZE.labels(task=task).observe(items)


def set_queue_depth(task, items) -> None:
    """A batcher's queue now holds items inputs."""
    QUEUE_DEPTH.labels(task=task).set(items)


def registry():
    """Every worker's metrics when they share a directory, else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return REGISTRY


@bp.get("/metrics")
def metrics():
    """The metrics in Prometheus text format."""
    return Response(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
