"""Batch jobs in Redis, run by `flask --app main jobs worker` processes on any number of hosts.

Used instead of batch_jobs.py when BATCH_QUEUE_URL is set. The queue is RQ's; a job's state lives in
Redis under batch:<id>, so every web host reads it without a shared file system:

    batch:<id>            hash: task, filename, created, columns, state, total, problems,
                          chunks, started, summary, error
    batch:<id>:table      the parsed upload (JSON)
    batch:<id>:inputs     list: the checked inputs to score, [row index, text or pair] (JSON)
    batch:<id>:problems   the rows refused, with the reason (JSON)
    batch:<id>:results    hash: row index → result cells (JSON), each row written once (HSETNX)
    batch:<id>:workers    hash: worker name → rows it scored
    batch:<id>:chunks     set: the chunks finished
    batch:<id>:result     the result CSV, once done

A job's inputs are split into chunks of BATCH_QUEUE_CHUNK_ROWS, each an RQ job of its own, so
several workers share a big file. A worker renews its chunk's lease in RQ's StartedJobRegistry
after every BATCH_JOB_CHUNK rows it saves; a worker killed mid-chunk stops renewing it, and once
BATCH_QUEUE_LEASE_S have passed the next worker to clean the registry enqueues the chunk again
(RQ's Retry), which skips the rows already saved. The worker that finishes the last chunk writes
the result CSV. Every key expires BATCH_JOB_TTL_S after the job's last change.
"""
import io
import json
import logging
import os
import secrets
import socket
import time

import click
import redis
from flask import current_app
from flask.cli import AppGroup
from rq import Callback, Queue, Retry, SimpleWorker

import batch_files
import batch_jobs

log = logging.getLogger(__name__)

QUEUE_NAME = "batch"
RETRIES = 3  # a chunk whose worker died (or that raised) runs again up to this many times
CHUNK_TIMEOUT_S = 3600  # RQ's limit for one chunk; the lease finds dead workers long before
# How long RQ keeps a finished chunk's record. Not 0: then RQ 2.12 deletes the record at once
# and trips over a dead worker's expired execution of it, failing a chunk that succeeded.
CHUNK_RECORD_TTL_S = 3600

# Saves a sub-batch's rows that no other worker saved first, and counts them for this worker:
# one atomic step, so a chunk run twice (a worker presumed dead that was only slow) never puts a
# row in the result twice nor counts it twice. KEYS: results, workers, job hash;
# ARGV: worker, ttl, then row index and cells pairs.
SAVE_ROWS = """
local added = 0
for i = 3, #ARGV, 2 do
  added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
if added > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], added) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return added
"""

# Queues a draft exactly once, however many requests ask at the same time: its staged inputs
# and problems become the job's, and its fields are set, in one step. KEYS: job hash, staged
# inputs, inputs, staged problems, problems; ARGV: field, value pairs. 0: no longer a draft.
QUEUE_DRAFT = """
if redis.call('HGET', KEYS[1], 'state') ~= 'draft' then
  redis.call('DEL', KEYS[2], KEYS[4])
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[3]) end
redis.call('RENAME', KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

cli = AppGroup("jobs", help="Batch jobs queued in Redis (BATCH_QUEUE_URL).")


def init_app(app) -> None:
    """Register the `jobs` commands."""
    app.cli.add_command(cli)


class QueuedJob:
    """One job's keys in Redis, read the way batch_views.py reads a batch_jobs.Job's files."""

    def __init__(self, runner, job_id):
        self.runner = runner
        self.id = job_id
        self.key = f"batch:{job_id}"

    def read(self, name):
        """What a batch_jobs.Job keeps in the file name (job, table, status or problems .json)."""
        if name == "job.json":
            meta = self.runner.redis.hgetall(self.key)
            return {"task": meta["task"], "filename": meta["filename"],
                    "created": float(meta["created"]),
                    "columns": json.loads(meta.get("columns", "null"))}
        if name == "status.json":
            return self.runner.status(self)
        return json.loads(self.runner.redis.get(self.part(name)) or "null")

    def part(self, name) -> str:
        """The key of one part of the job: table.json → batch:<id>:table."""
        return f"{self.key}:{name.removesuffix('.json')}"

    def has(self, name) -> bool:
        """Whether the job has that file's content yet (problems.json: once started)."""
        return bool(self.runner.redis.exists(self.part(name)))

    def result_file(self):
        """The result CSV, for send_file."""
        return io.BytesIO(self.runner.raw.get(f"{self.key}:result"))

    def keys(self) -> list:
        """Every key of the job, for expiry."""
        parts = ("table", "inputs", "problems", "results", "workers", "chunks", "result")
        return [self.key] + [self.part(part) for part in parts]


