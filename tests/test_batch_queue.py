"""Queued batch jobs (BATCH_QUEUE_URL): Redis holds them, RQ workers on any host run them."""
import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import batch_files
import batch_jobs
import batch_queue
from main import create_app

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
REVIEWS = ["이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "배우 연기는 좋은데 스토리가 너무 뻔하다",
           "최고의 영화입니다 강력 추천", "지루하고 재미없어요", "음악이 아름답고 감동적이었다", "돈이 아깝다"]
TEXTS = [f"{REVIEWS[i % len(REVIEWS)]} {i}" for i in range(60)]


def csv_bytes(rows) -> bytes:
    """rows written as UTF-8 CSV."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def result_rows(data: bytes) -> list:
    """A result CSV (UTF-8 with BOM) as dicts."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def submit(client, task, data, **params):
    """POST a CSV body to the batch API."""
    return client.post(f"/api/v1/batch/{task}", query_string=params, data=data,
                       content_type="text/csv")


def with_token(client, url, form) -> dict:
    """form with the CSRF token of the page at url, as a browser posts it."""
    return {**form, "csrf_token": TOKEN.search(client.get(url).get_data(as_text=True)).group(1)}


def wait_done(client, job_id, seconds=60) -> dict:
    """Poll a job's status until it is finished; the last status."""
    deadline = time.monotonic() + seconds
    while (answer := status(client, job_id))["state"] in batch_jobs.UNFINISHED:
        assert time.monotonic() < deadline, f"job {job_id} not finished in {seconds} s: {answer}"
        time.sleep(0.02)
    return answer


@pytest.fixture
def redis_url(redis_server):
    """The test server's URL, its data wiped."""
    import redis
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


def queue_config(tiny_config, url, jobs_dir, **settings) -> dict:
    """An app's config for queued jobs: 10-row chunks scored 4 rows at a time, a 1 s lease."""
    return {**tiny_config, "QUANTIZE": False, "BATCH_QUEUE_URL": url,
            "BATCH_JOBS_DIR": str(jobs_dir), "BATCH_QUEUE_CHUNK_ROWS": 10, "BATCH_JOB_CHUNK": 4,
            "BATCH_QUEUE_LEASE_S": 1, **settings}


@pytest.fixture
def two_hosts(tiny_config, redis_url, tmp_path):
    """Two app instances sharing only Redis (as on two hosts): different BATCH_JOBS_DIR."""
    return tuple(create_app(queue_config(tiny_config, redis_url, tmp_path / name))
                 for name in ("host-a", "host-b"))


def work(app, name, **options) -> None:
    """Run a job worker of app in this process until the queue is empty (or max_jobs)."""
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with app.app_context():
            batch_queue.make_worker(app.extensions["batch_jobs"], name).work(burst=True, **options)
    finally:  # RQ installs its own; pytest keeps its Ctrl-C
        for number, handler in handlers.items():
            signal.signal(number, handler)


def status(client, job_id) -> dict:
    """The API's status of a job."""
    return client.get(f"/api/v1/batch/jobs/{job_id}").get_json()


def result(client, job_id) -> bytes:
    """A finished job's result CSV."""
    response = client.get(f"/api/v1/batch/jobs/{job_id}/result")
    assert response.status_code == 200
    return response.data


def expected_labels(client, texts) -> list:
    """The JSON API's (label, score) for texts."""
    answer = client.post("/api/v1/sentiment", json={"texts": texts}).get_json()["results"]
    return [(item["label"], item["score"]) for item in answer]


def test_a_job_queued_on_one_host_is_run_and_read_on_another(two_hosts, tmp_path):
    first, second = (app.test_client() for app in two_hosts)
    data = csv_bytes([["document"]] + [[review] for review in REVIEWS] + [["가" * 1001]])
    response = submit(first, "sentiment", data)
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    assert status(second, job_id)["state"] == "queued"  # before any worker: known everywhere
    work(two_hosts[1], "host-b")
    done = status(second, job_id)
    assert (done["state"], done["done"], done["total"], done["problems"]) == ("done", 7, 7, 1)
    assert done["workers"] == {"host-b": 7} and done["summary"]["errors"] == 1
    assert result(second, job_id) == result(first, job_id)
    rows = result_rows(result(second, job_id))
    assert [row["document"] for row in rows] == REVIEWS + ["가" * 1001]
    expected = expected_labels(second, REVIEWS)
    assert [row["label"] for row in rows[:7]] == [label for label, _ in expected]
    assert [float(row["probability"]) for row in rows[:7]] == pytest.approx(
        [score for _, score in expected], abs=1e-4)  # the CSV has 4 decimals
    assert "1001자" in rows[7]["error"]
    assert "결과 CSV 내려받기" in second.get(f"/batch/jobs/{job_id}").get_data(as_text=True)
    # The page flow too: a draft made on one host is previewed and started on the other.
    form = with_token(first, "/batch", {"task": "sentiment", "text": "\n".join(REVIEWS[:3])})
    job_url = first.post("/batch", data=form).headers["Location"]
    assert "열 1" in second.get(job_url).get_data(as_text=True)
    started = second.post(f"{job_url}/run", data=with_token(second, job_url, {"column1": "열 1"}))
    assert started.status_code == 303
    work(two_hosts[0], "host-a")
    assert wait_done(first, job_url.rsplit("/", 1)[1])["workers"] == {"host-a": 3}
    assert not any(tmp_path.rglob("*.json"))  # no job file on either host


