"""Batch analysis: the /batch pages, the /api/v1/batch API, and jobs shared between app instances."""
import csv
import io
import re
import time

import pytest

import batch_jobs
from main import create_app

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
JOB_URL = re.compile(r"/batch/jobs/([A-Za-z0-9_-]{22})$")
REVIEWS = ["이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "배우 연기는 좋은데 스토리가 너무 뻔하다",
           "최고의 영화입니다 강력 추천", "지루하고 재미없어요", "음악이 아름답고 감동적이었다", "돈이 아깝다"]
PAIRS = [("오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요"),
         ("회의는 내일 오후 세 시에 시작합니다", "내일 오후 3시에 회의가 열립니다"),
         ("이 영화 정말 재밌다!", "주식 시장이 크게 하락했다")]


def csv_bytes(rows, encoding="utf-8") -> bytes:
    """rows written as CSV in encoding."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def result_rows(data: bytes) -> list:
    """A result CSV (UTF-8 with BOM) as dicts."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def wait_done(client, job_id, seconds=120) -> list:
    """Poll a job's status until it is finished; every status seen."""
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/batch/jobs/{job_id}").get_json()
        seen.append(status)
        if status["state"] not in batch_jobs.UNFINISHED:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} not finished within {seconds} s: {seen[-1]}")


def submit(client, task, data, **params):
    """POST a CSV body to the batch API."""
    return client.post(f"/api/v1/batch/{task}", query_string=params, data=data,
                       content_type="text/csv")


def upload(client, form):
    """Post the upload form with a token, as a browser would; the response."""
    token = TOKEN.search(client.get("/batch").get_data(as_text=True)).group(1)
    return client.post("/batch", data={**form, "csrf_token": token},
                       content_type="multipart/form-data")


def run_job(client, job_url, columns):
    """Choose columns on the preview page and start the job; the response."""
    token = TOKEN.search(client.get(job_url).get_data(as_text=True)).group(1)
    form = {f"column{i}": name for i, name in enumerate(columns, start=1)}
    return client.post(f"{job_url}/run", data={**form, "csrf_token": token})


def test_page_flow_reads_cp949_reports_bad_rows_and_gives_a_csv(client):
    long_review = "가" * 1001
    rows = [["id", "document", "label"], ["1", REVIEWS[0], "1"], ["2", "   ", "0"],
            ["3", long_review, "1"], ["4"], ["5", REVIEWS[1], "0"]]
    response = upload(client, {"task": "sentiment", "header": "on",
                               "file": (io.BytesIO(csv_bytes(rows, "cp949")), "리뷰.csv")})
    assert response.status_code == 303
    job_url = response.headers["Location"]
    preview = client.get(job_url).get_data(as_text=True)
    assert "CP949 (EUC-KR)" in preview and "5행" in preview and "<th>document</th>" in preview
    assert '<option selected>document</option>' in preview  # guessed from the column name
    assert run_job(client, job_url, ["document"]).status_code == 303
    page = client.get(job_url).get_data(as_text=True)
    assert 'id="job-progress"' in page or "결과 CSV 내려받기" in page  # running, or done already
    job_id = JOB_URL.search(job_url).group(1)
    assert wait_done(client, job_id)[-1]["state"] == "done"
    page = client.get(job_url).get_data(as_text=True)  # a reload shows the outcome
    assert "결과 CSV 내려받기" in page and "3행 &#39;document&#39; 열" in page
    download = client.get(f"/api/v1/batch/jobs/{job_id}/result")
    assert download.mimetype == "text/csv" and "attachment" in download.headers["Content-Disposition"]
    result = result_rows(download.data)
    assert [row["id"] for row in result] == ["1", "2", "3", "4", "5"]  # every row kept, in order
    assert [row["label_ko"] in ("긍정", "부정") for row in result] == [True, False, False, False, True]
    assert "비어 있습니다" in result[1]["error"] and "1001자" in result[2]["error"]
    assert "5행: 'document' 열의 칸이 없습니다" in result[3]["error"]
    assert 0.5 <= float(result[0]["probability"]) <= 1.0


