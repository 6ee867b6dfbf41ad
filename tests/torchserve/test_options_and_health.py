"""Deploy-time options change the loaded model; readiness tracks whether the model serves."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import torch

from ferry.torchserve.settings import GoldenProbe, ProbeExpectation

from .conftest import Artifacts, Packager, ServedModel, reference, running

pytestmark = pytest.mark.torchserve

ROWS = [[0.05 * (i - j) for j in range(16)] for i in range(4)]
CLASS_FILE = Path(__file__).parent / "tinynet.py"
# Stated tolerances against the fp32 model called in-process.
INT8_TOLERANCE = {"atol": 0.05, "rtol": 0.05}
BF16_TOLERANCE = {"atol": 0.02, "rtol": 0.02}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts, package: Packager
) -> Iterator[dict[str, ServedModel]]:
    def state_dict(name: str, class_name: str, *options: str) -> Path:
        option = ("--model-class", f"{CLASS_FILE}:{class_name}", "--input-shape", "16")
        return package(artifacts.state_dict, name, *option, *options)

    models = {
        "int8": ServedModel(
            tmp_path_factory.mktemp("int8"),
            "tiny_int8",
            "1.0",
            archive=state_dict("tiny_int8", "TinyNet", "--quantize", "int8", "--warmup", "2"),
        ),
        "bf16": ServedModel(
            tmp_path_factory.mktemp("bf16"),
            "tiny_bf16",
            "1.0",
            archive=state_dict("tiny_bf16", "TinyNet", "--precision", "bf16"),
        ),
        "broken": ServedModel(
            tmp_path_factory.mktemp("broken"),
            "tiny_broken",
            "1.0",
            archive=state_dict("tiny_broken", "BrokenNet"),
        ),
        "mismatch": ServedModel(
            tmp_path_factory.mktemp("mismatch"),
            "tiny_golden",
            "1.0",
            archive=state_dict("tiny_golden", "TinyNet"),
            probe=GoldenProbe(request={"data": ROWS[:1]}, expect=ProbeExpectation(shape=[1, 5])),
        ),
    }
    with running(*models.values()):
        yield models


def test_int8_quantization_replaces_linear_layers(
    served: dict[str, ServedModel], artifacts: Artifacts
) -> None:
    model = served["int8"]
    model.wait_ready()
    loaded = model.customized()
    assert loaded["quantizedLinear"] == 2  # both Linear layers
    answer = model.predict({"data": ROWS})
    assert answer.status_code == 200, answer.text
    expected = reference(artifacts.model, ROWS)
    torch.testing.assert_close(torch.tensor(answer.json()), expected, **INT8_TOLERANCE)
    assert not torch.equal(torch.tensor(answer.json()), expected)  # it really is another model


def test_bf16_precision_changes_the_weights_dtype(
    served: dict[str, ServedModel], artifacts: Artifacts
) -> None:
    model = served["bf16"]
    model.wait_ready()
    assert model.customized()["dtype"] == "bfloat16"
    answer = model.predict({"data": ROWS})
    assert answer.status_code == 200, answer.text
    expected = reference(artifacts.model, ROWS)
    torch.testing.assert_close(torch.tensor(answer.json()), expected, **BF16_TOLERANCE)


def test_a_model_that_cannot_load_is_not_ready_while_ping_says_healthy(
    served: dict[str, ServedModel],
) -> None:
    model = served["broken"]
    body = model.wait_for(lambda _, body: body.get("reason") == "WorkersNotReady", seconds=30)
    assert "0 of 1 workers are READY" in body["message"]
    ping = requests.get(
        f"{model.ts_inference}/ping",
        headers={"Authorization": f"Bearer {model.keys().inference}"},
        timeout=5,
    )
    assert ping.status_code == 200
    assert ping.json()["status"] == "Healthy"
    assert requests.get(f"{model.agent}/livez", timeout=5).status_code == 200


def test_a_golden_request_mismatch_keeps_the_pod_unready_with_a_reason(
    served: dict[str, ServedModel],
) -> None:
    model = served["mismatch"]
    body = model.wait_for(lambda _, body: body.get("reason") == "ProbeMismatch", seconds=60)
    assert body["message"] == "output shape [1, 4] != expected [1, 5]"
    assert model.predict({"data": ROWS}).status_code == 200  # the model itself answers
