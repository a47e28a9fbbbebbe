#!/usr/bin/env python3
"""The summary of a benchmarks/gpu/run.sh run, from the files it left in its work folder.

Usage:
    summarize.py summary --work DIR --device cuda:0 --md summary.md --json summary.json [--dry-run]
    summarize.py rates --compare compare.json --backend torch --device cuda:0 --fractions 0.3,0.6,0.9

`summary` reads, in DIR: compare-<model>/compare.json (`infer compare`), reference-<model>.json
(reference.py), optimize.json (`infer optimize-batch`), server-<rate>.json (`infer bench --scenario
server`), nvml.csv (nvml_sampler.py) and steps.tsv (run.sh's step log), and writes:

- per model, every row: wall median (the primary figure), the device's own median (CUDA events),
  items/s, device memory allocated/reserved, status;
- the CPU-to-GPU speed-up per batch size (each backend's cpu row against torch's GPU row);
- infer / Python per batch size on the target device: wall over wall, device over device (goal
  <= 1.05 on the wall clock);
- per GPU row (infer and Python), from NVML samples inside the row's timed phases: mean power,
  energy per inference (the total-energy counter, else power integrated), mean SM clock, highest
  temperature;
- the batch sweep (largest fit, first failure and why, best throughput) and the server runs.

`rates` prints request rates for the server scenario: the fractions of the batch-1 throughput of
the given row (space-separated requests per second, three significant digits).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import sys
from pathlib import Path
from typing import Any

GOAL = 1.05  # infer / Python on the wall clock


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def rows_of(comparison: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(entry, row or None) for every row of a comparison, entries without a report once."""
    out = []
    for e in comparison.get("entries", []):
        rep = e.get("report")
        if not rep or not rep.get("rows"):
            out.append((e, None))
            continue
        out.extend((e, r) for r in rep["rows"])
    return out


def dims_label(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(row.get("dims", {}).items()))


# --------------------------------------------------------------------------------------------
# NVML
# --------------------------------------------------------------------------------------------


class Nvml:
    """The sampler's CSV: metadata and samples sorted by time."""

    def __init__(self, path: Path) -> None:
        self.meta: dict[str, str] = {}
        self.note = ""
        self.samples: list[dict[str, float | None]] = []
        try:
            lines = path.read_text().splitlines()
        except OSError as e:
            self.note = f"no NVML samples: {e}"
            return
        body = []
        for line in lines:
            if line.startswith("#"):
                text = line[1:].strip()
                if "=" in text:
                    k, v = text.split("=", 1)
                    self.meta[k.strip()] = v.strip()
                else:
                    self.note = text
            else:
                body.append(line)
        for r in csv.DictReader(body):
            self.samples.append({k: (float(v) if v not in ("", None) and k != "clock_event_reasons" else None) for k, v in r.items()})
        self.samples.sort(key=lambda s: s["unix_s"] or 0.0)
        self.times = [s["unix_s"] or 0.0 for s in self.samples]

    def inside(self, a: float, b: float) -> list[dict[str, float | None]]:
        i, j = bisect.bisect_left(self.times, a), bisect.bisect_right(self.times, b)
        return self.samples[i:j]

    def counter_at(self, t: float) -> float | None:
        """The energy counter (mJ) at time t, linearly interpolated; None outside the samples."""
        pts = [(s["unix_s"], s["energy_mj"]) for s in self.samples if s["energy_mj"] is not None]
        if len(pts) < 2 or not pts[0][0] <= t <= pts[-1][0]:
            return None
        k = bisect.bisect_left([p[0] for p in pts], t)
        if k == 0:
            return pts[0][1]
        (t0, e0), (t1, e1) = pts[k - 1], pts[k]
        return e0 if t1 == t0 else e0 + (e1 - e0) * (t - t0) / (t1 - t0)

    def energy_j(self, a: float, b: float) -> tuple[float | None, str]:
        """Energy over [a, b]: the counter's difference, else the power samples integrated."""
        ea, eb = self.counter_at(a), self.counter_at(b)
        if ea is not None and eb is not None and eb >= ea:
            return (eb - ea) / 1e3, "energy counter"
        pts = [(s["unix_s"], s["power_w"]) for s in self.inside(a, b) if s["power_w"] is not None]
        if len(pts) < 2:
            return None, "too few samples"
        return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(pts, pts[1:])), "power integrated"

    def row(self, windows: list[list[float]], items: int) -> dict[str, Any] | None:
        """NVML figures over a row's timed phases; None without samples in them."""
        inside = [s for a, b in windows for s in self.inside(a, b)]
        if not inside or items <= 0:
            return None
        energy, how = 0.0, set()
        for a, b in windows:
            e, h = self.energy_j(a, b)
            how.add(h)
            if e is None:
                energy = None
                break
            energy += e
        span = sum(b - a for a, b in windows)
        interval = (self.times[-1] - self.times[0]) / max(1, len(self.times) - 1) if len(self.times) > 1 else 0
        vals = lambda k: [s[k] for s in inside if s[k] is not None]  # noqa: E731
        mean = lambda v: sum(v) / len(v) if v else None  # noqa: E731
        return {
            "samples": len(inside),
            "seconds": span,
            "mean_power_w": mean(vals("power_w")),
            "energy_j": energy,
            "energy_per_item_mj": None if energy is None else energy / items * 1e3,
            "energy_method": ", ".join(sorted(how)),
            "approximate": span < 10 * interval,
            "mean_sm_clock_mhz": mean(vals("sm_clock_mhz")),
            "max_temp_c": max(vals("temp_c"), default=None),
            "mean_gpu_util_pct": mean(vals("gpu_util_pct")),
        }


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def mib(b: Any) -> str:
    return "?" if b is None else f"{b / 2**20:.0f}"