def test_pasted_pairs_give_a_histogram(client):
    text = "\n".join(f"{a}\t{b}" for a, b in PAIRS) + "\n한 문장뿐\n"
    response = upload(client, {"task": "similarity", "text": text})
    job_url = response.headers["Location"]
    assert "구분자 탭" in client.get(job_url).get_data(as_text=True)
    run_job(client, job_url, ["열 1", "열 2"])
    status = wait_done(client, JOB_URL.search(job_url).group(1))[-1]
    assert status["summary"]["scored"] == 3 and status["summary"]["errors"] == 1
    assert sum(bin["count"] for bin in status["summary"]["histogram"]) == 3
    assert status["refused"] == [{"row": 4, "message": "4행: '열 2' 열의 칸이 없습니다."}]
    page = client.get(job_url).get_data(as_text=True)
    assert page.count("<meter") == 5 and "점</span>" in page  # five bins of scores


@pytest.mark.parametrize("form, status, message", [
    ({"task": "sentiment"}, 400, "파일을 고르거나"),
    ({"task": "sentiment", "file": (io.BytesIO(b"text\n\xff\xfe\xfa\xfb\x81 \n"), "a.csv")}, 400,
     "인코딩"),
    ({"task": "sentiment", "file": (io.BytesIO(b"PK\x03\x04\x00\x00"), "a.xlsx")}, 400,
     "CSV로 저장해"),
    ({"task": "translation", "text": "안녕"}, 400, "작업"),
])
def test_unreadable_uploads_get_a_korean_error_on_the_form(client, form, status, message):
    response = upload(client, form)
    text = response.get_data(as_text=True)
    assert response.status_code == status and message in text and 'role="alert"' in text


def test_upload_limits_are_settings(tiny_config, tmp_path):
    app = create_app({**tiny_config, "BATCH_FILE_MAX_BYTES": 2000, "BATCH_FILE_MAX_ROWS": 20,
                      "BATCH_JOBS_DIR": str(tmp_path)})
    client = app.test_client()
    too_long = upload(client, {"task": "sentiment", "text": "리뷰\n" * 21})
    assert too_long.status_code == 413 and "20행까지" in too_long.get_data(as_text=True)
    too_big = upload(client, {"task": "sentiment",
                              "file": (io.BytesIO(("text\n" + "가" * 700 + "\n").encode()), "a.csv")})
    assert too_big.status_code == 413 and "MB까지" in too_big.get_data(as_text=True)
    # Far past the limit the body is refused before it is read, still with a Korean page.
    huge = upload(client, {"task": "sentiment", "file": (io.BytesIO(b"a" * 200_000), "a.csv")})
    assert huge.status_code == 413 and 'role="alert"' in huge.get_data(as_text=True)
    api = submit(client, "sentiment", b"text\n" + b"a\n" * 5000)
    assert api.status_code == 413 and api.get_json()["error"]["code"] == "payload_too_large"
    # The 1 MB limit of other requests still holds: only the uploads are allowed more.
    assert app.config["MAX_CONTENT_LENGTH"] == 1_048_576


def test_upload_needs_the_csrf_token(client):
    response = client.post("/batch", data={"task": "sentiment", "text": "좋다"})
    assert response.status_code == 400 and "보안 토큰" in response.get_data(as_text=True)