def test_a_bad_file_is_refused_before_anything_is_queued(two_hosts):
    client, runner = two_hosts[0].test_client(), two_hosts[0].extensions["batch_jobs"]
    assert submit(client, "sentiment", b"text\n\xff\xfe\xfa\xfb\x81 \n").status_code == 400
    assert submit(client, "sentiment", "text\n좋다\n".encode(), column="review").status_code == 400
    assert runner.queue.count == 0 and runner.redis.keys("batch:*") == []
    # Every row refused: the job is done at once, with nothing for a worker.
    refused = submit(client, "sentiment", ("text\n" + "가" * 1001 + "\n").encode())
    assert refused.status_code == 200 and "1001자" in result_rows(refused.data)[0]["error"]
    assert runner.queue.count == 0
    # A draft is started once, however often its "run" is posted.
    job = runner.create("sentiment", batch_files.parse("text\n좋다\n".encode(), True, 10), "a.csv")
    assert runner.start(job, ["text"], [[0, "좋다"]], []) is True
    assert runner.start(job, ["text"], [[0, "싫다"]], []) is False
    assert runner.queue.count == 1 and job.read("status.json")["state"] == "queued"
    assert runner.redis.lrange(job.part("inputs"), 0, -1) == ['[0, "좋다"]']
    assert sorted(runner.redis.keys(f"{job.key}*")) == sorted(  # no staged copy left behind
        [job.key, job.part("table"), job.part("inputs"), job.part("problems")])


def test_two_workers_share_a_job_and_give_the_one_worker_result(two_hosts):
    app = two_hosts[0]
    client, runner = app.test_client(), app.extensions["batch_jobs"]
    data = csv_bytes([["review"]] + [[text] for text in TEXTS])
    alone = submit(client, "sentiment", data).get_json()["id"]
    work(app, "alone")
    shared = submit(client, "sentiment", data).get_json()["id"]
    seen = []
    while runner.queue.count:  # six 10-row chunks, taken in turn
        for name in ("first", "second"):
            work(app, name, max_jobs=1)
            seen.append(status(client, shared))
    assert [(s["state"], s["done"]) for s in seen[:2]] == [("running", 10), ("running", 20)]
    assert seen[1]["workers"] == {"first": 10, "second": 10}
    assert seen[-1]["state"] == "done" and seen[-1]["done"] == 60
    assert seen[-1]["workers"] == {"first": 30, "second": 30}
    assert status(client, alone)["workers"] == {"alone": 60}
    assert result_rows(result(client, shared)) == result_rows(result(client, alone))
    assert [row["review"] for row in result_rows(result(client, shared))] == TEXTS


def test_a_chunk_resumes_after_the_rows_already_saved(two_hosts, monkeypatch):
    app = two_hosts[0]
    client, runner = app.test_client(), app.extensions["batch_jobs"]
    job_id = submit(client, "sentiment", csv_bytes([["review"]] + [[t] for t in TEXTS[:10]])
                    ).get_json()["id"]
    # A worker saved three rows of the chunk (marked by their 0.5) before it died.
    keys = [f"batch:{job_id}:results", f"batch:{job_id}:workers", f"batch:{job_id}"]
    runner.save_rows(keys=keys, args=["dead", 60, *[x for i in range(3) for x in
                                                    (i, '["positive", "긍정", 0.5]')]])
    scored, predictor = [], app.extensions["predictors"].get("sentiment")
    predict = predictor.predict
    monkeypatch.setattr(predictor, "predict", lambda items: scored.extend(items) or predict(items))
    work(app, "next")
    assert scored == TEXTS[3:10]  # each row scored once: none of the three again
    rows = result_rows(result(client, job_id))
    assert [row["probability"] for row in rows[:3]] == ["0.5"] * 3
    assert status(client, job_id)["workers"] == {"dead": 3, "next": 7}


