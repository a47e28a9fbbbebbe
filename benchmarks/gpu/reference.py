#!/usr/bin/env python3
"""The Python reference of `infer`'s torch rows: the same TorchScript file of a fixture, timed in
torch itself the way infer times it, so that run.sh can state infer's overhead as a ratio.

Usage:
    reference.py --fixture DIR --device cuda:0 --batch-sizes 1,8,32 --duration 1 --json OUT
                 [--format torchscript] [--warmup auto|N] [--threads N] [--tf32]

Each timed call does what one `infer` call of the torch backend does: the inputs, made once on the
host (standard normal float32; integer inputs uniform in the fixture's ranges, `*mask*` ones and
`*type_ids*` zeros as infer draws them), are copied to the device, `forward` runs under
`torch.no_grad()`, every output tensor is copied back to the host. On CUDA the wall clock
(`time.perf_counter`) is read after `torch.cuda.synchronize()` on both sides, and two
`torch.cuda.Event(enable_timing=True)` recorded around the call give the device's own time; on the
CPU only the wall clock exists. TF32 is off unless --tf32, as in infer. The warm-up is infer's
`--warmup auto`: windows of 5 calls until the window median of the wall clock, and of the device's
time where there is one, moves by less than 3% (at most 100 calls or 20 s). Then calls are timed
for --duration seconds (at least 5) or --iterations.

The JSON written holds, per batch size, the medians and every sample, the Unix times of the timed
phase (to match NVML's samples) and the CUDA caching allocator's figures after the row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

WINDOW = 5
TOLERANCE = 0.03
MAX_WARMUP = 100
MAX_WARMUP_S = 20.0
MIN_ITERATIONS = 5
SEED = 0x1FE_2025


def log(message: str) -> None:
    print(f"reference: {message}", file=sys.stderr, flush=True)


def input_specs(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's inputs as (name, dtype, dims with "batch" for the batch, range), from meta.json."""
    if "inputs" in meta:  # several inputs, symbolic dimensions (bert)
        sizes = meta.get("dims", {})
        specs = []
        for i in meta["inputs"]:
            dims = [sizes.get(d, d) if isinstance(d, str) and d != "batch" else d for d in i["dims"]]
            specs.append({"name": i["name"], "dtype": i["dtype"], "dims": dims, "range": i.get("range")})
        return specs
    i = meta["input"]
    return [{"name": i["name"], "dtype": i["dtype"], "dims": ["batch", *i["shape"][1:]], "range": None}]


def make_inputs(specs: list[dict[str, Any]], batch: int, rng: np.random.Generator) -> list[Any]:
    import torch

    out = []
    for s in specs:
        shape = [batch if d == "batch" else int(d) for d in s["dims"]]
        name = s["name"].lower()
        if s["dtype"] in ("f32", "float32"):
            a = rng.standard_normal(shape, dtype=np.float32)
        elif "mask" in name:
            a = np.ones(shape, dtype=np.int64)
        elif "type_ids" in name or name.startswith("token_type"):
            a = np.zeros(shape, dtype=np.int64)
        else:
            lo, hi = s["range"] or (0, 2)
            a = rng.integers(lo, hi, size=shape, dtype=np.int64)
        out.append(torch.from_numpy(a))
    return out


def flatten(y: Any) -> list[Any]:
    import torch

    if isinstance(y, torch.Tensor):
        return [y]
    if isinstance(y, dict):
        return [t for v in y.values() for t in flatten(v)]
    if isinstance(y, (list, tuple)):
        return [t for v in y for t in flatten(v)]
    return []


class Timer:
    """One call as infer makes it, timed by the wall clock and, on CUDA, by CUDA events."""

    def __init__(self, model: Any, device: Any, host_inputs: list[Any]) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.device = device
        self.inputs = host_inputs
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)

    def call(self) -> tuple[float, float | None]:
        """One call; (wall seconds, device seconds or None)."""
        torch = self.torch
        if self.cuda:
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        if self.cuda:
            self.start.record()
        with torch.no_grad():
            xs = [x.to(self.device) for x in self.inputs]
            outs = [t.cpu() for t in flatten(self.model(*xs))]
        if self.cuda:
            self.end.record()
            torch.cuda.synchronize(self.device)
        wall = time.perf_counter() - t0
        del outs
        if not self.cuda:
            return wall, None
        return wall, self.start.elapsed_time(self.end) / 1e3


def settled(previous: float, current: float) -> bool:
    return previous > 0 and abs(current - previous) / previous < TOLERANCE


