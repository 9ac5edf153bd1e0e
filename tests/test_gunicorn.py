"""Smoke test: gunicorn with gunicorn.conf.py serves both tasks on a loopback port."""
import csv
import io
import json
import os
import runpy
import shutil
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from live_server import STARTUP_SECONDS, call, open_form, post_form, running, start_gunicorn
from serving import ROOT


@pytest.fixture
def server_url(tiny_models, tmp_path):
    """Base URL of a gunicorn serving the tiny models; stopped after the test."""
    with running(tiny_models, tmp_path / "gunicorn.log") as server:
        yield server.url


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


def truncated_copy(model_dir, directory):
    """A copy of model_dir whose weights file was cut short, as by an interrupted download."""
    shutil.copytree(model_dir, directory)
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    return directory


@pytest.mark.parametrize("problem", ["missing", "truncated"])
def test_gunicorn_stops_when_a_model_is_missing_or_corrupt(tiny_models, tmp_path, problem):
    # The worker exits with gunicorn's boot-error status, so the master stops rather than
    # respawning workers that fail the same way forever.
    log = tmp_path / "gunicorn.log"
    similarity = tmp_path / "missing"
    if problem == "truncated":
        similarity = truncated_copy(tiny_models["similarity"], tmp_path / "truncated")
    server = start_gunicorn({**tiny_models, "similarity": similarity}, log)
    try:
        server.process.wait(timeout=STARTUP_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
        pytest.fail(f"gunicorn kept running without a similarity model:\n{log.read_text()}")
    assert server.process.returncode != 0
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


def test_workers_share_a_generated_secret_key_and_never_debug(live_server):
    # live_server runs without FLASK_SECRET_KEY and with FLASK_DEBUG=1 (see conftest.py); the
    # master makes one key for all workers (test_load.py checks a restarted worker takes it).
    log = live_server.log.read_text()
    assert log.count("FLASK_SECRET_KEY is not set: generated one for this server run") == 1
    assert "debug mode is never on under gunicorn" in log
    with urllib.request.urlopen(f"{live_server.url}/healthz", timeout=30) as response:
        assert response.read() == b'{"status":"ok"}\n'  # in debug mode Flask indents JSON


def test_a_form_from_one_worker_posts_to_any(live_server):
    browser, form = open_form(live_server.url, "/sentiment", {"text": "재밌다"})
    for _ in range(8):  # each on a new connection, taken by whichever worker accepts first
        assert "<meter" in post_form(browser, live_server.url, "/sentiment", form)


def test_a_batch_job_works_across_workers(live_server):
    # The worker that takes the upload runs the job; the polls and the download, each on a new
    # connection, land on either worker, which read the job from the shared directory.
    rows = [f"리뷰 {i}번 정말 재밌다" for i in range(2000)]
    body = ("document\n" + "\n".join(rows) + "\n").encode("cp949")
    request = urllib.request.Request(f"{live_server.url}/api/v1/batch/sentiment", data=body,
                                     headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        job = json.load(response)
    deadline, seen = time.monotonic() + 120, []
    while not seen or seen[-1]["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, seen[-1]
        seen.append(call(f"{live_server.url}{job['status_url']}"))
        time.sleep(0.05)
    progress = [status["done"] for status in seen]
    assert seen[-1]["state"] == "done" and progress == sorted(progress) and progress[-1] == 2000
    with urllib.request.urlopen(f"{live_server.url}{job['result_url']}", timeout=30) as response:
        result = list(csv.DictReader(io.StringIO(response.read().decode("utf-8-sig"))))
    assert [row["document"] for row in result] == rows
    assert {row["label_ko"] for row in result} <= {"긍정", "부정"}