def compare_section(name: str, c: dict[str, Any], nvml: Nvml, out: dict[str, Any]) -> str:
    md = [f"### {name}: `infer compare` ({c.get('model', '?')})\n"]
    rows = []
    for e, r in rows_of(c):
        if r is None:
            rows.append([e["backend"], e["device"], "-", "-", "-", "-", "-", "-", str(e.get("status"))])
            out.setdefault("rows", []).append(
                {"model": name, "backend": e["backend"], "device": e["device"], "batch_size": None, "status": e.get("status")}
            )
            continue
        dev = r.get("device_time")
        mem = r.get("device_memory")
        power = nvml.row(r.get("timed_unix_s", []), r["iterations"] * r["batch_size"]) if e["device"].startswith("cuda") else None
        rec = {
            "backend": e["backend"],
            "device": e["device"],
            "batch_size": r["batch_size"],
            "dims": r.get("dims", {}),
            "wall_median_ms": r["latency_ms"]["median"],
            "device_median_ms": dev["summary_ms"]["median"] if dev else None,
            "throughput_per_s": r["throughput_per_s"],
            "device_memory": mem,
            "nvml": power,
            "status": e.get("status"),
        }
        out.setdefault("rows", []).append({"model": name, **rec})
        rows.append(
            [
                e["backend"],
                e["device"],
                str(r["batch_size"]) + (f" ({dims_label(r)})" if r.get("dims") else ""),
                fmt(rec["wall_median_ms"]),
                fmt(rec["device_median_ms"]),
                fmt(rec["throughput_per_s"], ".1f"),
                "-" if not mem else f"{mib(mem.get('allocated'))}/{mib(mem.get('reserved'))}",
                "-" if not power else f"{fmt(power['mean_power_w'], '.0f')} W, {fmt(power['energy_per_item_mj'], '.2f')} mJ/item"
                + (" ~" if power["approximate"] else ""),
                str(e.get("status")),
            ]
        )
    md.append(
        table(
            ["backend", "device", "batch", "wall median ms", "device median ms", "items/s", "device MiB alloc/resv", "NVML", "status"],
            rows,
        )
    )
    # CPU -> GPU speed-up: each CPU row against torch's GPU row of the same batch and dims.
    gpu = {
        (r["batch_size"], dims_label(r)): r
        for e, r in rows_of(c)
        if r is not None and e["device"].startswith("cuda") and e["backend"] == "torch"
    }
    sp = []
    for e, r in rows_of(c):
        if r is None or e["device"] != "cpu":
            continue
        g = gpu.get((r["batch_size"], dims_label(r)))
        if g is None:
            continue
        x = r["latency_ms"]["median"] / g["latency_ms"]["median"]
        out.setdefault("speedups", []).append(
            {"model": name, "cpu_backend": e["backend"], "batch_size": r["batch_size"], "dims": r.get("dims", {}), "speedup": x}
        )
        sp.append([e["backend"], str(r["batch_size"]), fmt(r["latency_ms"]["median"]), fmt(g["latency_ms"]["median"]), f"{x:.1f}x"])
    if sp:
        md.append("\nCPU → GPU speed-up (wall medians, torch on the GPU):\n\n")
        md.append(table(["cpu backend", "batch", "cpu ms", "torch gpu ms", "speed-up"], sp))
    else:
        md.append("\nCPU → GPU speed-up: no GPU row measured (none on this machine).\n")
    return "".join(md)


