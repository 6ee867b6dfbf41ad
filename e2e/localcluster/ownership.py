"""The slot registry as local clusters use it: a slot is stale once no process of its owning
cluster lives and nobody is starting or stopping that cluster; reclaiming it is the real
node's teardown; the first and last slots save and restore the machine-wide state."""

import fcntl
from pathlib import Path

from e2e.localcluster import machine, node
from e2e.localcluster.slots import Slot, SlotRegistry
from e2e.localcluster.state import LOCK_FILE, RunState


class _ClusterSlots:
    def reclaim(self, slot: Slot, run_dir: Path) -> None:
        node.teardown(slot, run_dir)

    def reclaim_if_stale(self, slot: Slot, run_dir: Path) -> bool:
        if not run_dir.is_dir():  # removed with everything in it (a pytest tmp_path, say)
            node.teardown(slot, run_dir)
            return True
        with (run_dir / LOCK_FILE).open("a") as lock:
            try:  # held while that cluster's `up` or `down` runs; kept while we clean up
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if any(c.alive() for c in RunState.load(run_dir).components):
                return False
            node.teardown(slot, run_dir)
            return True

    def first_claimed(self) -> None:
        machine.save(registry().root / "machine.json")

    def last_released(self) -> None:
        machine.restore(registry().root / "machine.json")


def registry() -> SlotRegistry:
    return SlotRegistry(_ClusterSlots())
