"""A real Kubernetes control plane: etcd, apiserver, controller-manager, scheduler, kwok
standing in for kubelets, and (by default) one real kubelet node in a network namespace of its
own. See docs/local-cluster.md."""

import contextlib
import dataclasses
import fcntl
import os
import shutil
import ssl
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import yaml

from e2e.localcluster import components, node, ownership, processes
from e2e.localcluster.access import ClusterAccess
from e2e.localcluster.components import Plan
from e2e.localcluster.kwok_config import write_kwok_config
from e2e.localcluster.node_config import NodeLayout, kubeconfig
from e2e.localcluster.nodes import DEFAULT_NODES, node_manifest
from e2e.localcluster.pki import create_pki
from e2e.localcluster.processes import ClusterError, Component
from e2e.localcluster.realnode import NODE_NAME, RealNode
from e2e.localcluster.slots import Slot
from e2e.localcluster.state import LOCK_FILE, STATE_FILE, RunState

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUN_DIR = REPO_ROOT / ".run" / "localcluster"
LOOPBACK = "127.0.0.1"


def default_cache() -> Path:
    return Path(os.environ.get("FERRY_CACHE", Path.home() / ".cache" / "ferry"))


class LocalCluster(ClusterAccess):
    """One control plane living in `run_dir`; `up` and `down` are idempotent.

    With `real_node` (the default) the cluster also runs `real-node-0`, a kubelet node that
    runs real containers; without it every node is simulated by kwok.
    """

    def __init__(
        self, run_dir: Path = DEFAULT_RUN_DIR, cache: Path | None = None, real_node: bool = True
    ) -> None:
        cache = cache or default_cache()
        run_dir = run_dir.resolve()  # the node's files are found again by absolute path
        super().__init__(kubeconfig=run_dir / "admin.kubeconfig", bin_dir=cache / "bin")
        self.run_dir = run_dir
        self.cache = cache
        self.want_real_node = real_node
        self.stages_dir = cache / "kwok-stages"
        self._layout = NodeLayout(run_dir)

    # -- lifecycle -------------------------------------------------------------------------

    def up(self, timeout: float = 120) -> None:
        """Start the cluster unless it already runs healthy here (with a real node if one is
        wanted); wait until its nodes are usable."""
        with self._locked():
            if self._healthy() and (self.slot() is not None) == self.want_real_node:
                return
            self._stop_all()
            self._start(timeout, self._check_prerequisites())

    def down(self) -> None:
        """Stop every component, drain and remove the real node; leaves no process, port,
        network namespace, mount or cgroup behind. Safe to call when nothing runs."""
        with self._locked():
            self._stop_all()

    def running(self) -> bool:
        return self._healthy()

    def components(self) -> list[Component]:
        return RunState.load(self.run_dir).components

    def stop_component(self, name: str) -> None:
        """Stop one component (an outage: `kube-apiserver`, `kwok`, ...); the rest keep
        running, and `start_component` brings it back. `up` would restart everything."""
        with self._locked():
            processes.stop(self._component(name))

    def start_component(
        self, name: str, timeout: float = 60, extra_args: Sequence[str] = ()
    ) -> None:
        """Start a stopped component again with its recorded command line: same flags,
        ports, certificates and data; `extra_args` are appended (a later flag wins) and
        kept for later restarts. Waits for `/readyz` when it is the apiserver."""
        with self._locked():
            state = RunState.load(self.run_dir)
            old = self._component(name)
            if old.alive():
                raise ClusterError(f"{name} is running (pid {old.pid}): stop it first")
            if extra_args:
                old = dataclasses.replace(old, argv=(*old.argv, *extra_args))
            new = processes.restart(old)
            state.components = [new if c.name == name else c for c in state.components]
            state.save(self.run_dir)
        if name == "kube-apiserver":
            self._wait_alive_until([new], "kube-apiserver /readyz", self._apiserver_ready, timeout)

    def _component(self, name: str) -> Component:
        found = [c for c in self.components() if c.name == name]
        if not found:
            known = ", ".join(c.name for c in self.components()) or "none: not running"
            raise ClusterError(f"no component {name!r} in {self.run_dir} (components: {known})")
        return found[0]

    def ports(self) -> dict[str, int]:
        return RunState.load(self.run_dir).ports

    def slot(self) -> Slot | None:
        """This cluster's slot, unless it has none or another cluster reclaimed it (this
        one died, and the other cleaned up after it)."""
        index = RunState.load(self.run_dir).slot
        registry = ownership.registry()
        if index is None or registry.owner(index) != self.run_dir:
            return None
        return registry.slot(index)

    @property
    def real_node(self) -> RealNode:
        slot = self.slot()
        if slot is None:
            raise ClusterError(
                f"the local cluster in {self.run_dir} has no real node"
                " (started with --no-real-node, or not running): `make cluster` starts one"
            )
        return RealNode.of(slot)

    @property
    def apiserver_host(self) -> str:
        """Where the apiserver listens: the slot's host address with a real node (pods reach
        it there), loopback without."""
        slot = self.slot()
        return slot.host_ip if slot else LOOPBACK

    # -- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / LOCK_FILE).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _check_prerequisites(self) -> Path | None:
        """Fail early, naming the fix; returns the image seed a real node is cloned from."""
        wanted = components.BINARIES + (components.NODE_BINARIES if self.want_real_node else ())
        missing = [b for b in wanted if not (self.bin_dir / b).is_file()]
        if missing or not (self.stages_dir / "pod-delete.yaml").is_file():
            what = ", ".join(missing) or "kwok stages"
            raise ClusterError(
                f"local-cluster binaries missing in {self.bin_dir} ({what}):"
                " run `make binaries` (e2e/localcluster/build.sh) first"
            )
        if not self.want_real_node:
            return None
        node.check_host(self._layout)
        return node.seed(self.cache)

    def _healthy(self) -> bool:
        running = self.components()
        if not running or not all(c.alive() for c in running):
            return False
        return self._apiserver_ready()

    def _apiserver_ready(self) -> bool:
        ports = self.ports()
        token_file = self.run_dir / "pki" / "tokens.csv"
        if "apiserver" not in ports or not token_file.exists():
            return False
        token = token_file.read_text().split(",", 1)[0]
        context = ssl.create_default_context(cafile=str(self.run_dir / "pki" / "ca.crt"))
        request = urllib.request.Request(
            f"https://{self.apiserver_host}:{ports['apiserver']}/readyz",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _start(self, timeout: float, seed: Path | None) -> None:
        for entry in self.run_dir.iterdir():
            if entry.name != LOCK_FILE:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True)
        ports = {name: processes.free_port() for name in components.PORT_NAMES}
        slot = ownership.registry().allocate(self.run_dir) if seed else None
        started: list[Component] = []

        def save() -> None:
            RunState(started, ports, slot.index if slot else None).save(self.run_dir)

        save()  # from here on, `down` finds (and frees) the slot even if `up` fails
        try:
            plan = self._prepare(ports, slot, seed)
            started.append(processes.start("etcd", plan.etcd(), logs))
            save()
            processes.wait_until("etcd", lambda: processes.port_in_use(ports["etcd"]), 30)
            started.append(processes.start("kube-apiserver", plan.apiserver(), logs))
            save()
            self._wait_alive_until(
                started, "kube-apiserver /readyz", self._apiserver_ready, timeout
            )
            for name, argv in plan.controllers():
                started.append(processes.start(name, argv, logs))
            save()
            wanted = [name for name, _ in DEFAULT_NODES]
            if slot:
                self._start_node(slot, started, logs, timeout)
                save()
                wanted.append(NODE_NAME)
            self.wait_default_service_account(timeout)
            for name, gpus in DEFAULT_NODES:
                self.apply_manifest(node_manifest(name, gpus))
            self._wait_alive_until(
                started,
                f"nodes {wanted} to be Ready and schedulable",
                lambda: self.nodes_schedulable(wanted),
                timeout,
            )
        except ClusterError as exc:
            details = "\n".join(f"--- {c.name} log tail:\n{c.log_tail()}" for c in started)
            self._stop_all()
            raise ClusterError(f"{exc}\n{details}") from exc

    def _prepare(self, ports: dict[str, int], slot: Slot | None, seed: Path | None) -> Plan:
        """Credentials, kubeconfig and configuration files; with a real node, its network
        first (the apiserver binds to the veth's host end) and its image store."""
        if slot:
            node.setup_host(slot)
        host = slot.host_ip if slot else LOOPBACK
        first_service_ip = slot.first_service_ip if slot else components.FIRST_SERVICE_IP
        pki = create_pki(self.run_dir / "pki", (host, first_service_ip))
        server = f"https://{host}:{ports['apiserver']}"
        admin = kubeconfig(server, pki.ca_cert, "admin", {"token": pki.admin_token})
        self.kubeconfig.write_text(yaml.safe_dump(admin))
        self.kubeconfig.chmod(0o600)
        if slot and seed:
            node.write_config(self._layout, slot, pki, server)
            node.clone_images(seed, self._layout)
        return Plan(
            bin_dir=self.bin_dir,
            run_dir=self.run_dir,
            pki=pki,
            ports=ports,
            kubeconfig=self.kubeconfig,
            kwok_config=write_kwok_config(self.stages_dir, self.run_dir / "kwok.yaml"),
            apiserver_host=host,
            service_cidr=slot.service_cidr if slot else components.SERVICE_CIDR,
        )

    def _start_node(self, slot: Slot, started: list[Component], logs: Path, timeout: float) -> None:
        log = logs / "containerd.log"
        offset = log.stat().st_size if log.exists() else 0  # the log is appended to
        started.append(
            processes.start("containerd", node.containerd_command(self._layout, slot), logs)
        )

        def cri_serving() -> bool:
            # The socket answers before the CRI plugin has recovered its state, and a kubelet
            # started then exits ("server is not initialized yet"); its last step is logged.
            with log.open("rb") as out:
                out.seek(offset)
                return slot.containerd_socket.exists() and node.CRI_STARTED in out.read()

        self._wait_alive_until(started, "containerd's CRI plugin", cri_serving, timeout)
        for name, argv in node.agent_commands(self._layout, slot, self.bin_dir):
            started.append(processes.start(name, argv, logs))

    def _wait_alive_until(
        self, started: list[Component], what: str, check: Callable[[], bool], timeout: float
    ) -> None:
        """Wait for `check`, failing fast (with logs) if a component dies meanwhile."""

        def progress() -> bool:
            dead = [c.name for c in started if not c.alive()]
            if dead:
                raise ClusterError(f"{', '.join(dead)} exited while waiting for {what}")
            return check()

        processes.wait_until(what, progress, timeout)

    def _stop_all(self) -> None:
        slot = self.slot()
        kubelet_alive = any(c.name == "kubelet" and c.alive() for c in self.components())
        if slot and kubelet_alive and self._apiserver_ready():
            node.drain(self, self._layout)
        for component in reversed(self.components()):
            processes.stop(component)
        if slot:
            node.teardown(slot, self.run_dir)
            ownership.registry().release(slot)
        (self.run_dir / STATE_FILE).unlink(missing_ok=True)
