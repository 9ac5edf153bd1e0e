"""`make bench`: the app against the naive baseline, same models and gunicorn settings.

    python -m bench.run                       # CPU: 1 and 16 clients per task
    python -m bench.run --gpu                 # CUDA: 1, 16 and 64 clients
    python -m bench.run --sentiment-model runs/sentiment/best --requests 500

Starts each server in turn on a free loopback port (the app with gunicorn.conf.py, the naive
baseline as issue 27 runs it: `gunicorn -w 2 -k gthread --threads 4`), waits until it answers,
records what its models compute in (/readyz), drives each task with bench.loadgen at each client
count (after a short unmeasured warm-up), reads the worker's resident memory, stops the server,
and prints one JSON summary with the CPU (model and flags), the ratios app / naive and whether
each target of the issue is met.
"""
import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

import hardware
from bench.loadgen import MAX_REQUESTS, MAX_SECONDS, load_bodies, run_load

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {"app": "main:create_app()", "naive": "bench.naive_server:create_app()"}
# How each server runs under gunicorn: the app with its own settings file, the naive baseline
# with the command line (and no settings file: gunicorn would read ./gunicorn.conf.py),
# plus the app's boot timeout: a worker loading two models on a busy machine sends no heartbeat.
GUNICORN_ARGS = {"app": ["-c", "gunicorn.conf.py"],
                 "naive": ["-c", os.devnull, "-w", "2", "-k", "gthread", "--threads", "4",
                           "--timeout", "120"]}
TASKS = ("sentiment", "similarity")
STARTUP_SECONDS = 300  # importing torch and loading two models on a busy machine
WARMUP_REQUESTS = 50
# The targets: throughput ratios at 16 clients, latency at 1 client, memory.
TARGET_RPS_RATIO = {"sentiment": 2.5, "similarity": 2.0}
TARGET_LATENCY_RATIO_1 = 1.10
TARGET_P50_MS_1 = 60  # one input through the API (issue 11: e5-sized models stay responsive)
TARGET_RSS_MB = 1024  # one worker holding both 12-layer e5 models (issues 25 and 27: ≤ 1 GB)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(name, models, device, log, naive_dtype=None) -> tuple:
    """gunicorn serving SERVERS[name] on a free loopback port: (process, base URL)."""
    port = free_port()
    env = {**os.environ, "PORT": f"127.0.0.1:{port}",
           "FLASK_SENTIMENT_MODEL": str(models["sentiment"]),
           "FLASK_SIMILARITY_MODEL": str(models["similarity"])}
    if device:
        env["FLASK_DEVICE"] = device
    if naive_dtype:
        env["FLASK_NAIVE_DTYPE"] = naive_dtype
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each server run gets a fresh one
    command = [sys.executable, "-m", "gunicorn", *GUNICORN_ARGS[name], "--bind", env["PORT"],
               "--no-control-socket", "--access-logfile", "/dev/null", SERVERS[name]]
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    return process, f"http://127.0.0.1:{port}"


def wait_until_up(process, url, log, seconds=STARTUP_SECONDS) -> None:
    """Poll /healthz (workers load their models before answering); fail if gunicorn exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{Path(log).read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # refused, reset, or timed out while the worker loads its models
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer within {seconds} s:\n{Path(log).read_text()}")


def stop_server(process) -> None:
    """Stop gunicorn gracefully, killing it if it hangs."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def worker_rss_mb(process) -> float:
    """Resident memory of the largest gunicorn worker (each holds both models), in MB."""
    workers = psutil.Process(process.pid).children()
    return round(max(worker.memory_info().rss for worker in workers) / 2**20, 1)


def served_models(url) -> dict:
    """What each of a server's models computes in (device, dtype, int8…), from its /readyz."""
    with urllib.request.urlopen(f"{url}/readyz", timeout=60) as response:
        return json.loads(response.read().decode())["models"]


