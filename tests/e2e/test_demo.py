"""`make demo` keeps working: `python -m e2e.demo` run as a person runs it, on a private
cluster directory so a developer's `.run/localcluster` is never touched.

World: a local control plane of the demo's own (not the session's), started by the demo in a
temporary run directory; kwok nodes and pods; the operator as a local process with the
chart's ServiceAccount token, started and stopped by the demo. The demo leaves its cluster up
for the user to explore; this test stops it.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.demo_operator import REPO
from e2e.localcluster import LocalCluster
from tests.cluster.helpers import table_rows

pytestmark = pytest.mark.e2e


def processes_using(kubeconfig: Path) -> list[int]:
    """Processes of this user whose KUBECONFIG is `kubeconfig` (the demo's operator)."""
    wanted = f"KUBECONFIG={kubeconfig}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = environ.read_bytes().split(b"\0")
        except OSError:  # another user's process, or one that just exited
            continue
        if wanted in variables:
            found.append(int(environ.parent.name))
    return found


def test_demo_serves_the_examples_and_reports_the_tampered_artifact(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "localcluster")
    operator_kubeconfig = cluster.run_dir / "demo" / "operator.kubeconfig"
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "e2e.demo", "--run-dir", str(cluster.run_dir)],
            cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        output = demo.stdout
        assert demo.returncode == 0, f"{output}\n{demo.stderr}"
        assert "modeldeployment.serving.ferry.dev/tiny-mlp condition met" in output
        assert "modeldeployment.serving.ferry.dev/resnet50 condition met" in output
        shown = output.split("$ kubectl get md -n demo\n")[-1].split("\n$ ")[0]
        ready = {row["NAME"]: (row["READY"], row["REASON"]) for row in table_rows(shown)}
        assert ready == {
            "resnet50": ("True", "Serving"),
            "tiny-mlp": ("True", "Serving"),
            "tiny-mlp-tampered": ("False", "ArtifactChecksumMismatch"),
        }
        assert "ArtifactVerified=False (ArtifactChecksumMismatch)" in output
        verdict = "fetch failed: sha256 mismatch for https://models.example.com/tiny-mlp/1.0.0/"
        assert verdict in output
        event = r"\sWarning\s+ArtifactChecksumMismatch\s+modeldeployment/tiny-mlp-tampered\s"
        assert re.search(event, output), "the Warning event is not shown"
        assert f"export KUBECONFIG={cluster.kubeconfig}" in output
        assert f"down --run-dir {cluster.run_dir}" in output
        assert processes_using(operator_kubeconfig) == [], "the demo left its operator running"
        assert cluster.running(), "the demo leaves its cluster up for the user"
    finally:
        for pid in processes_using(operator_kubeconfig):  # only if the demo failed to
            os.kill(pid, signal.SIGTERM)
        components = cluster.components()
        cluster.down()
    assert not any(component.alive() for component in components)
