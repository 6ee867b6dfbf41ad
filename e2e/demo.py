"""`make demo`: Ferry on a local Kubernetes control plane, step by step.

Brings up the local cluster (real API server, scheduler and controllers; kwok simulates the
nodes and pods, so no container runs), installs the CRD and the chart's RBAC, runs the
operator with the chart's ServiceAccount token, serves the example models until they are
Ready, then shows how an artifact whose checksum does not match is reported.
"""

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from e2e.demo_operator import (
    ACCESS_KINDS,
    OperatorProcess,
    install_access,
    render_chart,
    start_operator,
)
from e2e.localcluster import ClusterError, LocalCluster
from e2e.localcluster.cluster import DEFAULT_RUN_DIR

REPO = Path(__file__).resolve().parents[1]
OPERATOR_NS, RELEASE, MODELS_NS = "ferry-system", "ferry", "demo"


class Demo:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        # The operator's kubeconfig and log belong to this cluster: they live in its run
        # directory (a restarted cluster starts with a fresh one; the old token is void).
        self.files = cluster.run_dir / "demo"
        self.env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        self.env["PATH"] = f"{cluster.bin_dir}:{self.env['PATH']}"

    def step(self, title: str) -> None:
        print(f"\n\033[1m== {title}\033[0m", flush=True)

    def run(self, *command: str, input: str | None = None, show: bool = True) -> str:
        """Run a command as a person would type it, and show its output."""
        if show:
            print(f"$ {' '.join(command)}", flush=True)
        done = subprocess.run(
            command, input=input, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(command)}: {done.stderr.strip()}")
        if show and done.stdout.strip():
            print(done.stdout.rstrip(), flush=True)
        return done.stdout

    def until(self, what: str, check: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise ClusterError(f"gave up waiting for {what} after {timeout:.0f}s")
            time.sleep(1)

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        found = self.run("kubectl", "get", "md", name, "-n", MODELS_NS, "-o", "yaml", show=False)
        conditions = (yaml.safe_load(found).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == kind), {})


def install(demo: Demo) -> Path:
    demo.step("1. Install the CRD and the chart's RBAC (least privilege, no Secrets)")
    demo.run("kubectl", "apply", "-f", "-", input=_namespace(OPERATOR_NS, restricted=True))
    print(
        f"$ helm template {RELEASE} charts/ferry -n {OPERATOR_NS} --include-crds"
        " | (CRD, ServiceAccount, ClusterRole, ClusterRoleBinding) | kubectl apply -f -"
    )
    objects = render_chart(RELEASE, OPERATOR_NS)
    install_access(demo.cluster, [o for o in objects if o["kind"] in ACCESS_KINDS])
    demo.run("kubectl", "describe", "clusterrole", RELEASE)
    demo.files.mkdir(exist_ok=True)
    return demo.cluster.service_account_kubeconfig(
        OPERATOR_NS, RELEASE, demo.files / "operator.kubeconfig"
    )


def run_operator(demo: Demo, kubeconfig: Path) -> OperatorProcess:
    demo.step("2. Run the operator as the chart's ServiceAccount (not as admin)")
    log = demo.files / "operator.log"
    print(f"$ KUBECONFIG={kubeconfig} python -m ferry   # log: {log}")
    operator = start_operator(kubeconfig, OPERATOR_NS, RELEASE, log)
    print(f"operator healthy; metrics on {operator.metrics_url}")
    return operator


def serve_examples(demo: Demo) -> None:
    demo.step("3. Serve the example models and wait until they answer")
    demo.run("kubectl", "apply", "-f", "-", input=_namespace(MODELS_NS, restricted=True))
    demo.run("kubectl", "apply", "-n", MODELS_NS, "-f", "examples/cpu-model.yaml",
             "-f", "examples/gpu-model.yaml")  # fmt: skip
    demo.run("kubectl", "wait", "-n", MODELS_NS, "--for=condition=Ready", "md/tiny-mlp",
             "md/resnet50", "--timeout=120s")  # fmt: skip
    demo.run("kubectl", "get", "md", "-n", MODELS_NS)
    demo.run("kubectl", "get", "deploy,svc,cm,netpol,pdb,pods", "-n", MODELS_NS,
             "-l", "app.kubernetes.io/instance=resnet50", "-o", "wide")  # fmt: skip


def tampered_artifact(demo: Demo) -> None:
    demo.step("4. An artifact whose bytes do not match spec.model.sha256")
    print(
        "No container runs here, so a kwok stage plays ferry-fetch: the annotations below make\n"
        "the fetch init container exit 10 (FetchExit.CHECKSUM_MISMATCH) with ferry-fetch's\n"
        "one-line verdict as its termination message, as the real one does on a mismatch."
    )
    manifest = yaml.safe_load((REPO / "examples" / "cpu-model.yaml").read_text())
    manifest["metadata"]["name"] = "tiny-mlp-tampered"
    manifest["spec"]["podMetadata"] = {
        "annotations": {
            "sim.ferry.dev/init-exit-code": "10",
            "sim.ferry.dev/init-message": "sha256 mismatch for "
            f"{manifest['spec']['model']['uri']}: expected "
            f"{manifest['spec']['model']['sha256'][:12]}…, got 0c1e3b2a71f4…",
        }
    }
    demo.run("kubectl", "apply", "-n", MODELS_NS, "-f", "-", input=yaml.safe_dump(manifest))
    demo.until(
        "ArtifactVerified=False",
        lambda: demo.condition("tiny-mlp-tampered", "ArtifactVerified").get("status") == "False",
    )
    demo.run("kubectl", "get", "md", "-n", MODELS_NS)
    summary = "{range .status.conditions[*]}{.type}={.status} ({.reason}){'\\n'}{end}"
    verdict = '{.status.conditions[?(@.type=="ArtifactVerified")].message}{"\\n"}'
    for query in (summary, verdict):
        demo.run("kubectl", "get", "md", "tiny-mlp-tampered", "-n", MODELS_NS,
                 "-o", f"jsonpath={query}")  # fmt: skip
    demo.run("kubectl", "get", "events", "-n", MODELS_NS, "--field-selector",
             "involvedObject.name=tiny-mlp-tampered,type=Warning")  # fmt: skip


def _namespace(name: str, *, restricted: bool) -> str:
    labels = {"pod-security.kubernetes.io/enforce": "restricted"} if restricted else {}
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the operator running")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=DEFAULT_RUN_DIR,
        help="the local cluster's directory, which also keeps the operator's kubeconfig and"
        f" log (default {DEFAULT_RUN_DIR.relative_to(REPO)}, the one `make cluster` uses)",
    )
    args = parser.parse_args()
    cluster = LocalCluster(args.run_dir)
    demo = Demo(cluster)
    demo.step("0. Bring up the local Kubernetes control plane")
    print("$ python -m e2e.localcluster up")
    operator = None
    try:
        cluster.up()
        demo.run("kubectl", "get", "nodes", "-L", "nvidia.com/gpu.product")
        operator = run_operator(demo, install(demo))
        serve_examples(demo)
        tampered_artifact(demo)
    except ClusterError as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
        return 1
    finally:
        if operator is not None and args.keep:
            print(f"\nthe operator keeps running as pid {operator.process.pid}")
        elif operator is not None:
            operator.stop()
    demo.step("Done")
    print(f"export KUBECONFIG={cluster.kubeconfig}; kubectl get md -n {MODELS_NS}")
    down = "make cluster-down"
    if args.run_dir.resolve() != DEFAULT_RUN_DIR:
        down = f"python -m e2e.localcluster down --run-dir {args.run_dir}"
    print(f"Stop everything with: {down}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
