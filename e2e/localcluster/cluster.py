"""A real Kubernetes control plane on loopback: etcd, apiserver, controller-manager,
scheduler, and kwok standing in for kubelets. See docs/local-cluster.md."""

import contextlib
import fcntl
import json
import os
import shutil
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import yaml

from e2e.localcluster import components, processes
from e2e.localcluster.access import ClusterAccess
from e2e.localcluster.kwok_config import write_kwok_config
from e2e.localcluster.nodes import DEFAULT_NODES, node_manifest
from e2e.localcluster.pki import Pki, create_pki
from e2e.localcluster.processes import ClusterError, Component

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUN_DIR = REPO_ROOT / ".run" / "localcluster"


def default_cache() -> Path:
    return Path(os.environ.get("FERRY_CACHE", Path.home() / ".cache" / "ferry"))


class LocalCluster(ClusterAccess):
    """One control plane living in `run_dir`; `up` and `down` are idempotent."""

    def __init__(self, run_dir: Path = DEFAULT_RUN_DIR, cache: Path | None = None) -> None:
        cache = cache or default_cache()
        super().__init__(kubeconfig=run_dir / "admin.kubeconfig", bin_dir=cache / "bin")
        self.run_dir = run_dir
        self.stages_dir = cache / "kwok-stages"
        self._state_file = run_dir / "state.json"

    # -- lifecycle -------------------------------------------------------------------------

    def up(self, timeout: float = 120) -> None:
        """Start the cluster unless it already runs healthy here; wait until nodes are usable."""
        with self._locked():
            if self._healthy():
                return
            self._stop_all()
            self._check_binaries()
            self._start(timeout)

    def down(self) -> None:
        """Stop every component and free every port; safe to call when nothing runs."""
        with self._locked():
            self._stop_all()

    def running(self) -> bool:
        return self._healthy()

    def components(self) -> list[Component]:
        if not self._state_file.exists():
            return []
        state = json.loads(self._state_file.read_text())
        return [Component(**c) for c in state["components"]]

    def ports(self) -> dict[str, int]:
        if not self._state_file.exists():
            return {}
        ports: dict[str, int] = json.loads(self._state_file.read_text())["ports"]
        return ports

    # -- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _check_binaries(self) -> None:
        missing = [b for b in components.BINARIES if not (self.bin_dir / b).is_file()]
        if missing or not (self.stages_dir / "pod-delete.yaml").is_file():
            what = ", ".join(missing) or "kwok stages"
            raise ClusterError(
                f"local-cluster binaries missing in {self.bin_dir} ({what}):"
                " run `make binaries` (e2e/localcluster/build.sh) first"
            )

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
            f"https://127.0.0.1:{ports['apiserver']}/readyz",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _start(self, timeout: float) -> None:
        if self.run_dir.exists():
            for entry in self.run_dir.iterdir():
                if entry.name != ".lock":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True)
        pki = create_pki(self.run_dir / "pki")
        ports = {name: processes.free_port() for name in components.PORT_NAMES}
        self._write_kubeconfig(pki, ports["apiserver"])
        plan = components.Plan(
            bin_dir=self.bin_dir,
            run_dir=self.run_dir,
            pki=pki,
            ports=ports,
            kubeconfig=self.kubeconfig,
            kwok_config=write_kwok_config(self.stages_dir, self.run_dir / "kwok.yaml"),
        )
        started: list[Component] = []
        try:
            started.append(processes.start("etcd", plan.etcd(), logs))
            self._save(started, ports)
            processes.wait_until("etcd", lambda: processes.port_in_use(ports["etcd"]), 30)
            started.append(processes.start("kube-apiserver", plan.apiserver(), logs))
            self._save(started, ports)
            self._wait_alive_until(
                started, "kube-apiserver /readyz", self._apiserver_ready, timeout
            )
            for name, argv in plan.controllers():
                started.append(processes.start(name, argv, logs))
            self._save(started, ports)
            self.wait_default_service_account(timeout)
            for name, gpus in DEFAULT_NODES:
                self.apply_manifest(node_manifest(name, gpus))
            self.wait_nodes_schedulable([name for name, _ in DEFAULT_NODES], timeout)
        except ClusterError as exc:
            details = "\n".join(f"--- {c.name} log tail:\n{c.log_tail()}" for c in started)
            self._stop_all()
            raise ClusterError(f"{exc}\n{details}") from exc

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

    def _save(self, started: list[Component], ports: dict[str, int]) -> None:
        state = {"components": [asdict(c) for c in started], "ports": ports}
        self._state_file.write_text(json.dumps(state, indent=2))

    def _stop_all(self) -> None:
        for component in reversed(self.components()):
            processes.stop(component)
        self._state_file.unlink(missing_ok=True)

    def _write_kubeconfig(self, pki: Pki, apiserver_port: int) -> None:
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "ferry-local",
                    "cluster": {
                        "server": f"https://127.0.0.1:{apiserver_port}",
                        "certificate-authority": str(pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": pki.admin_token}}],
            "contexts": [
                {"name": "ferry-local", "context": {"cluster": "ferry-local", "user": "admin"}}
            ],
            "current-context": "ferry-local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig))
        self.kubeconfig.chmod(0o600)
