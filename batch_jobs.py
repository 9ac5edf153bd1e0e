"""Batch jobs: files in a shared directory that any worker reads, run by a thread in one worker.

A job is a directory named by its random id (the id is the only key to it: no cookie):

    table.json     the parsed upload (columns, rows, row numbers, encoding)
    job.json       task, file name, chosen columns
    inputs.json    the checked inputs to score, by row index
    problems.json  the rows refused, with the reason
    status.json    state (draft, queued, running, done, failed), progress, summary
    results.jsonl  one line per scored input, appended chunk by chunk
    result.csv     the result file, once done
    lock           flock-ed by the worker running the job for as long as it runs

The worker that starts a job runs it, feeding its inputs to the model's batcher (the one every
request of that worker shares) a chunk at a time, so a big file never holds the model for long.
The kernel drops an flock when its process dies: a job that is unfinished but whose lock any
worker can take has lost its worker, and the worker that notices takes it over, resuming after
the last line of results.jsonl.
"""
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path

import batch_files
import microbatch

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
UNFINISHED = ("queued", "running")
BUSY_RETRY_S = 0.5  # the batcher's queue was full: other users first, try again shortly
FAILED_MESSAGE = "처리 중 오류가 발생했습니다. 다시 시도해 주세요."


def write_json(path, value) -> None:
    """Write JSON atomically: readers in other workers never see half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def read_json(path):
    """The JSON in path."""
    return json.loads(path.read_text(encoding="utf-8"))


class Job:
    """One job's directory."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.id = directory.name

    def read(self, name):
        """One of the job's JSON files."""
        return read_json(self.dir / name)

    def write(self, name, value) -> None:
        """Replace one of the job's JSON files."""
        write_json(self.dir / name, value)

    def update_status(self, **changes) -> dict:
        """Merge changes into status.json (only the lock holder, or the creator, calls this)."""
        status = {**self.read("status.json"), **changes, "updated": time.time()}
        self.write("status.json", status)
        return status

    def has(self, name) -> bool:
        """Whether the job has that file yet (problems.json: once started)."""
        return (self.dir / name).exists()

    def result_file(self) -> Path:
        """The result CSV, for send_file."""
        return self.dir / "result.csv"

    def try_lock(self):
        """An open file holding the job's flock, or None when a live worker holds it."""
        handle = open(self.dir / "lock", "a+")  # noqa: SIM115 - held open for the job's run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle

    def done_lines(self) -> list:
        """The complete lines of results.jsonl (a worker killed mid-write leaves a partial one)."""
        path = self.dir / "results.jsonl"
        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8")
        complete = text[:text.rfind("\n") + 1]
        if len(complete) != len(text):
            path.write_text(complete, encoding="utf-8")
        return complete.splitlines()


class JobRunner:
    """This worker's side of the shared job directory: create, start, watch, take over, sweep."""

    def __init__(self, root, get_predictor, chunk_size=32, per_worker=1, ttl_s=86400):
        self.root = Path(root)
        self.get_predictor = get_predictor  # task → (batched) predictor of this worker
        self.chunk_size = chunk_size
        self.slots = threading.Semaphore(per_worker)  # jobs this worker runs at once
        self.ttl_s = ttl_s

    def create(self, task, table, filename) -> Job:
        """A new draft job holding table, for the user to choose its columns."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sweep()
        job = Job(self.root / secrets.token_urlsafe(16))
        job.dir.mkdir()
        job.write("table.json", table.to_dict())
        job.write("job.json", {"task": task, "filename": filename, "created": time.time()})
        job.write("status.json", {"state": "draft", "task": task, "done": 0, "total": 0})
        return job

    def get(self, job_id):
        """The job with this id, or None (unknown, expired, or not an id at all)."""
        if not ID_PATTERN.fullmatch(job_id or ""):
            return None
        directory = self.root / job_id
        return Job(directory) if (directory / "status.json").exists() else None

    def start(self, job, columns, inputs, problems) -> bool:
        """Queue a draft job on this worker; False when it was started already."""
        lock = job.try_lock()
        if lock is None or job.read("status.json")["state"] != "draft":
            if lock:
                lock.close()
            return False
        job.write("job.json", {**job.read("job.json"), "columns": columns})
        job.write("inputs.json", inputs)
        job.write("problems.json", problems)
        job.update_status(state="queued", total=len(inputs), problems=len(problems))
        self._spawn(job, lock)
        return True

    def status(self, job) -> dict:
        """The job's status; an unfinished job whose worker died is taken over by this one."""
        status = job.read("status.json")
        if status["state"] in UNFINISHED:
            lock = job.try_lock()
            if lock is not None:
                log.warning("batch job %s lost its worker: resuming it here", job.id)
                self._spawn(job, lock)
        return status

    def _spawn(self, job, lock) -> None:
        """Run the job in a thread of this worker, which releases lock when it ends."""
        thread = threading.Thread(target=self._run, args=(job, lock), name=f"job-{job.id[:6]}",
                                  daemon=True)
        thread.start()

    def _run(self, job, lock) -> None:
        """The job's thread: score every input, write the result file, release the lock."""
        try:
            with self.slots:
                self._score(job)
                self._finish(job)
        except Exception:  # noqa: BLE001 - the job fails, the worker goes on
            log.exception("batch job %s failed", job.id)
            job.update_status(state="failed", error=FAILED_MESSAGE)
        finally:
            lock.close()

    def _score(self, job) -> None:
        """Score the inputs not yet in results.jsonl, a chunk at a time, updating the progress."""
        task, inputs = job.read("job.json")["task"], job.read("inputs.json")
        predictor = self.get_predictor(task)
        done = len(job.done_lines())
        job.update_status(state="running", done=done)
        with open(job.dir / "results.jsonl", "a", encoding="utf-8") as results:
            for start in range(done, len(inputs), self.chunk_size):
                chunk = inputs[start:start + self.chunk_size]
                scored = predict_patiently(predictor, [item for _, item in chunk])
                for (index, _), result in zip(chunk, scored):
                    cells = batch_files.result_cells(task, result)
                    results.write(json.dumps([index, cells], ensure_ascii=False) + "\n")
                results.flush()
                job.update_status(done=start + len(chunk))

    def _finish(self, job) -> None:
        """Write result.csv and the summary; the job is done."""
        meta, table = job.read("job.json"), job.read("table.json")
        results = dict(tuple(json.loads(line)) for line in job.done_lines())
        errors = {index: message for index, _, message in job.read("problems.json")}
        data = batch_files.write_csv(table["columns"], table["rows"], meta["task"], results, errors)
        (job.dir / ".result.csv").write_bytes(data)
        os.replace(job.dir / ".result.csv", job.dir / "result.csv")
        job.update_status(state="done", summary=batch_files.summarize(meta["task"], results, errors))

    def sweep(self) -> None:
        """Remove jobs older than ttl_s that no worker is running."""
        cutoff = time.time() - self.ttl_s
        for directory in self.root.iterdir():
            status = directory / "status.json"
            if not status.exists() or status.stat().st_mtime > cutoff:
                continue
            lock = Job(directory).try_lock()
            if lock is not None:
                shutil.rmtree(directory, ignore_errors=True)
                lock.close()


def predict_patiently(predictor, inputs) -> list:
    """predictor.predict(inputs), waiting and retrying while the batcher is busy with others."""
    while True:
        try:
            return predictor.predict(inputs)
        except microbatch.Busy:
            time.sleep(BUSY_RETRY_S)
