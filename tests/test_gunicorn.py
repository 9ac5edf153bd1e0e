"""Smoke test: gunicorn with gunicorn.conf.py serves both tasks on a loopback port."""
import json
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving import ROOT

STARTUP_SECONDS = 90  # importing torch and loading models on a busy 2-core machine


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url, body=None):
    """GET url, or POST body as JSON; the decoded JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_until_healthy(server, base, log) -> None:
    """Poll /healthz until it answers; fail early if gunicorn exits."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.returncode}:\n{log.read_text()}")
        try:
            if call(f"{base}/healthz") == {"status": "ok"}:
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    pytest.fail(f"gunicorn did not answer /healthz within {STARTUP_SECONDS} s:\n{log.read_text()}")


def start_gunicorn(models, log) -> tuple:
    """Start gunicorn on a free loopback port serving models; the process and its base URL."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "OMP_NUM_THREADS": "1",
           "FLASK_SENTIMENT_MODEL": str(models["sentiment"]),
           "FLASK_SIMILARITY_MODEL": str(models["similarity"])}
    # --no-control-socket: gunicorn's control socket has one path per user, which a test server
    # would take from a developer's running server.
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket",
               "main:create_app()"]
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
def server_url(tiny_models, tmp_path):
    """Base URL of a gunicorn serving the tiny models; stopped after the test."""
    log = tmp_path / "gunicorn.log"
    server, url = start_gunicorn(tiny_models, log)
    try:
        wait_until_healthy(server, url, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_gunicorn_serves_both_tasks(server_url):
    sentiment = call(f"{server_url}/api/v1/sentiment", {"text": "이 영화 정말 재밌다!"})
    assert sentiment["label"] in ("negative", "positive")
    assert sentiment["model"] == "sentiment-tiny"
    pair = {"sentence1": "오늘 날씨가 정말 좋네요", "sentence2": "주식 시장이 크게 하락했다"}
    similarity = call(f"{server_url}/api/v1/similarity", pair)
    assert 0 <= similarity["score"] <= 5 and similarity["model"] == "similarity-tiny"
    # Workers share their metrics through PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py).
    with urllib.request.urlopen(f"{server_url}/metrics", timeout=30) as response:
        samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                   for family in text_string_to_metric_families(response.read().decode())
                   for sample in family.samples}
    routes = [("route", "/api/v1/sentiment"), ("route", "/api/v1/similarity")]
    for route in routes:
        assert samples[("kotext_requests_total", (route, ("status", "200")))] == 1
    assert samples[("kotext_batch_size_count", (("task", "sentiment"),))] >= 1
    assert ("kotext_queue_depth", (("task", "similarity"),)) in samples


def test_gunicorn_stops_when_a_model_is_missing(tiny_models, tmp_path):
    # The worker exits with gunicorn's boot-error status, so the master stops rather than
    # respawning workers that fail the same way forever.
    log = tmp_path / "gunicorn.log"
    server, _ = start_gunicorn({**tiny_models, "similarity": tmp_path / "missing"}, log)
    try:
        server.wait(timeout=STARTUP_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)
        pytest.fail(f"gunicorn kept running without a similarity model:\n{log.read_text()}")
    assert server.returncode != 0
    assert log.read_text().count("cannot serve similarity: SIMILARITY_MODEL points to") == 1


@pytest.mark.parametrize("port, host, bind", [
    (None, None, "127.0.0.1:8000"),
    ("9000", None, "127.0.0.1:9000"),
    ("9000", "0.0.0.0", "0.0.0.0:9000"),
    ("[::1]:9000", None, "[::1]:9000"),
])
def test_bind_address(port, host, bind):
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["bind_address"](port, host) == bind
    assert settings["preload_app"] is False and settings["worker_class"] == "gthread"
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # only gunicorn's hooks set it