def warm_up(timer: Timer, warmup: str) -> tuple[int, bool | None]:
    """infer's --warmup: a count, or `auto` (both clocks' window medians settled)."""
    if warmup != "auto":
        for _ in range(int(warmup)):
            timer.call()
        return int(warmup), None
    run, previous, start = 0, None, time.perf_counter()
    while run + WINDOW <= MAX_WARMUP and (run == 0 or time.perf_counter() - start < MAX_WARMUP_S):
        calls = [timer.call() for _ in range(WINDOW)]
        run += WINDOW
        wall = statistics.median(c[0] for c in calls)
        device = statistics.median(c[1] for c in calls) if all(c[1] is not None for c in calls) else None
        if previous is not None:
            p_wall, p_device = previous
            device_ok = (p_device is None and device is None) or (
                p_device is not None and device is not None and settled(p_device, device)
            )
            if settled(p_wall, wall) and device_ok:
                return run, True
        previous = (wall, device)
    return run, False


def summary(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)

    def q(p: float) -> float:
        return float(np.percentile(s, p))

    return {"median": q(50), "mean": float(np.mean(s)), "min": s[0], "max": s[-1], "p95": q(95), "p99": q(99)}


def memory(torch: Any, device: Any) -> dict[str, int] | None:
    if device.type != "cuda":
        return None
    return {
        "allocated": int(torch.cuda.memory_allocated(device)),
        "reserved": int(torch.cuda.memory_reserved(device)),
        "peak_allocated": int(torch.cuda.max_memory_allocated(device)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fixture", type=Path, required=True, help="fixture folder with meta.json")
    p.add_argument("--format", default="torchscript", help="the meta.json format to time (default torchscript)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--batch-sizes", default="1", help="comma-separated")
    p.add_argument("--duration", type=float, default=1.0, help="timed seconds per batch size (at least 5 calls)")
    p.add_argument("--iterations", type=int, help="timed calls per batch size instead of --duration")
    p.add_argument("--warmup", default="auto", help="`auto` (infer's rule) or a number of calls")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (off by default, as in infer)")
    p.add_argument("--json", type=Path, required=True, help="where to write the results")
    a = p.parse_args(argv)

    import torch

    meta = json.loads((a.fixture / "meta.json").read_text())
    entry = meta["formats"].get(a.format)
    if entry is None:
        log(f"error: {a.fixture} has no {a.format} ({meta.get('unavailable', {}).get(a.format, 'not in meta.json')})")
        return 1
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        log(f"error: {a.device} asked, but torch {torch.__version__} sees no CUDA device")
        return 1
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    model = torch.jit.load(str(a.fixture / entry["file"]), map_location=device).eval()
    specs = input_specs(meta)
    rng = np.random.default_rng(SEED)
    rows: list[dict[str, Any]] = []
    out = {
        "fixture": str(a.fixture),
        "model": meta.get("model"),
        "format": a.format,
        "file": entry["file"],
        "device": a.device,
        "torch_version": torch.__version__,
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
        "threads": torch.get_num_threads(),
        "timing": "wall: time.perf_counter after torch.cuda.synchronize on both sides (CPU: perf_counter alone); "
        "device: torch.cuda.Event(enable_timing=True) around the call (upload, forward, download)",
        "rows": rows,
    }
    try:
        for batch in [int(b) for b in a.batch_sizes.split(",") if b.strip()]:
            rows.append(measure(a, torch, model, device, make_inputs(specs, batch, rng), batch))
            # Written after every batch size: a run stopped at its time limit keeps its rows.
            write(a.json, out)
    except KeyboardInterrupt:
        log(f"interrupted: {len(rows)} batch size(s) kept in {a.json}")
        write(a.json, out)
        return 130
    return 0


def write(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)


def measure(a: argparse.Namespace, torch: Any, model: Any, device: Any, inputs: list[Any], batch: int) -> dict[str, Any]:
    """One batch size: warm-up, then the timed calls."""
    timer = Timer(model, device, inputs)
    warmup_iterations, warmup_settled = warm_up(timer, a.warmup)
    wall, dev = [], []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    unix_start, start = time.time(), time.perf_counter()
    while True:
        n = len(wall)
        if a.iterations is not None and n >= a.iterations:
            break
        if a.iterations is None and n >= MIN_ITERATIONS and time.perf_counter() - start >= a.duration:
            break
        w, d = timer.call()
        wall.append(w * 1e3)
        if d is not None:
            dev.append(d * 1e3)
    unix_end = time.time()
    row = {
        "batch_size": batch,
        "iterations": len(wall),
        "warmup_iterations": warmup_iterations,
        "warmup_settled": warmup_settled,
        "wall_ms": summary(wall),
        "device_ms": summary(dev) if len(dev) == len(wall) else None,
        "throughput_per_s": batch * 1e3 / summary(wall)["median"],
        "samples_ms": wall,
        "device_samples_ms": dev if len(dev) == len(wall) else [],
        "timed_unix_s": [[unix_start, unix_end]],
        "device_memory": memory(torch, device),
    }
    d = row["device_ms"]
    log(
        f"{a.device} batch {batch}: wall median {row['wall_ms']['median']:.3f} ms"
        + (f", device median {d['median']:.3f} ms" if d else "")
        + f" ({len(wall)} calls after {warmup_iterations} warm-up)"
    )
    return row


if __name__ == "__main__":
    sys.exit(main())
