"""Machine-wide slots: each local cluster with a real node holds one index k, from which its
addresses, names and cgroup root follow, so several clusters run side by side on one machine.

Records live under /run/ferry (tmpfs: a reboot forgets them together with everything they
describe). A slot whose owning run directory no longer runs a cluster is stale: the next
allocation tears down what it left behind and takes it over.
"""

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from e2e.localcluster.processes import ClusterError

REGISTRY = Path("/run/ferry")
# 10.85.k.0/24 pods, 10.86.k.0/30 the veth, 10.(96+k).0.0/16 services: 32 slots stay clear of
# kwok's fake pod range 10.244.0.0/16.
MAX_SLOTS = 32


@dataclass(frozen=True)
class Slot:
    """Everything about a real node's network and cgroups that depends on its slot."""

    index: int
    dir: Path  # REGISTRY/slots/<index>: owner record, netns pin, containerd socket

    @property
    def host_ip(self) -> str:
        """The host's end of the veth: the apiserver binds here, pods reach the host here."""
        return f"10.86.{self.index}.1"

    @property
    def node_ip(self) -> str:
        """The node's end of the veth, inside the node's network namespace."""
        return f"10.86.{self.index}.2"

    veth_prefix = 30

    @property
    def pod_cidr(self) -> str:
        return f"10.85.{self.index}.0/24"

    @property
    def pod_gateway(self) -> str:
        return f"10.85.{self.index}.1"

    @property
    def service_cidr(self) -> str:
        return f"10.{96 + self.index}.0.0/16"

    @property
    def first_service_ip(self) -> str:
        """The `kubernetes` Service's ClusterIP: a SAN of the apiserver's serving cert."""
        return f"10.{96 + self.index}.0.1"

    @property
    def host_veth(self) -> str:
        return f"ferry{self.index}"

    @property
    def bridge(self) -> str:
        return f"ferry{self.index}br"

    @property
    def cni_network(self) -> str:
        return f"ferry-{self.index}"

    @property
    def cgroup_root(self) -> str:
        return f"/ferry-{self.index}"

    @property
    def netns(self) -> Path:
        return self.dir / "netns"

    @property
    def containerd_socket(self) -> Path:
        # Here rather than in the run directory: a unix socket path has at most 107 bytes,
        # and a run directory (a pytest tmp_path, say) may already be long.
        return self.dir / "containerd.sock"


class SlotHooks(Protocol):
    """What the registry needs to know about, and do to, the clusters owning slots."""

    def reclaim(self, slot: Slot, run_dir: Path) -> None:
        """Remove whatever the cluster in `run_dir` (the caller's own) left in `slot`."""

    def reclaim_if_stale(self, slot: Slot, run_dir: Path) -> bool:
        """If the cluster in `run_dir` is dead (and nobody is starting or stopping it),
        remove what it left in `slot` and say so."""

    def first_claimed(self) -> None:
        """No other slot is held: remember machine-wide state the nodes may change."""

    def last_released(self) -> None:
        """No slot is held any more: put that machine-wide state back."""


class SlotRegistry:
    def __init__(self, hooks: SlotHooks, root: Path = REGISTRY, size: int = MAX_SLOTS) -> None:
        self.hooks = hooks
        self.root = root
        self.size = size

    def slot(self, index: int) -> Slot:
        return Slot(index, self.root / "slots" / str(index))

    def owner(self, index: int) -> Path | None:
        """The run directory holding slot `index`, if any."""
        try:
            return Path((self.slot(index).dir / "owner").read_text().strip())
        except FileNotFoundError:
            return None

    def owners(self) -> dict[int, Path]:
        """The slots currently held, with their owners' run directories."""
        return {i: owner for i in range(self.size) if (owner := self.owner(i)) is not None}

    def allocate(self, run_dir: Path) -> Slot:
        """The lowest free slot for `run_dir`, after reclaiming stale ones (and any slot still
        recorded for `run_dir` itself, left by an interrupted run)."""
        run_dir = run_dir.resolve()
        with self._locked():
            for index, owner in self.owners().items():
                slot = self.slot(index)
                if owner == run_dir:
                    self.hooks.reclaim(slot, owner)
                    self._drop(slot)
                elif self.hooks.reclaim_if_stale(slot, owner):
                    self._drop(slot)
            owners = self.owners()
            free = [i for i in range(self.size) if i not in owners]
            if not free:
                held = ", ".join(str(p) for p in owners.values())
                raise ClusterError(
                    f"all {self.size} real-node slots in {self.root} are held (by {held}):"
                    " stop one of those clusters (`python -m e2e.localcluster down --run-dir"
                    " DIR`) or start this one with --no-real-node"
                )
            if not owners:
                self.hooks.first_claimed()
            slot = self.slot(free[0])
            slot.dir.mkdir(parents=True, exist_ok=True)
            (slot.dir / "owner").write_text(f"{run_dir}\n")
            return slot

    def release(self, slot: Slot) -> None:
        """Forget `slot` (its resources must be gone already); idempotent."""
        with self._locked():
            self._drop(slot)

    def _drop(self, slot: Slot) -> None:
        if not slot.dir.exists():
            return
        for entry in slot.dir.iterdir():
            entry.unlink()
        slot.dir.rmdir()
        if not self.owners():
            slot.dir.parent.rmdir()
            self.hooks.last_released()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
