"""Issue 30: every row of an uploaded file is in its result, in order, blank and short ones too."""
import io
import re

import pytest

from test_batch_views import JOB_URL, result_rows, run_job, upload, wait_done

R0, R1, R2 = "이 영화 정말 재밌다!", "시간 낭비했다 다신 안 봄", "재밌다, 정말 최고의 영화"  # R2: a comma
A, B = "오늘 날씨가 정말 좋네요", "오늘은 날씨가 맑고 화창하네요"
CSV, TSV = "text/csv", "text/tab-separated-values"

# (task, name, content type, body, columns, rows): each row of the file between its header and
# its last line, as (its cells in the result, its spreadsheet row number, scored or not).
FILES = [
    ("sentiment", "one.csv", CSV, f'text\n{R0}\n\n""\n   \n{R1}\n', ["text"], [
        ([R0], 2, True), ([""], 3, False), ([""], 4, False), (["   "], 5, False), ([R1], 6, True)]),
    ("sentiment", "two.csv", CSV, f'id,text\n1,{R0}\n\n3,""\n4,   \n5\n,\n7,"{R2}"\n', ["text"], [
        (["1", R0], 2, True), (["", ""], 3, False), (["3", ""], 4, False),
        (["4", "   "], 5, False), (["5", ""], 6, False), (["", ""], 7, False),
        (["7", R2], 8, True)]),
    # One column and no tab to sniff: the content type (or a .tsv name) says TSV, so a comma
    # stays in its review.
    ("sentiment", "api.csv", TSV, f"text\n{R2}\n\n   \n{R1}\n", ["text"], [
        ([R2], 2, True), ([""], 3, False), (["   "], 4, False), ([R1], 5, True)]),
    ("sentiment", "two.tsv", CSV, f"id\ttext\n1\t{R0}\n\n3\t\n4\t   \n5\n6\t{R1}\n", ["text"], [
        (["1", R0], 2, True), (["", ""], 3, False), (["3", ""], 4, False),
        (["4", "   "], 5, False), (["5", ""], 6, False), (["6", R1], 7, True)]),
    ("similarity", "pairs.csv", CSV, f's1,s2\n{A},{B}\n\n"",{B}\n{A}\n{A},   \n{A},{B}\n',
     ["s1", "s2"], [
        ([A, B], 2, True), (["", ""], 3, False), (["", B], 4, False), ([A, ""], 5, False),
        ([A, "   "], 6, False), ([A, B], 7, True)]),
    ("similarity", "pairs.tsv", CSV, f"s1\ts2\n{A}\t{B}\n\n\t{B}\n{A}\n{A}\t{B}\n", ["s1", "s2"], [
        ([A, B], 2, True), (["", ""], 3, False), (["", B], 4, False), ([A, ""], 5, False),
        ([A, B], 6, True)]),
]
RESULT = {"sentiment": "label_ko", "similarity": "similar"}


def assert_every_row_kept(result, columns, task, expected):
    """result holds expected's rows in order: scored with a result, the others with a reason."""
    assert len(result) == len(expected)
    for row, (cells, number, scored) in zip(result, expected):
        assert [row[column] for column in columns] == cells
        if scored:
            assert row[RESULT[task]] and not row["error"], row
        else:
            assert not row[RESULT[task]] and row["error"].startswith(f"{number}행"), row
            assert re.search("[가-힣]", row["error"].split("행", 1)[1])  # a Korean reason


@pytest.mark.parametrize("task, name, content_type, body, chosen, expected", FILES,
                         ids=[f"{task}-{name}-{kind}" for task, name, kind, *_ in FILES])
def test_api_result_has_every_row_in_order(client, task, name, content_type, body, chosen,
                                           expected):
    response = client.post(f"/api/v1/batch/{task}", data=body.encode("utf-8"),
                           query_string={"column": chosen, "name": name, "wait": 60},
                           content_type=content_type)
    assert response.status_code == 200, response.get_data(as_text=True)
    columns = body.split("\n", 1)[0].split("\t" if "\t" in body.split("\n")[0] else ",")
    assert_every_row_kept(result_rows(response.data), columns, task, expected)


def test_page_previews_and_keeps_every_row(client):
    task, name, _, body, chosen, expected = FILES[1]
    response = upload(client, {"task": task, "header": "on",
                               "file": (io.BytesIO(body.encode("cp949")), name)})
    job_url = response.headers["Location"]
    preview = client.get(job_url).get_data(as_text=True)
    assert "7행 · 열 2개" in preview and "빈 행 2개(3, 7행)" in preview
    shown = re.findall(r"<tr><td>(\d+)</td>((?:<td>[^<]*</td>)*)</tr>", preview)
    assert [int(number) for number, _ in shown] == [2, 3, 4, 5, 6]  # no row skipped
    assert all(cells.count("<td>") == 2 for _, cells in shown)  # blank and short rows padded
    assert run_job(client, job_url, chosen).status_code == 303
    job_id = JOB_URL.search(job_url).group(1)
    status = wait_done(client, job_id)[-1]
    assert status["summary"]["scored"] == 2 and status["summary"]["errors"] == 5
    assert [item["row"] for item in status["refused"]] == [3, 4, 5, 6, 7]
    result = result_rows(client.get(f"/api/v1/batch/jobs/{job_id}/result").data)
    assert_every_row_kept(result, ["id", "text"], task, expected)
