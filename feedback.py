"""Feedback store: users' corrections of the models' answers, kept with SQLAlchemy.

One row per correction: the task, the text (or the two sentences), the model's name and its
answer, the user's answer, and the time (UTC). Nothing else: no IP address, no cookie, no
session. SQLite under the instance folder unless FEEDBACK_DATABASE_URL names another database.
`flask --app main feedback export` writes the rows as NSMC or KorSTS TSV for training.
"""
import math
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import click
from flask import Blueprint, current_app, render_template, request
from flask.cli import AppGroup
from sqlalchemy import (Column, DateTime, Float, Integer, MetaData, String, Table, Text,
                        create_engine, delete, func, insert, inspect, select)
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

import models
from sentiment_predictor import LABELS_KO
from serving import EXIT_NO_MODEL, InputError, check_text, get_predictor, predict

bp = Blueprint("feedback", __name__)
cli = AppGroup("feedback", help="The feedback store: export its rows for training, or delete them.")

metadata = MetaData()
# Add columns at the end, nullable: migrate() adds what an older table lacks, keeping its rows.
FEEDBACK = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True),
    Column("task", String(16), nullable=False, index=True),
    Column("text1", Text, nullable=False),  # the text, or the first sentence
    Column("text2", Text),  # similarity: the second sentence
    Column("model", String(200), nullable=False),  # the model's name (serving.json)
    Column("model_label", String(16)),  # sentiment: positive or negative
    Column("user_label", String(16)),
    Column("model_score", Float),  # similarity: 0–5
    Column("user_score", Float),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
MIGRATE_RETRY_S = 0.5
FULL_MESSAGE = "피드백 저장 공간이 가득 차 더 받을 수 없습니다. 관리자에게 알려 주세요."
NSMC_HEADER = ("id", "document", "label")
KORSTS_HEADER = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
# Characters that would end a TSV cell or line (the data files are read with quoting off).
CELL_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class FeedbackStore:
    """The feedback table in one database, with a bound on its rows."""

    def __init__(self, url, max_rows):
        self.engine = create_engine(url, pool_pre_ping=True)
        self.max_rows = max_rows
        migrate(self.engine)

    def add(self, task, texts, model, model_answer, user_answer) -> bool:
        """Store one correction; False (nothing stored) when the store holds max_rows already."""
        sentiment = task == models.SENTIMENT
        row = {"task": task, "text1": texts[0], "text2": None if sentiment else texts[1],
               "model": model, "created_at": datetime.now(timezone.utc),
               "model_label" if sentiment else "model_score": model_answer,
               "user_label" if sentiment else "user_score": user_answer}
        with self.engine.begin() as connection:
            if connection.scalar(select(func.count()).select_from(FEEDBACK)) >= self.max_rows:
                return False
            connection.execute(insert(FEEDBACK), row)
        return True

    def count(self, task=None) -> int:
        """Rows stored (of one task)."""
        query = select(func.count()).select_from(FEEDBACK)
        if task:
            query = query.where(FEEDBACK.c.task == task)
        with self.engine.connect() as connection:
            return connection.scalar(query)

    def rows(self, task) -> list:
        """Every row of a task, oldest first, as dicts."""
        query = select(FEEDBACK).where(FEEDBACK.c.task == task).order_by(FEEDBACK.c.id)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def delete(self, task=None) -> int:
        """Delete the rows of a task (None: every row); how many went."""
        query = delete(FEEDBACK)
        if task:
            query = query.where(FEEDBACK.c.task == task)
        with self.engine.begin() as connection:
            return connection.execute(query).rowcount

    def close(self) -> None:
        """Close the connections."""
        self.engine.dispose()


def migrate(engine, attempts=3) -> None:
    """Create or migrate the table; retried, as workers starting together may race to do it."""
    for attempt in range(1, attempts + 1):
        try:
            return migrate_once(engine)
        except DBAPIError:  # "already exists": another worker got there first
            if attempt == attempts:
                raise
            time.sleep(MIGRATE_RETRY_S)


def migrate_once(engine) -> None:
    """Create the table, or add the columns an older version of it lacks; rows are kept."""
    metadata.create_all(engine)
    present = {column["name"] for column in inspect(engine).get_columns(FEEDBACK.name)}
    missing = [column for column in FEEDBACK.columns if column.name not in present]
    with engine.begin() as connection:
        for column in missing:
            kind = column.type.compile(engine.dialect)
            connection.execute(sql(f"ALTER TABLE {FEEDBACK.name} ADD COLUMN {column.name} {kind}"))


