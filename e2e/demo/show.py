"""How the demo talks: steps with titles, commands shown as a person would type them."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml

from e2e.localcluster import ClusterError, LocalCluster

MODELS_NS = "demo"


class Demo:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.files = cluster.run_dir / "demo"  # this cluster's: a new cluster starts afresh
        self.env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        # kubectl, helm (the cluster's), and kubectl-ferry (installed beside this Python).
        self.path = f"{cluster.bin_dir}:{os.path.dirname(sys.executable)}"
        self.env["PATH"] = f"{self.path}:{self.env['PATH']}"
        self.started = time.monotonic()

    def step(self, title: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"\n\033[1m== {title}\033[0m  ({elapsed:.0f}s)", flush=True)

    def say(self, text: str) -> None:
        print(text, flush=True)

    def run(self, *command: str, input: str | None = None, show: bool = True) -> str:
        """Run a command as a person would type it, and show its output."""
        if show:
            print(f"$ {' '.join(command)}", flush=True)
        done = subprocess.run(
            command, input=input, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(command)}: {done.stderr.strip() or done.stdout}")
        if show and done.stdout.strip():
            print(done.stdout.rstrip(), flush=True)
        return done.stdout

    def until(self, what: str, check: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise ClusterError(f"gave up waiting for {what} after {timeout:.0f}s")
            time.sleep(1)

    def get(self, name: str) -> dict[str, Any]:
        found = self.run("kubectl", "get", "md", name, "-n", MODELS_NS, "-o", "yaml", show=False)
        document: dict[str, Any] = yaml.safe_load(found)
        return document

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(name).get("status") or {}
        return status

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        conditions = self.status(name).get("conditions") or []
        return next((c for c in conditions if c["type"] == kind), {})

    def apply(self, document: dict[str, Any], shown: str) -> None:
        """`kubectl apply` a manifest (written under the demo's files, so it can be read)."""
        path = self.files / shown
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        self.run("kubectl", "apply", "-n", MODELS_NS, "-f", str(path))
