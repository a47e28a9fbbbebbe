"""Run a command once and print, as JSON, its wall time (from start to exit) and its peak resident
memory (the whole process: `ru_maxrss` of the only child, KiB). Used by `cargo xtask bench` to
measure `infer info` and Python's onnxruntime the same way; the command's stdout is discarded."""

import json
import resource
import subprocess
import sys
import time


def main() -> None:
    cmd = sys.argv[1:]
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {done.returncode}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall_s": wall, "peak_rss_kib": peak_kib}))


if __name__ == "__main__":
    main()