def test_api_csv_in_csv_out_equals_the_json_api(tiny_config, tmp_path):
    # fp32: int8 scores move slightly with their batch-mates, and batches differ here.
    client = create_app({**tiny_config, "QUANTIZE": False, "BATCH_JOBS_DIR": str(tmp_path)}
                        ).test_client()
    texts = [f"{review} {i}" for i, review in enumerate(REVIEWS * 6)]
    response = submit(client, "sentiment", csv_bytes([["text"]] + [[t] for t in texts]), wait=60)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    expected = client.post("/api/v1/sentiment", json={"texts": texts}).get_json()["results"]
    rows = result_rows(response.data)
    assert [row["text"] for row in rows] == texts
    assert [row["label"] for row in rows] == [item["label"] for item in expected]
    # The file rounds to 4 decimals (issue 30); the JSON API keeps every digit.
    assert [float(row["probability"]) for row in rows] == pytest.approx(
        [item["score"] for item in expected], abs=5e-5)
    assert all(len(row["probability"].partition(".")[2]) <= 4 for row in rows)
    pairs = [list(pair) for pair in PAIRS]
    response = submit(client, "similarity", csv_bytes([["s1", "s2"], *pairs], "cp949"),
                      column=["s1", "s2"], wait=60)
    expected = client.post("/api/v1/similarity", json={"pairs": pairs}).get_json()["results"]
    rows = result_rows(response.data)
    assert [float(row["score"]) for row in rows] == pytest.approx(
        [item["score"] for item in expected], abs=5e-5)
    assert [row["percent"] for row in rows] == [str(item["percent"]) for item in expected]
    assert [row["similar"] == "유사" for row in rows] == [item["similar"] for item in expected]


@pytest.mark.parametrize("task, data, params, status, code", [
    ("sentiment", b"text\n\xff\xfe\xfa\xfb\x81 \n", {}, 400, "invalid_encoding"),
    ("sentiment", b"", {}, 400, "empty_file"),
    ("sentiment", "text\n좋다\n".encode(), {"column": "review"}, 400, "missing_column"),
    ("similarity", "a,b\n좋다,좋아\n".encode(), {"column": "a"}, 400, "missing_column"),
    ("similarity", "a,b\n좋다,좋아\n".encode(), {"column": ["a", "a"]}, 400, "same_column"),
    ("similarity", "a\n좋다\n".encode(), {}, 400, "too_few_columns"),
    ("similarity", "a\n좋다\n".encode(), {"column": ["a", "a"]}, 400, "too_few_columns"),
    ("sentiment", "text\n좋다\n".encode(), {"wait": "soon"}, 400, "invalid_type"),
    ("translation", "text\n좋다\n".encode(), {}, 404, "not_found"),
])
def test_api_errors_are_json(client, task, data, params, status, code):
    response = submit(client, task, data, **params)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_api_asks_for_the_column_it_cannot_guess(client):
    memo = csv_bytes([["id", "memo"], ["1", "좋다"], ["2", "별로"]])  # short memos: unsure
    response = submit(client, "sentiment", memo)
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["code"] == "column_required"
    assert error["columns"] == ["id", "memo"] and "'id', 'memo'" in error["message"]
    # Reviews are text, ids are not: the API scores the reviews, never "1" and "2".
    reviews = csv_bytes([["id", "memo"], ["1", REVIEWS[2]], ["2", REVIEWS[3]]])
    rows = result_rows(submit(client, "sentiment", reviews, wait=30).data)
    assert [row["id"] for row in rows] == ["1", "2"] and all(row["label_ko"] for row in rows)
    assert not any(row["error"] for row in rows)


def test_page_asks_for_the_column_it_cannot_guess(client):
    memo = csv_bytes([["id", "memo"], ["1", "좋다"], ["2", "별로"]])
    job_url = upload(client, {"task": "sentiment", "header": "on",
                              "file": (io.BytesIO(memo), "memo.csv")}).headers["Location"]
    preview = client.get(job_url).get_data(as_text=True)
    assert "골라 주세요" in preview and "<option selected>" not in preview
    assert '<option value="" selected>열을 고르세요</option>' in preview
    refused = run_job(client, job_url, [""])
    assert refused.status_code == 400 and "분석할 열을 1개 고르세요" in refused.get_data(as_text=True)
    assert run_job(client, job_url, ["memo"]).status_code == 303