def batch_totals(url, task) -> tuple:
    """(inputs, batches) the app's batcher for task has run so far; zeros for the naive server."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:  # the naive server has no /metrics
        return 0.0, 0.0
    samples = {sample.name: sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.labels.get("task") == task}
    return samples.get("kotext_batch_size_sum", 0.0), samples.get("kotext_batch_size_count", 0.0)


def measure(url, task, clients, args, bodies) -> dict:
    """One warm-up run, then the measured run, with the mean batch size the app ran it in."""
    run_load(url, task, clients, WARMUP_REQUESTS, 30, bodies=bodies)
    inputs, batches = batch_totals(url, task)
    result = run_load(url, task, clients, args.requests, args.seconds, bodies=bodies)
    more_inputs, more_batches = batch_totals(url, task)
    if more_batches > batches:
        result["mean_batch"] = round((more_inputs - inputs) / (more_batches - batches), 1)
    return result


def bench_server(name, args, models, bodies) -> dict:
    """Start one server, load it at every client count for each task, measure, stop it."""
    log = Path(tempfile.gettempdir()) / f"kotext-bench-{name}.log"
    process, url = start_server(name, models, args.device, log, args.naive_dtype)
    try:
        wait_until_up(process, url, log)
        served = served_models(url)
        results = {task: {} for task in TASKS}
        for task in TASKS:
            for clients in args.clients:
                result = measure(url, task, clients, args, bodies[task])
                print(json.dumps({"server": name, **result}), file=sys.stderr)
                results[task][str(clients)] = result
        return {"models": served, "results": results, "worker_rss_mb": worker_rss_mb(process)}
    finally:
        stop_server(process)


def ratios(app, naive) -> dict:
    """app / naive, per task and client count: throughput, p50 and p99 latency."""
    out = {}
    for task, by_clients in app["results"].items():
        for clients, mine in by_clients.items():
            theirs = naive["results"][task][clients]
            out[f"{task}@{clients}"] = {
                "rps": round(mine["rps"] / theirs["rps"], 2),
                "p50": round(mine["p50_ms"] / theirs["p50_ms"], 2),
                "p99": round(mine["p99_ms"] / theirs["p99_ms"], 2)}
    return out


def targets(app, naive, ratio) -> dict:
    """Each target of the issue, met or not."""
    met = {}
    for task, needed in TARGET_RPS_RATIO.items():
        if f"{task}@16" in ratio:
            met[f"{task}@16 rps ≥ {needed}× naive"] = ratio[f"{task}@16"]["rps"] >= needed
            met[f"{task}@16 p99 ≤ naive"] = ratio[f"{task}@16"]["p99"] <= 1.0
        if f"{task}@1" in ratio:
            met[f"{task}@1 p50 ≤ {TARGET_LATENCY_RATIO_1}× naive"] = (
                ratio[f"{task}@1"]["p50"] <= TARGET_LATENCY_RATIO_1)
            met[f"{task}@1 p50 ≤ {TARGET_P50_MS_1} ms"] = (
                app["results"][task]["1"]["p50_ms"] <= TARGET_P50_MS_1)
    runs = [r for server in (app, naive) for by in server["results"].values() for r in by.values()]
    met["zero errors"] = all(run["errors"] == 0 for run in runs)
    met[f"app worker RSS ≤ {TARGET_RSS_MB} MB"] = app["worker_rss_mb"] <= TARGET_RSS_MB
    return met


def machine(device) -> dict:
    """What the numbers were measured on: the CPU's model and flags (native bf16 or not)…"""
    cpu = hardware.cpu_info()
    info = {"cpu": cpu["model"], "cpu_flags": cpu["flags"], "cpu_summary": hardware.describe_cpu(cpu),
            "cpu_fast_bf16": hardware.cpu_has_fast_bf16(cpu), "cores": os.cpu_count(),
            "device": device or "auto", "python": platform.python_version()}
    try:
        info["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                     capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["gpu"] = None
    return info


def parse_args(argv=None):
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentiment-model", default=os.environ.get(
        "FLASK_SENTIMENT_MODEL", "running_model/sentiment"))
    parser.add_argument("--similarity-model", default=os.environ.get(
        "FLASK_SIMILARITY_MODEL", "running_model/similarity"))
    parser.add_argument("--gpu", action="store_true", help="serve on CUDA; also 64 clients")
    parser.add_argument("--device", default=None, help="FLASK_DEVICE for both servers")
    parser.add_argument("--clients", type=int, nargs="+", default=None,
                        help="client counts (default 1 16, and 64 with --gpu)")
    parser.add_argument("--requests", type=int, default=2000, help="per measured run")
    parser.add_argument("--seconds", type=float, default=60, help="per measured run")
    parser.add_argument("--servers", nargs="+", choices=sorted(SERVERS), default=list(SERVERS))
    parser.add_argument("--data-dir", default=None, help="the shared data directory")
    parser.add_argument("--naive-dtype", choices=("fp32", "bf16", "fp16"), default=None,
                        help="the naive pipelines' dtype (default: as the weights are stored)")
    parser.add_argument("--out", default=None, help="also write the summary to this file")
    args = parser.parse_args(argv)
    args.device = args.device or ("cuda" if args.gpu else None)
    args.clients = args.clients or ([1, 16, 64] if args.gpu else [1, 16])
    args.requests, args.seconds = min(args.requests, MAX_REQUESTS), min(args.seconds, MAX_SECONDS)
    return args


def main(argv=None):
    """Benchmark the servers and print the JSON summary."""
    args = parse_args(argv)
    models = {"sentiment": args.sentiment_model, "similarity": args.similarity_model}
    bodies = {task: load_bodies(task, args.data_dir) for task in TASKS}
    summary = {"machine": machine(args.device),
               "settings": {"models": models, "clients": args.clients,
                            "requests": args.requests, "seconds": args.seconds,
                            "workers": os.environ.get("WEB_CONCURRENCY", "1"),
                            "threads": os.environ.get("GUNICORN_THREADS", "64"),
                            "app_quantize": os.environ.get("FLASK_QUANTIZE", "auto (int8 on a CPU unless the model's serving.json says not)"),
                            "app_compute_dtype": os.environ.get("FLASK_COMPUTE_DTYPE", "auto"),
                            "naive": "gunicorn -w 2 -k gthread --threads 4, pipeline per request, "
                                     f"dtype {args.naive_dtype or 'as stored'}"}}
    for name in args.servers:
        summary[name] = bench_server(name, args, models, bodies)
    if "app" in summary and "naive" in summary:
        summary["ratios"] = ratios(summary["app"], summary["naive"])
        summary["targets_met"] = targets(summary["app"], summary["naive"], summary["ratios"])
    text = json.dumps(summary, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
