"""Local control plane: start time (median of 5 cold starts) and idle memory per component.

Run: .venv/bin/python -m benchmarks.localcluster [--starts 5] [--idle 30]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from e2e.localcluster import LocalCluster


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds idle before RSS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as work:
        cluster = LocalCluster(run_dir=Path(work) / "cluster")
        timings = []
        try:
            for i in range(args.starts):
                started = time.monotonic()
                cluster.up()
                timings.append(time.monotonic() - started)
                if i < args.starts - 1:
                    cluster.down()
            time.sleep(args.idle)
            print(f"cluster start (etcd -> 3 schedulable nodes), {args.starts} cold starts:")
            print(
                f"  median {statistics.median(timings):.1f}s  min {min(timings):.1f}s"
                f"  max {max(timings):.1f}s"
            )
            print(f"idle RSS after {args.idle:.0f}s:")
            total = 0.0
            for component in cluster.components():
                rss = rss_mib(component.pid)
                total += rss
                print(f"  {component.name:<24} {rss:7.1f} MiB")
            print(f"  {'total':<24} {total:7.1f} MiB")
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