class QueueRunner:
    """Queued jobs: the web side (create, start, status), the worker side (chunks, finish)."""

    def __init__(self, url, chunk_rows=500, sub_chunk=32, lease_s=30, ttl_s=86400):
        self.url = url
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.raw = redis.Redis.from_url(url)  # RQ stores pickles, and the result CSV is bytes
        self.queue = Queue(QUEUE_NAME, connection=self.raw)
        self.chunk_rows = chunk_rows
        self.sub_chunk = sub_chunk
        self.lease_s = lease_s
        self.ttl_s = ttl_s
        self.save_rows = self.redis.register_script(SAVE_ROWS)
        self.queue_draft = self.redis.register_script(QUEUE_DRAFT)

    @classmethod
    def from_app(cls, app) -> "QueueRunner":
        """The runner for app's settings."""
        config = app.config
        return cls(config["BATCH_QUEUE_URL"], chunk_rows=config["BATCH_QUEUE_CHUNK_ROWS"],
                   sub_chunk=config["BATCH_JOB_CHUNK"] or config["BATCH_MAX_ROWS"],
                   lease_s=config["BATCH_QUEUE_LEASE_S"], ttl_s=config["BATCH_JOB_TTL_S"])

    def create(self, task, table, filename) -> QueuedJob:
        """A new draft job holding table, for the user to choose its columns."""
        job = QueuedJob(self, secrets.token_urlsafe(16))
        with self.redis.pipeline() as pipe:
            pipe.set(f"{job.key}:table", json.dumps(table.to_dict(), ensure_ascii=False),
                     ex=self.ttl_s)
            pipe.hset(job.key, mapping={"task": task, "filename": filename, "created": time.time(),
                                        "state": "draft", "total": 0, "updated": time.time()})
            pipe.expire(job.key, self.ttl_s)
            pipe.execute()
        return job

    def get(self, job_id):
        """The job with this id, or None (unknown, expired, or not an id at all)."""
        if not batch_jobs.ID_PATTERN.fullmatch(job_id or ""):
            return None
        job = QueuedJob(self, job_id)
        return job if self.redis.exists(job.key) else None

    def start(self, job, columns, inputs, problems) -> bool:
        """Queue a draft job's chunks for the workers; False when it was started already."""
        chunks = [(start, min(start + self.chunk_rows, len(inputs)))
                  for start in range(0, len(inputs), self.chunk_rows)]
        staged = f"{job.key}:staged-{secrets.token_hex(4)}"  # this request's, until it wins
        with self.redis.pipeline() as pipe:
            if inputs:
                pipe.rpush(f"{staged}:inputs", *(json.dumps(item, ensure_ascii=False)
                                                 for item in inputs))
                pipe.expire(f"{staged}:inputs", self.ttl_s)
            pipe.set(f"{staged}:problems", json.dumps(problems, ensure_ascii=False), ex=self.ttl_s)
            pipe.expire(job.key, self.ttl_s)
            pipe.expire(job.part("table"), self.ttl_s)
            pipe.execute()
        fields = {"state": "queued", "total": len(inputs), "problems": len(problems),
                  "chunks": len(chunks), "columns": json.dumps(columns, ensure_ascii=False),
                  "updated": time.time()}
        keys = [job.key, f"{staged}:inputs", job.part("inputs"), f"{staged}:problems",
                job.part("problems")]
        if not self.queue_draft(keys=keys, args=[x for pair in fields.items() for x in pair]):
            return False
        if not chunks:  # every row refused: nothing for a worker to do
            self.finish(job)
            return True
        self.queue.enqueue_many([Queue.prepare_data(
            "batch_queue.run_chunk", args=(job.id, start, end), job_id=f"batch-{job.id}-{start}",
            timeout=CHUNK_TIMEOUT_S, result_ttl=CHUNK_RECORD_TTL_S, failure_ttl=self.ttl_s,
            retry=Retry(max=RETRIES), on_failure=Callback(chunk_failed)) for start, end in chunks])
        return True

    def status(self, job) -> dict:
        """The job's state, progress (every worker's rows), each worker's share and summary."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(job.key)
            pipe.hlen(f"{job.key}:results")
            pipe.hgetall(f"{job.key}:workers")
            meta, done, workers = pipe.execute()
        state = meta.get("state", "failed")
        if state == "queued" and meta.get("started"):
            state = "running"
        status = {"state": state, "task": meta.get("task"), "done": done,
                  "total": int(meta.get("total", 0)),
                  "workers": {name: int(rows) for name, rows in sorted(workers.items())},
                  "updated": float(meta.get("updated", 0))}
        for key in ("problems", "chunks"):
            if key in meta:
                status[key] = int(meta[key])
        if "summary" in meta:
            status["summary"] = json.loads(meta["summary"])
        if "error" in meta:
            status["error"] = meta["error"]
        return status

    def run_chunk(self, job, start, end, predictor, worker=None) -> None:
        """Score the chunk's rows not saved yet, a sub-chunk at a time; finish the job if last."""
        task, state = self.redis.hmget(job.key, "task", "state")
        if state not in batch_jobs.UNFINISHED:  # expired, failed, or done by a duplicate run
            return
        name = worker.name if worker else f"{socket.gethostname()}.{os.getpid()}"
        rows = self.redis.lrange(f"{job.key}:inputs", start, end - 1)
        items = [json.loads(item) for item in rows]
        saved = self.redis.hmget(f"{job.key}:results", [index for index, _ in items])
        todo = [item for item, cells in zip(items, saved) if cells is None]  # resume after them
        keys = [f"{job.key}:results", f"{job.key}:workers", job.key]
        self.redis.hset(job.key, "started", 1)
        for first in range(0, len(todo), self.sub_chunk):
            part = todo[first:first + self.sub_chunk]
            scored = batch_jobs.predict_patiently(predictor, [item for _, item in part])
            pairs = [x for (index, _), result in zip(part, scored)
                     for x in (index, json.dumps(batch_files.result_cells(task, result),
                                                 ensure_ascii=False))]
            self.save_rows(keys=keys, args=[name, self.ttl_s, *pairs])
            if worker:
                worker.renew_lease()
        self.chunk_done(job, start)

    def chunk_done(self, job, start) -> None:
        """Mark the chunk finished; the worker that sees every chunk finished writes the result."""
        with self.redis.pipeline() as pipe:  # MULTI: the count is the one right after this add
            pipe.sadd(f"{job.key}:chunks", start)
            pipe.expire(f"{job.key}:chunks", self.ttl_s)
            pipe.scard(f"{job.key}:chunks")
            pipe.hmget(job.key, "chunks", "state")
            _, _, finished, (chunks, state) = pipe.execute()
        # Two workers may both see the last chunk finished: both write the same result, harmless.
        if finished >= int(chunks) and state in batch_jobs.UNFINISHED:
            self.finish(job)

    def finish(self, job) -> None:
        """Write the result CSV and the summary; the job is done."""
        meta, table = job.read("job.json"), job.read("table.json")
        saved = self.redis.hgetall(f"{job.key}:results")
        results = {int(index): json.loads(cells) for index, cells in saved.items()}
        errors = {index: message for index, _, message in job.read("problems.json")}
        data = batch_files.write_csv(table["columns"], table["rows"], meta["task"], results, errors)
        summary = batch_files.summarize(meta["task"], results, errors)
        with self.raw.pipeline() as pipe:
            pipe.set(f"{job.key}:result", data)
            pipe.hset(job.key, mapping={"state": "done", "updated": time.time(),
                                        "summary": json.dumps(summary, ensure_ascii=False)})
            for key in job.keys():
                pipe.expire(key, self.ttl_s)  # kept BATCH_JOB_TTL_S after it ended
            pipe.execute()


