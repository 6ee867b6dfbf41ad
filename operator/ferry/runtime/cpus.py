"""How many torch intra-op threads each TorchServe worker gets.

torch starts one intra-op thread per CPU it can see, and TorchServe starts workers without
limiting that. In a pod the CPUs torch sees are the node's (a CPU limit is a CFS quota, not
a smaller CPU set), and every worker shares them with TorchServe's Java frontend and Ferry's
front. Threads beyond the cores left to them spin at every parallel region and wait for each
other when one is preempted. Measured on 2 cores, one worker, batch 8, concurrency 32: 1 thread
served 620-670 req/s in every round; 2 threads 570-950 req/s on a quiet machine and 140 req/s
while other processes were busy. So each worker gets an equal share of the pod's CPU budget after
one core is left to the frontends, and never less than one thread.
"""

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_budget(cgroup_root: Path = CGROUP_ROOT) -> float:
    """The CPUs this process may use: its CPU set, capped by a CFS quota (cgroup v2 or v1)."""
    cpus = float(len(os.sched_getaffinity(0)))
    quota = _cfs_quota(cgroup_root)
    return min(cpus, quota) if quota is not None else cpus


def _cfs_quota(root: Path) -> float | None:
    """`quota / period` in CPUs, or None when there is no limit or no readable cgroup file."""
    try:
        fields = (root / "cpu.max").read_text().split()  # v2: "max 100000" or "150000 100000"
    except OSError:
        try:  # v1: quota -1 means no limit
            fields = [
                (root / "cpu" / "cpu.cfs_quota_us").read_text().strip(),
                (root / "cpu" / "cpu.cfs_period_us").read_text().strip(),
            ]
        except OSError:
            return None
    if len(fields) != 2 or fields[0] in ("max", "-1"):
        return None
    return int(fields[0]) / int(fields[1])


def threads_per_worker(workers: int, budget: float) -> int:
    """Intra-op threads for each of `workers`, one core of `budget` left to the frontends."""
    spare = budget - 1 if budget >= 2 else budget
    return max(1, math.floor(spare / max(1, workers)))