def test_similarity_never_pairs_a_column_with_itself(client):
    one_column = csv_bytes([["문장"], [PAIRS[0][0]], [PAIRS[1][0]]])
    response = upload(client, {"task": "similarity", "header": "on",
                               "file": (io.BytesIO(one_column), "one.csv")})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "열이 하나뿐입니다" in page and 'role="alert"' in page
    pasted = upload(client, {"task": "similarity", "text": "한 줄에 한 문장\n두 번째 문장\n"})
    assert pasted.status_code == 400 and "열이 하나뿐입니다" in pasted.get_data(as_text=True)
    two_columns = csv_bytes([["a", "b"], *PAIRS])
    job_url = upload(client, {"task": "similarity", "header": "on",
                              "file": (io.BytesIO(two_columns), "pairs.csv")}).headers["Location"]
    preview = client.get(job_url).get_data(as_text=True)
    assert preview.count("<option selected>a</option>") == 1
    assert preview.count("<option selected>b</option>") == 1
    assert '<script src="/static/batch.js">' in preview  # it keeps the two choices apart
    refused = run_job(client, job_url, ["a", "a"])
    assert refused.status_code == 400 and "서로 다른 열" in refused.get_data(as_text=True)
    assert run_job(client, job_url, ["a", "b"]).status_code == 303


def test_download_headers(client):
    data = csv_bytes([["text"], [REVIEWS[0]]])
    response = submit(client, "sentiment", data, name="reviews_cp949.csv", wait=30)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert 'filename=reviews_cp949-result.csv' in disposition
    assert "filename*=UTF-8''reviews_cp949-%EA%B2%B0%EA%B3%BC.csv" in disposition
    korean = submit(client, "sentiment", data, name="리뷰.csv", wait=30)
    assert "filename=batch-result.csv" in korean.headers["Content-Disposition"]


def test_unknown_field_message_needs_no_particle(client):
    # '…'이(가) reads badly; the name goes after a colon instead.
    response = client.post("/api/v1/sentiment", json={"txt": "오타"})
    assert response.get_json()["error"]["message"].startswith("알 수 없는 필드가 있습니다: 'txt'.")


def test_unknown_jobs_are_404(client):
    for job_id in ("A" * 22, "..%2F..%2Fetc", "short"):
        assert client.get(f"/api/v1/batch/jobs/{job_id}").get_json()["error"]["code"] in (
            "job_not_found", "not_found")
        page = client.get(f"/batch/jobs/{job_id}")
        assert page.status_code == 404 and 'role="alert"' in page.get_data(as_text=True)


def test_ten_thousand_rows_with_progress_while_others_are_served(client):
    texts = [f"{REVIEWS[i % len(REVIEWS)]} {i}" for i in range(10_000)]
    started = time.monotonic()
    response = submit(client, "sentiment", csv_bytes([["review"]] + [[t] for t in texts]))
    assert response.status_code == 202 and response.headers["Location"].endswith(
        response.get_json()["id"])
    job_id = response.get_json()["id"]
    # A user's request in the middle of the job is answered in its turn, not after the job.
    served_during_job = False
    while not served_during_job:
        before = client.get(f"/api/v1/batch/jobs/{job_id}").get_json()
        assert before["state"] in ("queued", "running"), before
        answer = client.post("/api/v1/sentiment", json={"text": "재밌다"})
        after = client.get(f"/api/v1/batch/jobs/{job_id}").get_json()
        assert answer.status_code == 200
        served_during_job = after["state"] == "running" and after["done"] < after["total"]
    seen = wait_done(client, job_id)
    progress = [status["done"] for status in seen]
    assert progress == sorted(progress) and any(0 < done < 10_000 for done in progress)
    assert seen[-1]["state"] == "done" and seen[-1]["done"] == seen[-1]["total"] == 10_000
    assert sum(seen[-1]["summary"]["counts"].values()) == 10_000
    rows = result_rows(client.get(f"/api/v1/batch/jobs/{job_id}/result").data)
    assert [row["review"] for row in rows] == texts
    assert time.monotonic() - started < 240


