"""`make demo`: Ferry on a local Kubernetes, step by step, on real pods.

A real control plane built from Go modules, one real kubelet node running real containers
(the operator, TorchServe) and two simulated 8-GPU nodes (kwok: this machine has no GPU).
Ferry is installed with Helm; a small model is packaged with `ferry package`, served, and
asked for a prediction; a tampered artifact is refused by the real fetch step; a canary of
a new version is promoted step by step under load; a bad version is rolled back by
analysis of its own metrics.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from e2e.demo.rollouts import bad_canary, canary
from e2e.demo.serving import install, package, serve, simulated_gpu_model, tampered
from e2e.demo.show import MODELS_NS, Demo
from e2e.localcluster import ClusterError, LocalCluster
from e2e.localcluster.cluster import DEFAULT_RUN_DIR
from tests.pods.artifact_server import ArtifactServer
from tests.pods.artifacts import build_models

REPO = Path(__file__).resolve().parents[2]


def run(demo: Demo) -> None:
    cluster = demo.cluster
    demo.step("0. A local Kubernetes: one real node, two simulated GPU nodes (kwok)")
    print("$ python -m e2e.localcluster up", flush=True)
    cluster.up()
    demo.files.mkdir(exist_ok=True)
    demo.run("kubectl", "get", "nodes", "-o", "wide", "-L", "nvidia.com/gpu.product")
    install(demo)
    node = cluster.real_node
    artifacts = Path(tempfile.mkdtemp(prefix="artifacts-", dir=demo.files))
    with ArtifactServer(node.host_ip, artifacts) as server:
        demo.say(f"(model archives are served over HTTP from {server.url}, an address pods reach)")
        models = build_models(server.directory, server.url)
        package(demo, models)
        url = serve(demo, models)
        simulated_gpu_model(demo)
        tampered(demo, models)
        canary(demo, models, url)
        bad_canary(demo, models, url)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.demo", description=__doc__)
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=DEFAULT_RUN_DIR,
        help="the local cluster's directory, which also keeps the demo's manifests and values"
        f" (default {DEFAULT_RUN_DIR.relative_to(REPO)}, the one `make cluster` uses)",
    )
    args = parser.parse_args()
    demo = Demo(LocalCluster(args.run_dir))
    try:
        run(demo)
    except ClusterError as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
        return 1
    demo.step("Done")
    print(
        "Real: the control plane, the real node's containers (the operator, TorchServe, the\n"
        "fetch step), predictions, analysis figures. Simulated: the two GPU nodes and the\n"
        "resnet50 model's pods (kwok; there is no GPU on this machine). The demo's artifact\n"
        "server has stopped: new pods of its models cannot fetch their archives now.\n"
    )
    print(f"export KUBECONFIG={demo.cluster.kubeconfig}; export PATH={demo.path}:$PATH")
    print(f"kubectl get md -n {MODELS_NS}; kubectl ferry get podnet -n {MODELS_NS}")
    down = "make cluster-down"
    if args.run_dir.resolve() != DEFAULT_RUN_DIR:
        down = f"python -m e2e.localcluster down --run-dir {args.run_dir}"
    print(f"Stop everything with: {down}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
