"""`ferry package` errors are one clear line, never a stack trace."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import Artifacts

pytestmark = pytest.mark.torchserve

CLASS = f"{Path(__file__).parent / 'tinynet.py'}:TinyNet"


def ferry_package(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ferry.cli", "package", *argv, "--name", "m", "--version", "1"]
    return subprocess.run(
        [*command, "--output-dir", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["missing.pt"], "model file missing.pt not found"),
        (["{pickled}"], "pickled full model, which runs code when loaded"),
        (["{state_dict}"], "pass --model-class FILE.py:ClassName"),
        (["{export}", "--quantize", "int8"], "quantize needs an eager model"),
        (["{junk}"], "not a torch model file"),
        (["{state_dict}", "--model-class", "nope.py:Net"], "model class file nope.py not found"),
    ],
)
def test_bad_input_gets_one_line(
    tmp_path: Path, artifacts: Artifacts, argv: list[str], words: str
) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00not a model")
    paths = {
        "pickled": artifacts.pickled,
        "state_dict": artifacts.state_dict,
        "export": artifacts.export,
        "junk": junk,
    }
    result = ferry_package(tmp_path, *(arg.format(**paths) for arg in argv))
    assert result.returncode == 1
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_manifest_is_a_ready_model_deployment(tmp_path: Path, artifacts: Artifacts) -> None:
    result = ferry_package(
        tmp_path,
        str(artifacts.state_dict),
        "--model-class",
        CLASS,
        "--batch-size",
        "8",
        "--max-batch-delay-ms",
        "10",
        "--uri",
        "s3://models/m/1/m.mar",
        "--probe-request",
        '{"data": [[0.0]]}',
        "--probe-shape",
        "1,4",
    )
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load((tmp_path / "m.yaml").read_text())
    sha = (tmp_path / "m.mar.sha256").read_text().split()[0]
    assert manifest["apiVersion"] == "serving.ferry.dev/v1alpha1"
    assert manifest["kind"] == "ModelDeployment"
    model = manifest["spec"]["model"]
    assert (model["name"], model["version"], model["uri"], model["sha256"]) == (
        "m",
        "1",
        "s3://models/m/1/m.mar",
        sha,
    )
    assert model["probe"]["expect"] == {"shape": [1, 4]}
    assert manifest["spec"]["runtime"]["batching"] == {"maxBatchSize": 8, "maxBatchDelayMs": 10}