@pytest.fixture
def two_apps(tiny_config, tmp_path):
    """Two app instances (as two gunicorn workers would be) sharing one job directory."""
    config = {**tiny_config, "QUANTIZE": False, "BATCH_JOBS_DIR": str(tmp_path / "jobs")}
    return create_app(config), create_app(config)


def test_a_job_is_read_and_downloaded_from_another_instance(two_apps):
    first, second = (app.test_client() for app in two_apps)
    data = csv_bytes([["document"]] + [[review] for review in REVIEWS])
    job_id = submit(first, "sentiment", data).get_json()["id"]
    assert wait_done(second, job_id)[-1]["state"] == "done"
    from_second = second.get(f"/api/v1/batch/jobs/{job_id}/result")
    assert from_second.status_code == 200
    assert from_second.data == first.get(f"/api/v1/batch/jobs/{job_id}/result").data
    assert "결과 CSV 내려받기" in second.get(f"/batch/jobs/{job_id}").get_data(as_text=True)


def test_a_job_whose_worker_died_is_resumed_by_another(two_apps, monkeypatch):
    first, second = two_apps
    # The first instance queues the job, then "dies": it never runs it and its lock is gone.
    monkeypatch.setattr(batch_jobs.JobRunner, "_spawn", lambda self, job, lock: lock.close())
    data = csv_bytes([["document"]] + [[review] for review in REVIEWS])
    job_id = submit(first.test_client(), "sentiment", data).get_json()["id"]
    job = first.extensions["batch_jobs"].get(job_id)
    assert job.read("status.json")["state"] == "queued"
    # It had written two results and half a third line before it died.
    lines = ['[0, ["positive", "긍정", 0.5]]', '[1, ["negative", "부정", 0.5]]']
    (job.dir / "results.jsonl").write_text("\n".join(lines) + '\n[2, ["pos', encoding="utf-8")
    monkeypatch.undo()
    client = second.test_client()
    assert wait_done(client, job_id)[-1]["state"] == "done"
    rows = result_rows(client.get(f"/api/v1/batch/jobs/{job_id}/result").data)
    assert [row["document"] for row in rows] == REVIEWS
    assert [row["probability"] for row in rows[:2]] == ["0.5", "0.5"]  # kept, not redone
    fresh = client.post("/api/v1/sentiment", json={"texts": REVIEWS[2:]}).get_json()["results"]
    assert [row["label"] for row in rows[2:]] == [item["label"] for item in fresh]


def test_expired_jobs_are_swept(tiny_config, tmp_path):
    app = create_app({**tiny_config, "BATCH_JOBS_DIR": str(tmp_path), "BATCH_JOB_TTL_S": -1})
    client = app.test_client()
    assert submit(client, "sentiment", "text\n좋다\n".encode(), wait=30).status_code == 200
    ids = [path.name for path in tmp_path.iterdir()]
    assert len(ids) == 1
    submit(client, "sentiment", "text\n좋다\n".encode(), wait=30)
    assert not set(ids) & {path.name for path in tmp_path.iterdir()}


def test_progress_page_uses_the_static_script_only(client, monkeypatch):
    held = []  # the job is queued, its lock held, but not run until the test lets go
    monkeypatch.setattr(batch_jobs.JobRunner, "_spawn", lambda self, job, lock: held.append(lock))
    job_id = submit(client, "sentiment", "document\n좋다\n".encode()).get_json()["id"]
    page = client.get(f"/batch/jobs/{job_id}").get_data(as_text=True)
    assert '<progress max="1" value="0">' in page and "차례를 기다리는 중" in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/batch.js">']
    assert " style=" not in page
    assert client.get("/static/batch.js").status_code == 200
    monkeypatch.undo()
    held[0].close()
    assert wait_done(client, job_id)[-1]["state"] == "done"  # taken over once the lock is free
