"""Time a model with the Python onnxruntime loop that `infer bench` is compared with.

Same iteration scheme as `infer bench --warmup W --iterations N --batch-sizes B`: W untimed
runs, then N runs each timed alone with time.perf_counter around `session.run`; same session
settings (all graph optimizations, the runtime's default thread counts unless --threads).
The input is standard-normal float32 of the model's input shape with the batch set to B.

Writes a JSON object with the raw samples (ms) and their median, mean, min and max.
"""

import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if a.threads > 0:
        so.intra_op_num_threads = a.threads
    session = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [a.batch_size if i == 0 or not isinstance(d, int) else d for i, d in enumerate(inp.shape)]
    x = np.random.default_rng(0x5EED).standard_normal(shape).astype(np.float32)
    feed = {inp.name: x}
    for _ in range(a.warmup):
        session.run(None, feed)
    samples = []
    for _ in range(a.iterations):
        t = time.perf_counter()
        session.run(None, feed)
        samples.append((time.perf_counter() - t) * 1e3)
    out = {
        "runtime": f"onnxruntime {ort.__version__} (Python)",
        "model": a.model,
        "batch_size": a.batch_size,
        "warmup": a.warmup,
        "iterations": a.iterations,
        "median_ms": statistics.median(samples),
        "mean_ms": statistics.fmean(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "samples_ms": samples,
    }
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
