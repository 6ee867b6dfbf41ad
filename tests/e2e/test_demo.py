"""`make demo` keeps working: `python -m e2e.demo` run as a person runs it, on a private
cluster directory so a developer's `.run/localcluster` is never touched.

World: a local control plane of the demo's own (not the session's, so a second real node
beside the session's), started by the demo in a temporary run directory; Ferry installed by
`helm install`, its operator and the models' TorchServe in real pods. The demo leaves its
cluster up for the user to explore; this test stops it.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from e2e.demo_operator import REPO
from e2e.localcluster import LocalCluster

pytestmark = pytest.mark.e2e


def test_demo_serves_a_real_model_promotes_a_canary_and_rolls_a_bad_one_back() -> None:
    # Short: the kubelet's Unix sockets live below it (pytest's tmp_path is too long).
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="ferry-demo-")) / "localcluster")
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "e2e.demo", "--run-dir", str(cluster.run_dir)],
            cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        output = demo.stdout
        assert demo.returncode == 0, f"{output}\n{demo.stderr}"
        # The operator runs in a pod on the real node, installed by Helm.
        assert re.search(r"ferry-\S+\s+1/1\s+Running\s.*real-node-0", output), output
        # A real prediction through the Service, equal to the model called in-process.
        assert "modeldeployment.serving.ferry.dev/podnet condition met" in output
        assert ": identical" in output
        assert "modeldeployment.serving.ferry.dev/resnet50 condition met" in output
        # The real fetch step refused the tampered archive, with its own message.
        assert "fetch failed: ferry-fetch: sha256 mismatch" in output
        refused = r"Warning\s+ArtifactChecksumMismatch\s+modeldeployment/podnet-tampered"
        assert re.search(refused, output)
        # 2.0.0 promoted with no failed request; 2.0.2 rolled back by analysis.
        promoted = r"statuses \{200: \d+\}, answered by 1\.0\.0 \d+ times, by 2\.0\.0"
        assert re.search(promoted, output)
        assert "Degraded=True AnalysisFailed: error rate" in output
        assert re.search(r"rolled back [\d.]+s after the canary took traffic", output)
        assert re.search(r"\b0 in the \d+ requests after it", output), "failures after rollback"
        assert f"down --run-dir {cluster.run_dir}" in output
        assert cluster.running(), "the demo leaves its cluster up for the user"
    finally:
        components = cluster.components()
        cluster.down()
        shutil.rmtree(cluster.run_dir.parent, ignore_errors=True)
    assert not any(component.alive() for component in components)
