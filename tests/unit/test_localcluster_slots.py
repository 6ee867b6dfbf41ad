"""The machine-wide slot registry: disjoint addresses per cluster, stale slots reclaimed."""

import ipaddress
from pathlib import Path

import pytest

from e2e.localcluster.processes import ClusterError
from e2e.localcluster.slots import MAX_SLOTS, Slot, SlotRegistry

pytestmark = pytest.mark.unit


class FakeClusters:
    """Owners the test declares alive; records what the registry asked for."""

    def __init__(self) -> None:
        self.alive: set[Path] = set()
        self.calls: list[tuple[str, object]] = []

    def reclaim(self, slot: Slot, run_dir: Path) -> None:
        self.calls.append(("reclaim", (slot.index, run_dir)))

    def reclaim_if_stale(self, slot: Slot, run_dir: Path) -> bool:
        if run_dir in self.alive:
            return False
        self.reclaim(slot, run_dir)
        return True

    def first_claimed(self) -> None:
        self.calls.append(("first", None))

    def last_released(self) -> None:
        self.calls.append(("last", None))


def registry(tmp_path: Path, size: int = MAX_SLOTS) -> tuple[SlotRegistry, FakeClusters]:
    clusters = FakeClusters()
    return SlotRegistry(clusters, root=tmp_path / "registry", size=size), clusters


def test_running_clusters_get_distinct_slots_and_the_lowest_free_one(tmp_path: Path) -> None:
    slots, clusters = registry(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    first = slots.allocate(a)
    clusters.alive.add(a)
    second = slots.allocate(b)
    assert (first.index, second.index) == (0, 1)
    assert slots.owners() == {0: a, 1: b}
    assert clusters.calls == [("first", None)]  # machine state saved once, by the first


def test_releasing_the_last_slot_restores_the_machine_once(tmp_path: Path) -> None:
    slots, clusters = registry(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    slot_a = slots.allocate(a)
    clusters.alive.add(a)
    slot_b = slots.allocate(b)
    slots.release(slot_a)
    assert ("last", None) not in clusters.calls
    slots.release(slot_b)
    slots.release(slot_b)  # idempotent
    assert clusters.calls == [("first", None), ("last", None)]
    assert slots.owners() == {}
    assert not slot_b.dir.exists()


def test_a_dead_clusters_slot_is_cleaned_up_and_taken_over(tmp_path: Path) -> None:
    slots, clusters = registry(tmp_path)
    dead, alive, new = tmp_path / "dead", tmp_path / "alive", tmp_path / "new"
    clusters.alive |= {dead, alive}
    slots.allocate(dead)
    slots.allocate(alive)
    clusters.alive.remove(dead)  # its processes died without `down`
    taken = slots.allocate(new)
    assert taken.index == 0
    assert ("reclaim", (0, dead)) in clusters.calls
    assert ("reclaim", (1, alive)) not in clusters.calls
    assert slots.owners() == {0: new, 1: alive}


def test_a_slot_left_by_the_same_run_directory_is_cleaned_up_first(tmp_path: Path) -> None:
    slots, clusters = registry(tmp_path)
    run_dir = tmp_path / "a"
    clusters.alive.add(run_dir)  # e.g. a run interrupted after allocating
    slots.allocate(run_dir)
    again = slots.allocate(run_dir)
    assert again.index == 0
    assert ("reclaim", (0, run_dir)) in clusters.calls


def test_all_slots_held_is_an_error_naming_the_way_out(tmp_path: Path) -> None:
    slots, clusters = registry(tmp_path, size=2)
    for name in ("a", "b"):
        clusters.alive.add(tmp_path / name)
        slots.allocate(tmp_path / name)
    with pytest.raises(ClusterError, match="--no-real-node"):
        slots.allocate(tmp_path / "c")


def test_every_slot_has_its_own_addresses_clear_of_kwok_and_of_each_other() -> None:
    kwok_pods = ipaddress.ip_network("10.244.0.0/16")
    networks = []
    for index in range(MAX_SLOTS):
        slot = Slot(index, Path(f"/run/ferry/slots/{index}"))
        veth = ipaddress.ip_network(f"{slot.host_ip}/{slot.veth_prefix}", strict=False)
        assert ipaddress.ip_address(slot.node_ip) in veth
        assert ipaddress.ip_address(slot.pod_gateway) in ipaddress.ip_network(slot.pod_cidr)
        service = ipaddress.ip_network(slot.service_cidr)
        assert ipaddress.ip_address(slot.first_service_ip) == service[1]
        networks += [veth, ipaddress.ip_network(slot.pod_cidr), service]
    assert not any(n.overlaps(kwok_pods) for n in networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


def test_slot_names_are_distinct_and_fit_the_kernels_limits() -> None:
    slots = [Slot(i, Path(f"/run/ferry/slots/{i}")) for i in range(MAX_SLOTS)]
    for attribute in ("host_veth", "bridge", "cni_network", "cgroup_root"):
        names = [getattr(slot, attribute) for slot in slots]
        assert len(set(names)) == len(names), attribute
    assert all(len(s.host_veth) <= 15 and len(s.bridge) <= 15 for s in slots)  # IFNAMSIZ - 1
    assert all(len(str(s.containerd_socket)) + len(".ttrpc") < 108 for s in slots)
