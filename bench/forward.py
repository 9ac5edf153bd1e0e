"""Forward-pass speed of one model, unquantized against int8 (`QUANTIZE`), on real inputs, no server.

Each setting runs traced (TRACE_MODEL's default on a CPU); "int8 eager" is int8 without the trace.

    python -m bench.forward                         # both embedded models on this machine's CPU
    python -m bench.forward --dtypes fp32 bf16      # also each model forced to these dtypes
    python -m bench.forward --device cuda --batch-sizes 1 16 64

Prints JSON: the CPU, then milliseconds per predict() call and inputs/s at each batch size, per
model and setting (the predictor's own cleaning, tokenization and padding included).
"""
import argparse
import json
import time

import hardware
from bench.loadgen import load_bodies
from models import load_predictor

TASKS = ("sentiment", "similarity")


def as_inputs(task, bodies) -> list:
    """Predictor inputs from load-generator request bodies."""
    if task == "sentiment":
        return [body["text"] for body in bodies]
    return [(body["sentence1"], body["sentence2"]) for body in bodies]


def time_batches(predictor, inputs, batch_size, seconds) -> dict:
    """Run consecutive batches of inputs for about `seconds`; the mean time per call."""
    batches = [inputs[i:i + batch_size] for i in range(0, len(inputs) - batch_size + 1, batch_size)]
    predictor.predict(batches[0])  # warm-up
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predictor.predict(batches[calls % len(batches)])
        calls += 1
    elapsed = time.perf_counter() - started
    return {"ms_per_call": round(1000 * elapsed / calls, 2),
            "inputs_per_s": round(calls * batch_size / elapsed, 1), "calls": calls}


def main(argv=None):
    """Time each model at each batch size, unquantized and (on a CPU) int8."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentiment-model", default="running_model/sentiment")
    parser.add_argument("--similarity-model", default="running_model/similarity")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--data-dir", default=None, help="the shared data directory")
    parser.add_argument("--dtypes", nargs="*", default=[], choices=("fp32", "bf16", "fp16"),
                        help="also time each model forced to these dtypes (COMPUTE_DTYPE)")
    args = parser.parse_args(argv)
    # (label, QUANTIZE, COMPUTE_DTYPE, TRACE_MODEL): "unquantized" is this host's own dtype (auto).
    settings = [("unquantized", False, "auto", None)] + [(dtype, False, dtype, None) for dtype in args.dtypes]
    if args.device == "cpu":
        settings += [("int8", True, "auto", None), ("int8 eager", True, "auto", False)]
    results = {}
    for task in TASKS:
        inputs = as_inputs(task, load_bodies(task, args.data_dir, limit=1000))
        for label, quantize, dtype, trace in settings:
            predictor = load_predictor(getattr(args, f"{task}_model"), task, device=args.device,
                                       quantize=quantize, dtype=dtype, trace=trace)
            described = predictor.describe()
            results[f"{task} {label}"] = {
                "dtype": described["dtype"], "int8_layers": described["int8_layers"],
                "traced": described["traced"],
                **{str(size): time_batches(predictor, inputs, size, args.seconds)
                   for size in args.batch_sizes}}
    print(json.dumps({"device": args.device, "cpu": hardware.describe_cpu(), "results": results},
                     indent=2))


if __name__ == "__main__":
    main()
