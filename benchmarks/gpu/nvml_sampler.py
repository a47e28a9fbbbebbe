#!/usr/bin/env python3
"""Samples the GPU through NVML (nvidia-ml-py's `pynvml`) into a CSV until stopped: clocks,
temperature, power, the total-energy counter, utilization, memory used and the reasons the clocks
are held back. run.sh starts it in the background before the first measurement and stops it
(SIGTERM) after the last; summarize.py matches its samples to each row's timed phase (Unix times)
for the power, energy per inference, clocks and temperature of that row.

Usage:
    nvml_sampler.py --out nvml.csv [--interval 0.05] [--index 0] [--fake]

Lines starting with `#` are metadata (device name, driver, power limit, or why NVML could not be
used: then the CSV has no samples and the sampler exits 0, so that the run goes on). `--fake`
writes made-up samples (a steady 100 W) marked `# source=fake`, for run.sh --dry-run on a machine
without a GPU: it exercises the same path, never a real figure.

It only reads: it changes no clock, power limit or mode of the card.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

COLUMNS = [
    "unix_s",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "temp_c",
    "power_w",
    "energy_mj",
    "gpu_util_pct",
    "mem_util_pct",
    "mem_used_mib",
    "clock_event_reasons",
]

stopping = False


def stop(_signum: int, _frame: Any) -> None:
    global stopping
    stopping = True


def read_or_blank(f: Callable[[], Any]) -> str:
    """A reading as text, blank when NVML refuses it (not supported on this card, say)."""
    try:
        v = f()
    except Exception:  # noqa: BLE001  (NVMLError and its many subclasses)
        return ""
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def real(index: int) -> tuple[list[str], Callable[[], list[str]]]:
    import pynvml as n

    n.nvmlInit()
    h = n.nvmlDeviceGetHandleByIndex(index)

    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    meta = [
        f"device={text(n.nvmlDeviceGetName(h))}",
        f"index={index}",
        f"driver={text(n.nvmlSystemGetDriverVersion())}",
        f"power_limit_w={read_or_blank(lambda: n.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0)}",
        f"max_sm_clock_mhz={read_or_blank(lambda: n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_SM))}",
        "source=nvml",
    ]
    reasons = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        n, "nvmlDeviceGetCurrentClocksThrottleReasons"
    )

    def sample() -> list[str]:
        util = None
        try:
            util = n.nvmlDeviceGetUtilizationRates(h)
        except n.NVMLError:
            pass
        return [
            f"{time.time():.3f}",
            read_or_blank(lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)),
            read_or_blank(lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM)),
            read_or_blank(lambda: n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)),
            read_or_blank(lambda: n.nvmlDeviceGetPowerUsage(h) / 1000.0),
            read_or_blank(lambda: n.nvmlDeviceGetTotalEnergyConsumption(h)),
            "" if util is None else str(util.gpu),
            "" if util is None else str(util.memory),
            read_or_blank(lambda: n.nvmlDeviceGetMemoryInfo(h).used // (1024 * 1024)),
            read_or_blank(lambda: hex(reasons(h))),
        ]

    return meta, sample


def fake() -> tuple[list[str], Callable[[], list[str]]]:
    start = time.time()

    def sample() -> list[str]:
        t = time.time()
        power = 100.0 + 5.0 * math.sin(t)
        energy_mj = 100.0 * (t - start) * 1000.0  # the integral of a steady 100 W, near enough
        return [f"{t:.3f}", "1980", "3201", "40", f"{power:.3f}", f"{energy_mj:.0f}", "50", "10", "1024", "0x0"]

    return ["device=fake", "index=0", "driver=none", "power_limit_w=700", "source=fake (dry run: no NVML here)"], sample


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--interval", type=float, default=0.05, help="seconds between samples (default 0.05)")
    p.add_argument("--index", type=int, default=0, help="NVML device index (default 0)")
    p.add_argument("--fake", action="store_true", help="made-up samples, for a dry run without a GPU")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(a.out, "w", buffering=1) as f:
        try:
            meta, sample = fake() if a.fake else real(a.index)
        except Exception as e:  # noqa: BLE001  (no pynvml, no driver, no device)
            f.write(f"# NVML unavailable: {type(e).__name__}: {e}\n")
            f.write(",".join(COLUMNS) + "\n")
            print(f"nvml_sampler: NVML unavailable: {e}", file=sys.stderr)
            return 0
        for m in meta:
            f.write(f"# {m}\n")
        f.write(",".join(COLUMNS) + "\n")
        while not stopping:
            f.write(",".join(sample()) + "\n")
            time.sleep(a.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
