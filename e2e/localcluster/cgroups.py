"""The real node's cgroup root (cgroup v1 and the hybrid unified mount alike).

Each node's kubelet gets its own `cgroupRoot`, created here in every mounted hierarchy, so two
kubelets on one machine never see, let alone garbage-collect, each other's pod cgroups.
"""

import contextlib
import os
import signal
import time
from pathlib import Path

from e2e.localcluster.processes import ClusterError


def hierarchies(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers, name=systemd, unified)."""
    mounts = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append(Path(fields[4]))
    return mounts


def create(root: str) -> None:
    for hierarchy in hierarchies():
        path = hierarchy / root.lstrip("/")
        path.mkdir(exist_ok=True)
        # A new v1 cpuset cgroup has no CPUs and no memory nodes: nothing could run in it.
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (path / name).exists() and not (path / name).read_text().strip():
                (path / name).write_text((hierarchy / name).read_text())


def members(root: str) -> set[int]:
    """Pids of every process anywhere under the root (the containers of the node's pods)."""
    pids: set[int] = set()
    for hierarchy in hierarchies():
        for directory, _, _ in os.walk(hierarchy / root.lstrip("/")):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in Path(directory, "cgroup.procs").read_text().split())
    return pids


def remove(root: str, timeout: float = 10) -> None:
    """Kill whatever still runs under the root, then remove its cgroups bottom-up; idempotent."""
    deadline = time.monotonic() + timeout
    while pids := members(root):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise ClusterError(f"processes {sorted(pids)} under cgroup {root} do not die")
        time.sleep(0.1)
    for hierarchy in hierarchies():
        # Children before parents; a cgroup whose last task just exited can refuse removal
        # for a moment.
        for directory, _, _ in os.walk(hierarchy / root.lstrip("/"), topdown=False):
            _rmdir(Path(directory), deadline)


def _rmdir(path: Path, deadline: float) -> None:
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"cannot remove cgroup {path}: {exc}") from exc
            time.sleep(0.1)
