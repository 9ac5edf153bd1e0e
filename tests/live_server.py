"""A real gunicorn (gunicorn.conf.py) on a free loopback port: for tests and screenshots."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 120  # importing torch and loading models on a busy 2-core machine
READY = re.compile(r"Worker ready \(pid: (\d+)\)")  # gunicorn.conf.py's post_worker_init


@dataclass
class LiveServer:
    """A running gunicorn: its process, base URL and log file."""

    process: subprocess.Popen
    url: str
    log: Path

    def workers(self) -> list:
        """The worker processes (the master's children), oldest first."""
        children = psutil.Process(self.process.pid).children()
        return sorted(children, key=lambda child: child.create_time())

    def ready_pids(self) -> list:
        """Pids of every worker that has said it is ready, in the order they did."""
        return [int(pid) for pid in READY.findall(self.log.read_text(errors="replace"))]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url, body=None, timeout=30):
    """GET url, or POST body as JSON; the decoded JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def start_gunicorn(models, log, **env) -> LiveServer:
    """Start gunicorn on 127.0.0.1 serving models by task (none: the app's settings); env adds
    variables (None removes one)."""
    port = free_port()
    settings = {f"FLASK_{task.upper()}_MODEL": str(path) for task, path in models.items()}
    environ = {**os.environ, "PORT": f"127.0.0.1:{port}", "OMP_NUM_THREADS": "1", **settings,
               **env}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server run gets a fresh one
    environ = {key: value for key, value in environ.items() if value is not None}
    # --no-control-socket: gunicorn's control socket has one path per user, which a test server
    # would take from a developer's running server.
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket",
               "main:create_app()"]
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=output, stderr=output)
    return LiveServer(process, f"http://127.0.0.1:{port}", Path(log))


def wait_until_healthy(server: LiveServer, seconds=STARTUP_SECONDS) -> None:
    """Poll /healthz until it answers; raise early, with the log, if gunicorn exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n"
                               f"{server.log.read_text()}")
        try:
            if call(f"{server.url}/healthz", timeout=5) == {"status": "ok"}:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer within {seconds} s:\n{server.log.read_text()}")


def wait_until_workers_ready(server: LiveServer, count, exclude=(), seconds=STARTUP_SECONDS):
    """Wait until count live workers (none of the pids in exclude) have said they are ready."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        live = {worker.pid for worker in server.workers()} - set(exclude)
        ready = [pid for pid in server.ready_pids() if pid in live]
        if len(ready) >= count:
            return ready
        time.sleep(0.2)
    raise RuntimeError(f"{count} workers not ready within {seconds} s:\n{server.log.read_text()}")


def stop(server: LiveServer) -> None:
    """Stop gunicorn gracefully, killing it if it hangs."""
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


def open_form(base_url, path, fields) -> tuple:
    """A cookie-keeping client that has loaded the form at path, and fields with its token."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(base_url + path, timeout=30) as response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode()).group(1)
    return browser, {**fields, "csrf_token": token}


def post_form(browser, base_url, path, form) -> str:
    """Post form with browser's cookies; the page, which must come with 200."""
    data = urllib.parse.urlencode(form).encode()
    with browser.open(base_url + path, data=data, timeout=30) as response:
        assert response.status == 200
        return response.read().decode()


@contextmanager
def running(models, log, workers=1, **env):
    """A healthy gunicorn with workers workers for the with block; stopped after it."""
    server = start_gunicorn(models, log, WEB_CONCURRENCY=str(workers), **env)
    try:
        wait_until_healthy(server)
        wait_until_workers_ready(server, workers)
        yield server
    finally:
        stop(server)
