"""Where one request's time goes: each step of predict() for one input, then the whole API call.

    python -m bench.profile                       # both embedded models, 100 real inputs each
    python -m bench.profile --ops 8               # also the 8 costliest torch ops of the forward pass

Prints JSON: per task, the median milliseconds of each step for one input (cleaning, tokenizing,
the n-gram member, padding, the forward pass, postprocessing), predict() as a whole, and a POST
to the app's API through Flask's test client (routing, checks, JSON and the micro-batcher
included; no HTTP server). Run it on an idle machine: it measures this process only.
"""
import argparse
import json
import statistics
import time

import torch

import hardware
from bench.forward import TASKS, as_inputs
from bench.loadgen import PATHS, load_bodies


def median_ms(function, items) -> float:
    """The median wall time of function(item) over items, in milliseconds."""
    times = []
    for item in items:
        started = time.perf_counter()
        function(item)
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 2)


def step_times(predictor, inputs) -> dict:
    """Median ms of each predict() step for one input at a time."""
    encoded = [predictor.encode([item]) for item in inputs]
    rows = [predictor.rows(item) for item in encoded]
    batches = [predictor.tokenizer.pad([row.features for row in item], return_tensors="pt") for item in rows]
    # Also the warm-up: every batch shape runs once before the forward pass is timed.
    logits = [predictor.merge(item, list(predictor.forward(batch))) for item, batch in zip(encoded, batches)]
    steps = {"clean": median_ms(lambda item: [predictor.clean(text) for text in texts_of(item)], inputs),
             "encode (clean, tokenize, n-gram member)": median_ms(lambda item: predictor.encode([item]), inputs)}
    ngram = getattr(predictor, "ngram", None)
    if ngram is not None:
        cleaned = [item[0].cleaned for item in encoded]
        steps["of which n-gram member"] = median_ms(lambda text: ngram.positive_probability([text]), cleaned)
    steps["pad"] = median_ms(lambda item: predictor.tokenizer.pad([row.features for row in item], return_tensors="pt"),
                             rows)
    steps["forward"] = median_ms(predictor.forward, batches)
    steps["postprocess"] = median_ms(lambda pair: predictor.postprocess(pair[0][0], pair[1][0]),
                                     list(zip(encoded, logits)))
    steps["predict"] = median_ms(lambda item: predictor.predict([item]), inputs)
    steps["rows per input"] = len(rows[0])
    steps["tokens per row (median)"] = statistics.median(len(row) for item in rows for row in item)
    return steps


def texts_of(item) -> list:
    """The texts of one input: a review, or both sentences of a pair."""
    return [item] if isinstance(item, str) else list(item)


def top_ops(predictor, batch, count) -> list:
    """The costliest torch ops (self CPU time) of ten forward passes over one batch."""
    with torch.profiler.profile() as profiler:
        for _ in range(10):
            predictor.forward(batch)
    averages = sorted(profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
    return [{"op": event.key, "calls_per_pass": event.count // 10,
             "ms_per_pass": round(event.self_cpu_time_total / 10 / 1000, 2)} for event in averages[:count]]


def api_time(app, task, bodies) -> float:
    """Median ms of one API request through Flask's test client, the app's models loaded."""
    client = app.test_client()
    for body in bodies[:3]:  # warm-up: the first requests pay for lazy set-up
        response = client.post(PATHS[task], json=body)
        if response.status_code != 200:
            raise SystemExit(f"{PATHS[task]} answered {response.status_code}: {response.get_data(as_text=True)}")
    return median_ms(lambda body: client.post(PATHS[task], json=body), bodies)


def main(argv=None):
    """Profile both tasks' models, as the app serves them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentiment-model", default="running_model/sentiment")
    parser.add_argument("--similarity-model", default="running_model/similarity")
    parser.add_argument("--inputs", type=int, default=100, help="real inputs per task")
    parser.add_argument("--ops", type=int, default=0, help="also list this many costliest torch ops")
    parser.add_argument("--data-dir", default=None, help="the shared data directory")
    args = parser.parse_args(argv)
    from main import create_app  # here: importing the app reads no settings before argparse's --help
    app = create_app({"SENTIMENT_MODEL": args.sentiment_model, "SIMILARITY_MODEL": args.similarity_model,
                      "LOAD_MODELS_AT_START": True})
    registry = app.extensions["predictors"]
    results = {}
    for task in TASKS:
        bodies = load_bodies(task, args.data_dir, limit=args.inputs)
        inputs = as_inputs(task, bodies)
        served = registry.get(task)
        predictor = getattr(served, "predictor", served)  # the model itself, without the batcher
        results[task] = {"model": predictor.describe(), "steps_ms": step_times(predictor, inputs),
                         "api_ms": api_time(app, task, bodies)}
        if args.ops:
            rows = predictor.rows(predictor.encode(inputs[:1]))
            batch = predictor.tokenizer.pad([row.features for row in rows], return_tensors="pt")
            results[task]["top_ops"] = top_ops(predictor, batch, args.ops)
    registry.close()
    print(json.dumps({"cpu": hardware.describe_cpu(), "torch_threads": torch.get_num_threads(), "results": results},
                     indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
