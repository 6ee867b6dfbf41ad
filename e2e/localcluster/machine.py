"""What real nodes change outside their network namespace, run and slot directories, and how
the machine is put back as it was once the last real node is gone.

The kubelet sets a few global kernel tunables at start (protectKernelDefaults would make it
refuse to start instead), and kubelet, containerd and the CNI plugins create a few directories
at hard-coded paths. The first slot claimed records the tunables' values and which of those
directories existed; the last slot released restores the values and removes the directories
that were not there before, if nothing but what our nodes left is in them.
"""

import contextlib
import json
from pathlib import Path

# The values kubelet's setupKernelTunables writes (pkg/kubelet/cm/container_manager_linux.go).
KUBELET_TUNABLES = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Paths fixed in the binaries (no flag moves them); deepest first, for removal.
HOST_DIRS = (
    Path("/var/lib/kubelet/device-plugins"),  # device manager socket + checkpoint
    Path("/var/lib/kubelet"),
    Path("/var/log/containers"),  # the kubelet's log symlinks
    Path("/var/lib/cni/results"),  # libcni's result cache (files named <network>-<id>-<if>)
    Path("/var/lib/cni"),
    Path("/run/containerd/s"),  # shim sockets
    Path("/run/containerd/fifo"),  # ctr's stdio fifos
    Path("/run/containerd"),
)
# What the kubelet leaves in the device-plugins directory; nothing else is ever removed.
KUBELET_DEVICE_FILES = ("kubelet.sock", "kubelet_internal_checkpoint")


def save(
    record: Path, proc_sys: Path = Path("/proc/sys"), host_dirs: tuple[Path, ...] = HOST_DIRS
) -> None:
    state = {
        "tunables": {t: (proc_sys / t).read_text().strip() for t in KUBELET_TUNABLES},
        "absent_dirs": [str(d) for d in host_dirs if not d.exists()],
    }
    record.write_text(json.dumps(state, indent=2))


def restore(
    record: Path, proc_sys: Path = Path("/proc/sys"), host_dirs: tuple[Path, ...] = HOST_DIRS
) -> None:
    """Put back what `save` recorded; a missing record (nothing was saved) is a no-op."""
    try:
        state = json.loads(record.read_text())
    except FileNotFoundError:
        return
    for tunable, value in state["tunables"].items():
        path = proc_sys / tunable
        if path.read_text().strip() != value:
            path.write_text(f"{value}\n")
    absent = {Path(d) for d in state["absent_dirs"]}
    for directory in host_dirs:
        if directory in absent:
            for name in KUBELET_DEVICE_FILES:
                (directory / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # absent, or not empty: what is in it is not ours
                directory.rmdir()
    record.unlink()
