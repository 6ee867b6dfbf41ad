"""Mounts a real node leaves under its directories: the kubelet's volume tmpfs, containerd's
overlay root filesystems and pod network-namespace pins, the node's own namespace pin."""

import re
import subprocess
from pathlib import Path

from e2e.localcluster.processes import ClusterError

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")  # mountinfo writes spaces and the like as \040


def mount_points(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    return [
        Path(_OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), line.split()[4]))
        for line in mountinfo.read_text().splitlines()
    ]


def under(directories: list[Path], mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mount points inside (or at) any of `directories`, deepest first."""
    found = {
        point
        for point in mount_points(mountinfo)
        for directory in directories
        if point == directory or directory in point.parents
    }
    return sorted(found, key=lambda p: (-len(p.parts), p))  # a mount before its parent


def unmount_under(directories: list[Path]) -> None:
    """Unmount everything below `directories`; a mount still busy is detached (lazily)."""
    for point in under(directories):
        result = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False)
        if result.returncode != 0 and point in mount_points():
            lazy = subprocess.run(
                ["umount", "-l", str(point)], capture_output=True, text=True, check=False
            )
            if lazy.returncode != 0:
                raise ClusterError(f"cannot unmount {point}: {lazy.stderr.strip()}")
