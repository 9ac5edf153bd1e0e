"""The feedback store on SQLite and PostgreSQL: form, limits, migration, export, re-import."""
import json
import re
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, inspect
from sqlalchemy import text as sql

from feedback import FEEDBACK, FULL_MESSAGE, FeedbackStore
from main import create_app
from training.data import mix, sources
from training.train import finetune

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
STORED_COLUMNS = {"id", "task", "text1", "text2", "model", "model_label", "user_label",
                  "model_score", "user_score", "created_at"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.db'}"
    server = request.getfixturevalue("postgres_server")
    name = f"feedback_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sql(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server.replace("/postgres?", f"/{name}?")


@pytest.fixture
def feedback_app(tiny_config, store_url):
    """An app on the tiny models whose feedback goes to store_url."""
    app = create_app({**tiny_config, "FEEDBACK_DATABASE_URL": store_url})
    yield app
    app.extensions["feedback"].close()


def send(client, page, fields, answer):
    """Analyse on page (with its form), then post the feedback form under the result."""
    token = TOKEN.search(client.get(page).get_data(as_text=True)).group(1)
    result = client.post(page, data={**fields, "csrf_token": token}).get_data(as_text=True)
    assert "결과가 틀렸나요?" in result and 'action="/feedback"' in result
    token = TOKEN.search(result).group(1)
    return client.post("/feedback", data={**fields, "task": page[1:], "answer": answer,
                                          "csrf_token": token})


def test_the_form_stores_exactly_the_documented_fields(feedback_app):
    client = feedback_app.test_client()
    response = send(client, "/sentiment", {"text": "이 영화 정말 재밌다!"}, "negative")
    assert response.status_code == 200 and "고맙습니다" in response.get_data(as_text=True)
    response = send(client, "/similarity", {"sentence1": "오늘 날씨가 좋다", "sentence2": "날씨가 맑다"},
                    "4.5")
    assert response.status_code == 200
    store = feedback_app.extensions["feedback"]
    columns = {column["name"] for column in inspect(store.engine).get_columns("feedback")}
    assert columns == STORED_COLUMNS  # no address, no cookie, no session
    (review,) = store.rows("sentiment")
    assert (review["text1"], review["text2"], review["user_label"]) == ("이 영화 정말 재밌다!", None, "negative")
    assert review["model"] == "sentiment-tiny" and review["model_label"] in ("positive", "negative")
    (pair,) = store.rows("similarity")
    assert (pair["text1"], pair["text2"], pair["user_score"]) == ("오늘 날씨가 좋다", "날씨가 맑다", 4.5)
    assert pair["model"] == "similarity-tiny" and 0 <= pair["model_score"] <= 5
    assert pair["created_at"] >= review["created_at"]


@pytest.mark.parametrize("fields, status, message", [
    ({"task": "sentiment", "text": "좋다", "answer": "maybe"}, 400, "긍정 또는 부정"),
    ({"task": "similarity", "sentence1": "a", "sentence2": "b", "answer": "7"}, 400, "0에서 5"),
    ({"task": "similarity", "sentence1": "a", "sentence2": "b", "answer": "nan"}, 400, "0에서 5"),
    ({"task": "similarity", "sentence1": "a", "sentence2": "", "answer": "3"}, 400, "비어 있습니다"),
    ({"task": "sentiment", "text": "가" * 1001, "answer": "positive"}, 413, "1000자 이하"),
    ({"task": "other", "text": "좋다", "answer": "positive"}, 400, "작업"),
])
def test_bad_feedback_is_refused_with_a_korean_message(client, fields, status, message):
    token = TOKEN.search(client.get("/sentiment").get_data(as_text=True)).group(1)
    response = client.post("/feedback", data={**fields, "csrf_token": token})
    assert response.status_code == status and message in response.get_data(as_text=True)


def test_feedback_needs_the_csrf_token(client):
    response = client.post("/feedback", data={"task": "sentiment", "text": "좋다", "answer": "positive"})
    assert response.status_code == 400 and "보안 토큰" in response.get_data(as_text=True)


def test_a_full_store_refuses_new_rows_and_says_so(tiny_config, store_url):
    app = create_app({**tiny_config, "FEEDBACK_DATABASE_URL": store_url, "FEEDBACK_MAX_ROWS": 1})
    client = app.test_client()
    assert send(client, "/sentiment", {"text": "좋다"}, "positive").status_code == 200
    refused = send(client, "/sentiment", {"text": "싫다"}, "negative")
    assert refused.status_code == 503 and FULL_MESSAGE in refused.get_data(as_text=True)
    assert app.extensions["feedback"].count() == 1
    app.extensions["feedback"].close()


def test_an_older_table_is_migrated_without_losing_rows(store_url):
    # The table as a first version made it: no scores, as SQLAlchemy creates it on each backend.
    old = Table("feedback", MetaData(), *(Column(column.name, column.type, primary_key=column.primary_key,
                                                 nullable=column.nullable)
                                          for column in FEEDBACK.columns if "score" not in column.name))
    engine = create_engine(store_url)
    old.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(old.insert(), {"task": "sentiment", "text1": "옛 리뷰", "model": "m",
                                          "model_label": "positive", "user_label": "negative",
                                          "created_at": datetime(2024, 1, 2, tzinfo=timezone.utc)})
    engine.dispose()
    store = FeedbackStore(store_url, max_rows=10)
    assert [row["text1"] for row in store.rows("sentiment")] == ["옛 리뷰"]
    assert store.add("similarity", ("가", "나"), "m", 1.0, 2.5)
    assert store.rows("similarity")[0]["user_score"] == 2.5
    FeedbackStore(store_url, max_rows=10).close()  # a second start changes nothing
    assert store.count() == 2
    store.close()


def test_delete_by_task_and_all(store_url):
    store = FeedbackStore(store_url, max_rows=10)
    store.add("sentiment", ("좋다",), "m", "negative", "positive")
    store.add("similarity", ("가", "나"), "m", 1.0, 2.5)
    assert store.delete("sentiment") == 1 and store.count() == 1
    assert store.delete() == 1 and store.count() == 0
    store.close()


def test_export_reads_back_as_training_data(feedback_app, tmp_path):
    store = feedback_app.extensions["feedback"]
    reviews = [("좋은 영화\t탭과\n줄바꿈", "positive"), ('"따옴표로 시작하는 리뷰', "negative")]
    for text, label in reviews:
        store.add("sentiment", (text,), "m", "positive" if label == "negative" else "negative", label)
    store.add("similarity", ("오늘 날씨가 좋다", "날씨가 맑다"), "m", 1.2, 4.5)
    runner = feedback_app.test_cli_runner()
    for task, name in (("sentiment", "nsmc.tsv"), ("similarity", "korsts.tsv")):
        result = runner.invoke(args=["feedback", "export", "--task", task, "--out", str(tmp_path / name)])
        assert result.exit_code == 0 and f"{store.count(task)} {task} row(s)" in result.output
    nsmc = sources.load_nsmc(tmp_path / "nsmc.tsv")
    assert nsmc["text"].tolist() == ["좋은 영화 탭과 줄바꿈", '"따옴표로 시작하는 리뷰']
    assert nsmc["label"].tolist() == [1, 0]
    korsts = sources.load_korsts(tmp_path / "korsts.tsv")
    assert korsts.to_dict("records") == [
        {"sentence1": "오늘 날씨가 좋다", "sentence2": "날씨가 맑다", "score": 4.5}]
    header = (tmp_path / "korsts.tsv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert header == "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"
    deleted = runner.invoke(args=["feedback", "delete", "--task", "all", "--yes"])
    assert deleted.exit_code == 0 and store.count() == 0


def write_tsv(path, header, rows):
    """A TSV with a header line, unquoted, like the data files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(map(str, row)) for row in [header, *rows]) + "\n",
                    encoding="utf-8")


def test_finetune_adds_exported_feedback_but_never_held_out_texts(tmp_path):
    root = tmp_path / "data"
    reviews = [(i, f"리뷰 {i}", i % 2) for i in range(50)]
    write_tsv(root / "nsmc" / "ratings_train.txt", ("id", "document", "label"), reviews)
    write_tsv(root / "nsmc" / "ratings_test.txt", ("id", "document", "label"), [(1, "시험 리뷰", 1)])
    extra = tmp_path / "feedback.tsv"
    write_tsv(extra, ("id", "document", "label"), [(1, "사용자가 고친 리뷰", 1), (2, "시험 리뷰", 0)])
    mix_text = json.dumps({"train": [{"source": "nsmc"}, {"source": "extra", "path": str(extra)}]})
    args = finetune.parse_args(["--task", "sentiment", "--data_dir", str(root), "--init", "x", "--mix", mix_text])
    train, dev, _ = mix.load_splits(args)
    plain, _, _ = mix.load_splits(finetune.parse_args(["--task", "sentiment", "--data_dir", str(root), "--init", "x"]))
    assert len(train) == len(plain) + 1  # the held-out test review is dropped
    assert train.iloc[-1].to_dict() == {"text": "사용자가 고친 리뷰", "label": 1}
    assert "시험 리뷰" not in set(train["text"]) | set(dev["text"])