def get_runner() -> QueueRunner:
    """The current app's queue runner (the worker's app must have BATCH_QUEUE_URL set)."""
    runner = current_app.extensions["batch_jobs"]
    if not isinstance(runner, QueueRunner):
        raise click.UsageError("set BATCH_QUEUE_URL (FLASK_BATCH_QUEUE_URL=redis://host:6379/0)")
    return runner


def run_chunk(job_id, start, end) -> None:
    """RQ's task: one chunk of one job, on this worker's models."""
    runner = get_runner()
    job = QueuedJob(runner, job_id)
    task = runner.redis.hget(job.key, "task")
    if task is None:  # expired while queued
        return
    predictor = current_app.extensions["predictors"].get(task)
    runner.run_chunk(job, start, end, predictor, ChunkWorker.current)


def chunk_failed(rq_job, connection, *exc_info) -> None:
    """RQ's failure callback: a chunk that will not be retried fails its job."""
    if rq_job.should_retry:  # its worker died or it raised, and it runs again
        return
    job_id = rq_job.args[0]
    if connection.hget(f"batch:{job_id}", "state") != b"queued":  # done by another run, or gone
        return
    log.error("batch job %s failed: chunk %s gave up after %d tries", job_id, rq_job.args[1],
              RETRIES + 1)
    connection.hset(f"batch:{job_id}", mapping={"state": "failed", "updated": time.time(),
                                                "error": batch_jobs.FAILED_MESSAGE})


