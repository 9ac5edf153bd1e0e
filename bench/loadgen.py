"""Closed-loop load generator: N clients, each sending a request, waiting for it, sending the next.

    python -m bench.loadgen --url http://127.0.0.1:8000 --task sentiment --clients 16

Inputs are real: NSMC test reviews, KorSTS dev pairs (from --data-dir, else $KOTEXT_DATA_DIR,
else ../shared/data). A run stops after --requests requests or --seconds seconds, whichever
comes first, and only ever talks to a loopback address. Prints JSON: requests, seconds, rps,
p50_ms, p95_ms, p99_ms, errors, status_counts.
"""
import argparse
import http.client
import ipaddress
import itertools
import json
import socket
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import numpy as np

from preprocessing import clean
from training.data import sources

MAX_REQUESTS = 100_000  # hard caps, whatever the arguments say: a run always ends
MAX_SECONDS = 600
MAX_CLIENTS = 256
REQUEST_TIMEOUT_S = 30
PATHS = {"sentiment": "/api/v1/sentiment", "similarity": "/api/v1/similarity"}


def require_loopback(url) -> tuple:
    """(host, port) of url, refusing any host that resolves to a non-loopback address."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{url!r}: expected http://HOST:PORT")
    port = parts.port or 80
    addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    if not all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses):
        raise ValueError(f"{parts.hostname} is not a loopback address: this tool only loads "
                         f"servers on this machine")
    return parts.hostname, port


def load_bodies(task, data_dir=None, limit=2000) -> list:
    """Request bodies from real data: NSMC test reviews or KorSTS dev pairs the server accepts."""
    root = sources.data_dir(data_dir)
    if task == "sentiment":
        texts = sources.load_nsmc(root / "nsmc" / "ratings_test.txt")["text"]
        # The server refuses texts that cleaning empties (emoji only…): they would count as errors.
        bodies = ({"text": text} for text in texts if clean(text))
    else:
        pairs = sources.load_korsts(root / "korsts" / "sts-dev.tsv")
        bodies = ({"sentence1": a, "sentence2": b}
                  for a, b in zip(pairs["sentence1"], pairs["sentence2"]) if clean(a) and clean(b))
    return list(itertools.islice(bodies, limit))


class Client:
    """One keep-alive HTTP connection, reopened after a failure."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.connection = None

    def post(self, path, body) -> int:
        """POST body as JSON; the response status (the body is read and dropped)."""
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port,
                                                         timeout=REQUEST_TIMEOUT_S)
        try:
            self.connection.request("POST", path, body=json.dumps(body).encode(),
                                    headers={"Content-Type": "application/json"})
            response = self.connection.getresponse()
            response.read()
            return response.status
        except Exception:
            self.connection.close()
            self.connection = None
            raise


class Run:
    """The shared state of one load run: the next input, the budget, the outcomes."""

    def __init__(self, bodies, requests, seconds):
        self.bodies = bodies
        self.requests = requests
        self.deadline = time.monotonic() + seconds
        self.issued = 0
        self.latencies, self.statuses = [], Counter()
        self.lock = threading.Lock()

    def next_body(self):
        """The next request body, or None once the count or time budget is spent."""
        with self.lock:
            if self.issued >= self.requests or time.monotonic() >= self.deadline:
                return None
            self.issued += 1
            return self.bodies[(self.issued - 1) % len(self.bodies)]

    def record(self, status, seconds) -> None:
        """Note one finished request: its status (or exception name) and latency."""
        with self.lock:
            self.statuses[str(status)] += 1
            self.latencies.append(seconds)


def client_loop(run, host, port, path) -> None:
    """One closed-loop client: request, wait for the answer, repeat until the run is over."""
    client = Client(host, port)
    while (body := run.next_body()) is not None:
        started = time.perf_counter()
        try:
            status = client.post(path, body)
        except (OSError, http.client.HTTPException) as error:
            status = type(error).__name__
        run.record(status, time.perf_counter() - started)


def run_load(url, task, clients, requests=2000, seconds=60.0, bodies=None, data_dir=None) -> dict:
    """Drive the server at url with clients closed-loop clients; the summary as a dict."""
    host, port = require_loopback(url)
    clients, requests = min(clients, MAX_CLIENTS), min(requests, MAX_REQUESTS)
    run = Run(bodies or load_bodies(task, data_dir), requests, min(seconds, MAX_SECONDS))
    threads = [threading.Thread(target=client_loop, args=(run, host, port, PATHS[task]))
               for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarize(run, task, clients, time.perf_counter() - started)


def summarize(run, task, clients, seconds) -> dict:
    """Throughput, latency percentiles and error counts of a finished run."""
    done = len(run.latencies)
    latencies_ms = np.array(run.latencies or [0.0]) * 1000
    p50, p95, p99 = np.percentile(latencies_ms, [50, 95, 99]).round(1).tolist()
    return {"task": task, "clients": clients, "requests": done, "seconds": round(seconds, 2),
            "rps": round(done / seconds, 1) if seconds else 0.0,
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "errors": done - run.statuses.get("200", 0),
            "status_counts": dict(run.statuses)}


def parse_args(argv=None):
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (loopback)")
    parser.add_argument("--task", choices=sorted(PATHS), default="sentiment")
    parser.add_argument("--clients", type=int, default=16, help="concurrent closed-loop clients")
    parser.add_argument("--requests", type=int, default=2000, help=f"at most (≤ {MAX_REQUESTS})")
    parser.add_argument("--seconds", type=float, default=60.0, help=f"at most (≤ {MAX_SECONDS})")
    parser.add_argument("--data-dir", default=None, help="the shared data directory")
    return parser.parse_args(argv)


def main(argv=None):
    """Run one load test and print its JSON summary."""
    args = parse_args(argv)
    result = run_load(args.url, args.task, args.clients, args.requests, args.seconds,
                      data_dir=args.data_dir)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