def reference_section(name: str, c: dict[str, Any] | None, ref: dict[str, Any], device: str, nvml: Nvml, out: dict[str, Any]) -> str:
    infer_rows = {}
    if c:
        infer_rows = {
            r["batch_size"]: r for e, r in rows_of(c) if r is not None and e["backend"] == "torch" and e["device"] == device
        }
    md = [f"### {name}: infer / Python (torch {ref.get('torch_version')}, {ref.get('file')}, {device})\n\n"]
    rows = []
    for pr in ref.get("rows", []):
        b = pr["batch_size"]
        ir = infer_rows.get(b)
        wall = ir["latency_ms"]["median"] / pr["wall_ms"]["median"] if ir else None
        idev = (ir or {}).get("device_time")
        dev = idev["summary_ms"]["median"] / pr["device_ms"]["median"] if idev and pr.get("device_ms") else None
        power = nvml.row(pr["timed_unix_s"], pr["iterations"] * b) if device.startswith("cuda") else None
        out.setdefault("ratios", []).append(
            {
                "model": name,
                "batch_size": b,
                "infer_wall_ms": ir["latency_ms"]["median"] if ir else None,
                "python_wall_ms": pr["wall_ms"]["median"],
                "wall_ratio": wall,
                "infer_device_ms": idev["summary_ms"]["median"] if idev else None,
                "python_device_ms": (pr.get("device_ms") or {}).get("median"),
                "device_ratio": dev,
                "within_goal": None if wall is None else wall <= GOAL,
                "python_nvml": power,
            }
        )
        rows.append(
            [
                str(b),
                fmt(ir["latency_ms"]["median"] if ir else None),
                fmt(pr["wall_ms"]["median"]),
                "-" if wall is None else f"{wall:.3f}" + ("" if wall <= GOAL else f" (> {GOAL})"),
                fmt(idev["summary_ms"]["median"] if idev else None),
                fmt((pr.get("device_ms") or {}).get("median")),
                "-" if dev is None else f"{dev:.3f}",
            ]
        )
    md.append(table(["batch", "infer wall ms", "python wall ms", "wall ratio", "infer device ms", "python device ms", "device ratio"], rows))
    md.append(f"\nGoal: infer / Python <= {GOAL} on the wall clock (same file, same inputs' shapes, same span: upload, forward, download).\n")
    return "".join(md)


def optimize_section(o: dict[str, Any], out: dict[str, Any]) -> str:
    out["batch_sweep"] = {k: o.get(k) for k in ("model", "max_batch", "largest_fit", "smallest_failure", "best_batch")}
    rows = []
    for p in o.get("probes", []):
        if p.get("outcome") == "fit":
            rows.append([str(p["batch_size"]), "fit", fmt(p["median_ms"]), fmt(p["throughput_per_s"], ".1f"), ""])
        else:
            rows.append([str(p["batch_size"]), "did not fit", "-", "-", str(p.get("reason", ""))[:160]])
    failure = next((p.get("reason") for p in o.get("probes", []) if p["batch_size"] == o.get("smallest_failure")), None)
    out["batch_sweep"]["first_failure_reason"] = failure
    return (
        f"### Batch sweep (`infer optimize-batch`, {o.get('model')})\n\n"
        f"largest batch that fits: {o.get('largest_fit')}; first that does not: {o.get('smallest_failure')}"
        f" ({(failure or 'none failed')[:200]}); best throughput: batch {o.get('best_batch')}\n\n"
        + table(["batch", "outcome", "median ms", "items/s", "reason"], rows)
    )