class ChunkWorker(SimpleWorker):
    """An RQ worker that runs chunks in its own process, where the models stay loaded (RQ's
    default worker forks a fresh process per job), on a short lease it renews as rows are saved."""

    current = None  # the worker running a chunk in this process, for run_chunk
    lease_s = 30

    def get_heartbeat_ttl(self, job) -> int:
        """A chunk's lease: once it lapses unrenewed, the chunk's worker is presumed dead."""
        return self.lease_s

    def execute_job(self, job, queue):
        """Run one chunk, reachable as ChunkWorker.current meanwhile."""
        ChunkWorker.current, self.rq_job = self, job
        try:
            return super().execute_job(job, queue)
        finally:
            ChunkWorker.current = None

    def subscribe(self):
        """RQ's command channel (`rq` stop and kill commands), read in waits of 0.2 s: RQ's own
        reader waits 60 s at a time, and a stopping worker waits that long for it."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=0.2, daemon=True, exception_handler=self._pubsub_exception_handler)

    def renew_lease(self) -> None:
        """Push the running chunk's lease lease_s further (RQ's own heartbeat, as a forking
        worker's parent sends it)."""
        self.maintain_heartbeats(self.rq_job)


def make_worker(runner, name=None) -> ChunkWorker:
    """A worker on runner's queue whose idle loop looks for dead workers' chunks every lease."""
    worker = ChunkWorker([runner.queue], connection=runner.raw,
                         name=name or f"{socket.gethostname()}.{os.getpid()}",
                         # RQ cleans its registries (requeuing abandoned chunks) at most once per
                         # maintenance_interval, between two waits of worker_ttl - 15 s for a job.
                         maintenance_interval=runner.lease_s, worker_ttl=runner.lease_s + 15)
    worker.lease_s = runner.lease_s
    return worker


@cli.command("worker")
@click.option("--name", help="Worker name shown in the jobs' status (default: host.pid).")
@click.option("--burst", is_flag=True, help="Quit once the queue is empty.")
def worker_command(name, burst):
    """Run batch job chunks from the queue until stopped (SIGTERM: after the current chunk)."""
    worker = make_worker(get_runner(), name)
    click.echo(f"worker {worker.name} listening on {get_runner().url.split('@')[-1]}")
    worker.work(burst=burst, logging_level="INFO")
