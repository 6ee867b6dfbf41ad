"""The demo's first half: Ferry installed with Helm, a model packaged and served on the real
node and asked for a prediction, a simulated GPU model, and a tampered artifact refused."""

import copy
import json
import time
from pathlib import Path
from typing import Any

import yaml

from e2e.chart_values import local_values
from e2e.demo.show import MODELS_NS, Demo
from e2e.localcluster import ClusterError
from tests.pods.artifacts import PROBE_ROWS, PackagedModel, PodModels
from tests.pods.serving import SMALL_RESOURCES

REPO = Path(__file__).resolve().parents[2]
OPERATOR_NS, RELEASE = "ferry-system", "ferry"
NAME = "podnet"


def install(demo: Demo) -> None:
    demo.step("1. Install Ferry with Helm: the operator runs in a pod on the real node")
    values = demo.files / "values.yaml"
    values.write_text(yaml.safe_dump(local_values(demo.cluster)))
    demo.say(f"(values for this cluster: the images built here, the real node; {values})")
    for namespace in (OPERATOR_NS, MODELS_NS):
        demo.run("kubectl", "apply", "-f", "-", input=_restricted(namespace), show=False)
    demo.run("helm", "upgrade", "--install", RELEASE, str(REPO / "charts" / "ferry"),
             "-n", OPERATOR_NS, "-f", str(values), "--wait", "--timeout", "180s")  # fmt: skip
    demo.run("kubectl", "get", "pods", "-n", OPERATOR_NS, "-o", "wide")
    # A second run starts clean (the CRD exists from here on).
    demo.run("kubectl", "delete", "md", "--all", "-n", MODELS_NS, "--wait", show=False)


def package(demo: Demo, models: PodModels) -> None:
    demo.step("2. Package a model: `ferry package` (TorchServe archive, sha256, manifest)")
    v1 = models.v1
    demo.say(
        "A 16-32-4 network, as a weights-only state dict (no code runs when it loads), packaged\n"
        "with Ferry's handler and a golden request the model must answer before it is Ready:"
    )
    demo.run("ls", "-l", str(v1.archive.parent))
    demo.run("cat", str(v1.manifest))


def serve(demo: Demo, models: PodModels) -> str:
    """Serve v1 from its packaged manifest; returns the prediction URL (ClusterIP)."""
    demo.step("3. Serve it: apply the manifest `ferry package` wrote, wait until the model answers")
    demo.apply(on_real_node(demo, models.v1), "podnet.yaml")
    demo.run("kubectl", "wait", "-n", MODELS_NS, "--for=condition=Ready", f"md/{NAME}",
             "--timeout=180s")  # fmt: skip
    demo.run("kubectl", "get", "md", "-n", MODELS_NS)
    ip = demo.run("kubectl", "get", "svc", NAME, "-n", MODELS_NS,
                  "-o", "jsonpath={.spec.clusterIP}", show=False)  # fmt: skip
    url = f"http://{ip}/predictions/{NAME}"
    body = json.dumps({"data": PROBE_ROWS[:1]})
    answer = _retrying(demo, "curl", "-sS", "--fail-with-body", "-X", "POST", url,
                       "-H", "Content-Type: application/json", "-d", body)  # fmt: skip
    expected = models.v1.answer(PROBE_ROWS[:1])
    same = json.loads(answer) == json.loads(json.dumps(expected))
    demo.say(f"the same model called in-process answers {expected}: "
             f"{'identical' if same else 'DIFFERENT'}")  # fmt: skip
    if not same:
        raise ClusterError(f"the served model answered {answer}, in-process {expected}")
    return url


def simulated_gpu_model(demo: Demo) -> None:
    demo.step("4. A GPU model, simulated: kwok plays its pods on two 8-GPU nodes (no GPU here)")
    demo.run("kubectl", "apply", "-n", MODELS_NS, "-f", str(REPO / "examples" / "gpu-model.yaml"))
    demo.run("kubectl", "wait", "-n", MODELS_NS, "--for=condition=Ready", "md/resnet50",
             "--timeout=120s")  # fmt: skip
    demo.run("kubectl", "get", "pods", "-n", MODELS_NS, "-o", "wide",
             "-l", "app.kubernetes.io/instance=resnet50")  # fmt: skip


def tampered(demo: Demo, models: PodModels) -> None:
    demo.step("5. A tampered artifact: the real ferry-fetch refuses it, nothing serves")
    document = on_real_node(demo, models.v1)
    document["metadata"]["name"] = "podnet-tampered"
    document["spec"]["model"]["sha256"] = "0" * 64  # not what the archive hashes to
    demo.apply(document, "podnet-tampered.yaml")
    demo.until(
        "ArtifactVerified=False",
        lambda: demo.condition("podnet-tampered", "ArtifactVerified").get("status") == "False",
        timeout=120,
    )
    demo.run("kubectl", "get", "md", "podnet-tampered", "-n", MODELS_NS)
    verdict = '{.status.conditions[?(@.type=="ArtifactVerified")].message}{"\\n"}'
    demo.run("kubectl", "get", "md", "podnet-tampered", "-n", MODELS_NS,
             "-o", f"jsonpath={verdict}")  # fmt: skip
    demo.run("kubectl", "get", "events", "-n", MODELS_NS, "--field-selector",
             "involvedObject.name=podnet-tampered,type=Warning")  # fmt: skip


def on_real_node(demo: Demo, model: PackagedModel) -> dict[str, Any]:
    """The manifest `ferry package` wrote, plus where to run: the real node, small requests."""
    document = copy.deepcopy(model.document())
    spec = document["spec"]
    spec.update(placement=demo.cluster.real_node.placement(), resources=dict(SMALL_RESOURCES),
                replicas=2)  # fmt: skip
    return document


def _restricted(namespace: str) -> str:
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
    )


def _retrying(demo: Demo, *command: str, within: float = 15) -> str:
    """kube-proxy writes a Service's rules up to a second after its pods turn Ready."""
    deadline, first = time.monotonic() + within, True
    while True:
        try:
            return demo.run(*command, show=first)
        except ClusterError:
            if time.monotonic() > deadline:
                raise
            first = False
            time.sleep(1)