def test_a_chunk_that_keeps_failing_fails_its_job(two_hosts, monkeypatch):
    app = two_hosts[0]
    client, runner = app.test_client(), app.extensions["batch_jobs"]
    tries = []
    monkeypatch.setattr(app.extensions["predictors"].get("sentiment"), "predict",
                        lambda items: tries.append(items) or 1 / 0)
    job_id = submit(client, "sentiment", csv_bytes([["review"], *[[t] for t in TEXTS[:3]]])
                    ).get_json()["id"]
    work(app, "unlucky")
    assert len(tries) == batch_queue.RETRIES + 1 and runner.queue.count == 0
    failed = status(client, job_id)
    assert failed["state"] == "failed" and "다시 시도해 주세요" in failed["error"]
    assert client.get(f"/api/v1/batch/jobs/{job_id}/result").status_code == 409


def until(condition, seconds, log) -> None:
    """Wait for condition(); fail with the workers' log after seconds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.005)


def start_worker(name, models, url, log) -> subprocess.Popen:
    """`flask --app main jobs worker` as a host would run it, on the tiny models."""
    env = {**os.environ, "FLASK_BATCH_QUEUE_URL": url, "FLASK_QUANTIZE": "false",
           "FLASK_SENTIMENT_MODEL": str(models["sentiment"]), "FLASK_BATCH_JOB_CHUNK": "2",
           "FLASK_SIMILARITY_MODEL": str(models["similarity"]), "FLASK_BATCH_QUEUE_LEASE_S": "2",
           "FLASK_SECRET_KEY": "test", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "flask", "--app", "main", "jobs", "worker", "--name", name]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_worker_killed_mid_job_leaves_it_to_another(tiny_models, tiny_config, redis_url,
                                                      tmp_path):
    app = create_app(queue_config(tiny_config, redis_url, tmp_path / "jobs",
                                  BATCH_QUEUE_CHUNK_ROWS=50))
    client, runner = app.test_client(), app.extensions["batch_jobs"]
    texts = [f"{REVIEWS[i % len(REVIEWS)]} {i}" for i in range(200)]
    with open(tmp_path / "workers.log", "wb") as log:
        doomed, survivor = (start_worker(name, tiny_models, redis_url, log)
                            for name in ("doomed", "survivor"))
        try:
            from rq import Worker
            until(lambda: len(Worker.all(queue=runner.queue)) == 2, 120, tmp_path / "workers.log")
            job_id = submit(client, "sentiment", csv_bytes([["review"]] + [[t] for t in texts])
                            ).get_json()["id"]
            until(lambda: status(client, job_id)["workers"].get("doomed"), 60,
                  tmp_path / "workers.log")
            doomed.send_signal(signal.SIGSTOP)  # frozen mid-job, then killed
            before = status(client, job_id)
            doomed.kill()
            doomed.wait()
            assert before["state"] == "running" and before["done"] < 200, before
            after = wait_done(client, job_id)
            from rq.job import Job
            chunks = [Job.fetch(f"batch-{job_id}-{start}", connection=runner.raw)
                      for start in range(0, 200, 50)]
            # The job is done once its last row is saved; RQ marks that chunk finished a moment later.
            until(lambda: {chunk.get_status(refresh=True) for chunk in chunks} == {"finished"}, 30,
                  tmp_path / "workers.log")
            for chunk in chunks:
                chunk.refresh()
        finally:
            for worker in (doomed, survivor):
                worker.kill()
                worker.wait()
    assert after["state"] == "done" and after["done"] == 200
    assert min(chunk.retries_left for chunk in chunks) < batch_queue.RETRIES  # the dead one's, rerun
    assert runner.queue.failed_job_registry.count == 0
    assert after["workers"]["doomed"] == before["workers"]["doomed"]  # its saved rows kept
    assert after["workers"]["survivor"] == 200 - after["workers"]["doomed"]
    rows = result_rows(result(client, job_id))
    assert [row["review"] for row in rows] == texts  # every row once, in order
    expected = expected_labels(client, texts[:64]) + expected_labels(client, texts[64:128])
    assert [row["label"] for row in rows[:128]] == [label for label, _ in expected]
    assert [float(row["probability"]) for row in rows[:128]] == pytest.approx(
        [score for _, score in expected], abs=1e-4)  # the CSV has 4 decimals


def test_a_redis_crash_loses_no_result(two_hosts, redis_server):
    app = two_hosts[0]
    client = app.test_client()
    data = csv_bytes([["review"]] + [[text] for text in TEXTS[:12]])
    finished = submit(client, "sentiment", data).get_json()["id"]
    work(app, "before")
    expected = result(client, finished)
    waiting = submit(client, "sentiment", data).get_json()["id"]
    redis_server.restart()  # SIGKILL, then a start on its append-only file
    other = create_app(app.config).test_client()  # a host that never saw these jobs
    assert status(other, finished)["state"] == "done" and result(other, finished) == expected
    assert status(other, waiting)["state"] == "queued"  # its chunks still in the queue
    work(app, "after")
    assert result(other, waiting) == expected
