"""What the real node leaves on the host: mounts and cgroup hierarchies read from mountinfo,
and the machine-wide state put back after the last node."""

from pathlib import Path

import pytest

from e2e.localcluster import cgroups, machine, mounts

pytestmark = pytest.mark.unit

MOUNTINFO = """\
25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
40 25 0:4 net:[4026532178] /run/ferry/slots/0/netns rw - nsfs nsfs rw
41 25 0:50 / /work/run/kubelet/pods/u/volumes/kube-api-access rw - tmpfs tmpfs rw
42 25 0:51 / /work/run/containerd/state/k8s.io/abc/rootfs rw - overlay overlay rw
43 25 0:52 / /work/run\\040two/x rw - tmpfs tmpfs rw
44 25 0:53 / /work/runner rw - tmpfs tmpfs rw
"""


def test_mounts_under_the_node_directories_deepest_first(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    found = mounts.under([Path("/work/run"), Path("/run/ferry/slots/0")], info)
    assert found == [
        Path("/work/run/containerd/state/k8s.io/abc/rootfs"),
        Path("/work/run/kubelet/pods/u/volumes/kube-api-access"),
        Path("/run/ferry/slots/0/netns"),
    ]
    assert Path("/work/run two/x") in mounts.mount_points(info)  # \040 decoded


def test_cgroup_hierarchies_are_v1_controllers_and_the_unified_mount(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert cgroups.hierarchies(info) == [
        Path("/sys/fs/cgroup/memory"),
        Path("/sys/fs/cgroup/unified"),
    ]


def test_the_last_node_puts_kernel_tunables_back_and_removes_only_its_own_dirs(
    tmp_path: Path,
) -> None:
    proc_sys = tmp_path / "proc_sys"
    for tunable in machine.KUBELET_TUNABLES:
        (proc_sys / tunable).parent.mkdir(parents=True, exist_ok=True)
        (proc_sys / tunable).write_text("0\n")
    ours, theirs, kept = tmp_path / "var/lib/kubelet", tmp_path / "var/lib/cni", tmp_path / "opt"
    kept.mkdir(parents=True)
    record = tmp_path / "machine.json"
    machine.save(record, proc_sys, (ours, theirs, kept))

    (proc_sys / "kernel/panic").write_text("10\n")  # what the kubelet does at start
    ours.mkdir(parents=True)
    (ours / "kubelet_internal_checkpoint").write_text("{}")
    theirs.mkdir(parents=True)
    (theirs / "someone-elses-file").write_text("")
    machine.restore(record, proc_sys, (ours, theirs, kept))

    assert (proc_sys / "kernel/panic").read_text().strip() == "0"
    assert not ours.exists()
    assert (theirs / "someone-elses-file").exists()  # not empty: not removed
    assert kept.exists()  # was there before
    assert not record.exists()
    machine.restore(record, proc_sys, (ours, theirs, kept))  # nothing saved: no-op