def init_app(app) -> None:
    """Open (and create or migrate) the store; register the feedback CLI commands."""
    url = app.config["FEEDBACK_DATABASE_URL"]
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(app.instance_path) / 'feedback.db'}"
    try:
        app.extensions["feedback"] = FeedbackStore(url, app.config["FEEDBACK_MAX_ROWS"])
    except SQLAlchemyError as error:
        shown = create_engine(url).url.render_as_string(hide_password=True)
        reason = " ".join(str(error).split())[:300]
        app.logger.error("cannot open the feedback store: FEEDBACK_DATABASE_URL is %s: %s",
                         shown, reason)
        raise SystemExit(EXIT_NO_MODEL) from error
    app.cli.add_command(cli)


def get_store() -> FeedbackStore:
    """The current app's feedback store."""
    return current_app.extensions["feedback"]


@bp.post("/feedback")
def submit():
    """Store a user's correction; the model's answer is computed here, never taken from the form."""
    task = request.form.get("task")
    try:
        if task not in models.TASKS:
            raise InputError("invalid_task", "알 수 없는 작업입니다.")
        predictor = get_predictor(task)
        texts = form_texts(task, predictor)
        answer = user_answer(task, request.form.get("answer", ""))
    except InputError as error:
        return render_template("feedback.html", error=error.message), error.status
    result = predict(predictor, [texts[0] if task == models.SENTIMENT else texts])[0]
    model_answer = result["label"] if task == models.SENTIMENT else result["score"]
    if not get_store().add(task, texts, predictor.name, model_answer, answer):
        return render_template("feedback.html", error=FULL_MESSAGE), 503
    return render_template("feedback.html", task=task, back=request.referrer)


def form_texts(task, predictor) -> tuple:
    """The text, or the two sentences, of the feedback form, checked like the pages' input."""
    if task == models.SENTIMENT:
        return (check_text(request.form.get("text", ""), predictor, "문장"),)
    return (check_text(request.form.get("sentence1", ""), predictor, "문장 1"),
            check_text(request.form.get("sentence2", ""), predictor, "문장 2"))


def user_answer(task, value):
    """The user's answer: positive/negative, or a score from 0 to 5; else InputError."""
    if task == models.SENTIMENT:
        if value not in LABELS_KO:
            raise InputError("invalid_answer", "올바른 답(긍정 또는 부정)을 고르세요.")
        return value
    try:
        score = float(value)
    except ValueError:
        score = math.nan
    if not 0.0 <= score <= 5.0:  # NaN fails too
        raise InputError("invalid_answer", "올바른 점수를 0에서 5 사이의 숫자로 입력하세요.")
    return score


def tsv_cell(value) -> str:
    """A value as one TSV cell: tabs and line breaks become spaces."""
    return CELL_BREAKS.sub(" ", str(value))


def export_lines(task, rows) -> list:
    """Rows as NSMC (id document label) or KorSTS (genre filename year id score s1 s2) lines."""
    if task == models.SENTIMENT:
        lines = [NSMC_HEADER] + [(row["id"], row["text1"], int(row["user_label"] == "positive"))
                                 for row in rows]
    else:
        lines = [KORSTS_HEADER] + [
            ("feedback", "kotext", row["created_at"].year, f"{row['id']:04d}",
             f"{row['user_score']:.3f}", row["text1"], row["text2"]) for row in rows]
    return ["\t".join(tsv_cell(value) for value in line) for line in lines]


@cli.command("export")
@click.option("--task", type=click.Choice(models.TASKS), required=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="The TSV file to write.")
def export_command(task, out):
    """Write a task's feedback in the NSMC or KorSTS TSV format (for training.train.finetune)."""
    rows = get_store().rows(task)
    Path(out).write_text("\n".join(export_lines(task, rows)) + "\n", encoding="utf-8")
    click.echo(f"{len(rows)} {task} row(s) written to {out}")


@cli.command("delete")
@click.option("--task", type=click.Choice([*models.TASKS, "all"]), required=True)
@click.confirmation_option(prompt="Delete these feedback rows for good?")
def delete_command(task):
    """Delete the stored feedback of a task, or all of it."""
    deleted = get_store().delete(None if task == "all" else task)
    click.echo(f"{deleted} row(s) deleted")