def server_section(files: list[Path], out: dict[str, Any]) -> str:
    rows = []
    for f in sorted(files, key=lambda f: float(f.stem.removeprefix("server-") or 0)):
        s = load(f)
        res = (s or {}).get("result")
        if not isinstance(res, dict):
            rows.append([f.stem, "-", "-", "-", "-", "-", "-", "unreadable"])
            continue
        lat, comp = res.get("latency_ms") or {}, res.get("compute_ms") or {}
        rec = {
            "file": f.name,
            "device": s.get("device"),
            "asked_rate": res.get("asked_rate"),
            "requests": res.get("requests"),
            "completed_rate": (res.get("queueing") or {}).get("completed_rate"),
            "latency_p50_ms": lat.get("p50"),
            "latency_p99_ms": lat.get("p99"),
            "compute_median_ms": comp.get("median"),
            "sustainable": res.get("sustainable"),
            "valid": res.get("valid"),
        }
        out.setdefault("server", []).append(rec)
        rows.append(
            [
                fmt(rec["asked_rate"], ".3g"),
                str(rec["requests"]),
                fmt(rec["completed_rate"], ".1f"),
                fmt(rec["latency_p50_ms"]),
                fmt(rec["latency_p99_ms"]),
                fmt(rec["compute_median_ms"]),
                str(rec["sustainable"]),
                str(rec["valid"]),
            ]
        )
    if not rows:
        return ""
    return "### Server scenario (`infer bench --scenario server`, Poisson arrivals, torch)\n\n" + table(
        ["asked req/s", "requests", "completed req/s", "latency p50 ms", "p99 ms", "compute median ms", "sustainable", "valid"],
        rows,
    )


def summary(a: argparse.Namespace) -> int:
    work: Path = a.work
    nvml = Nvml(work / "nvml.csv")
    out: dict[str, Any] = {"device": a.device, "dry_run": a.dry_run, "nvml": {**nvml.meta, "note": nvml.note}}
    md = [f"# infer on {a.device}{' (DRY RUN on the CPU: no GPU figure here)' if a.dry_run else ''}\n\n"]
    if nvml.meta:
        md.append("NVML: " + ", ".join(f"{k} {v}" for k, v in nvml.meta.items()) + f"; {len(nvml.samples)} samples\n\n")
    elif nvml.note:
        md.append(f"NVML: {nvml.note}\n\n")
    steps = work / "steps.tsv"
    if steps.is_file():
        rows = [line.split("\t") for line in steps.read_text().splitlines() if line.strip()]
        out["steps"] = [{"step": r[0], "seconds": float(r[1]), "status": r[2]} for r in rows if len(r) >= 3]
        md.append("## Steps\n\n" + table(["step", "seconds", "status"], [r[:3] for r in rows]) + "\n")
    md.append("## Results\n\n")
    for cdir in sorted(work.glob("compare-*")):
        name = cdir.name.removeprefix("compare-")
        c = load(cdir / "compare.json")
        if c is None:
            md.append(f"### {name}: no compare.json (see the log)\n\n")
            continue
        md.append(compare_section(name, c, nvml, out) + "\n")
        ref = load(work / f"reference-{name}.json")
        if ref is not None:
            md.append(reference_section(name, c, ref, a.device, nvml, out) + "\n")
    o = load(work / "optimize.json")
    if o is not None:
        md.append(optimize_section(o, out) + "\n")
    md.append(server_section(sorted(work.glob("server-*.json")), out))
    a.md.write_text("".join(md))
    a.json.write_text(json.dumps(out, indent=1) + "\n")
    print("".join(md))
    return 0


def rates(a: argparse.Namespace) -> int:
    c = load(a.compare)
    base = None
    for e, r in rows_of(c or {}):
        if r is not None and e["backend"] == a.backend and e["device"] == a.device and r["batch_size"] == 1:
            base = r["throughput_per_s"]
            break
    if base is None:
        print(f"summarize: no batch-1 row of {a.backend} on {a.device} in {a.compare}", file=sys.stderr)
        return 1
    # Three significant digits: distinct rates (and file names) even at a few requests per second.
    print(" ".join(f"{max(0.01, base * float(f)):.3g}" for f in a.fractions.split(",")))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary")
    s.add_argument("--work", type=Path, required=True)
    s.add_argument("--device", default="cuda:0")
    s.add_argument("--md", type=Path, required=True)
    s.add_argument("--json", type=Path, required=True)
    s.add_argument("--dry-run", action="store_true")
    r = sub.add_parser("rates")
    r.add_argument("--compare", type=Path, required=True)
    r.add_argument("--backend", default="torch")
    r.add_argument("--device", default="cuda:0")
    r.add_argument("--fractions", default="0.3,0.6,0.9")
    a = p.parse_args(argv)
    return summary(a) if a.command == "summary" else rates(a)


if __name__ == "__main__":
    sys.exit(main())
