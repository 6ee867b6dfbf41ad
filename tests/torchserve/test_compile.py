"""`ferry package --compile`: the worker serves a torch.compile'd (inductor) model.

Compilation runs during warm-up, inside the worker's `initialize`, so the worker is READY
only once it has compiled, and a compile error would fail the load. Each instance has its
own TEMP and so its own, cold, inductor cache: the warm-up takes 20-21 s on this 2-core
machine, the whole test about 36 s (docs/runtime.md).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from .conftest import Artifacts, Packager, ServedModel, reference, running

pytestmark = pytest.mark.torchserve

CLASS_FILE = Path(__file__).parent / "tinynet.py"
BATCH_SIZE = 4
ROWS = [[0.07 * (i + 2 * j) - 0.5 for j in range(16)] for i in range(3)]
# Inductor fuses and reorders float32 arithmetic; a 16-32-4 MLP stays within a few ulps of
# eager (measured: identical here). This leaves two orders of magnitude of room.
COMPILE_TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}
# TorchServe's start plus a cold compile of two shapes, on a machine busy with other work.
COMPILE_STARTUP_SECONDS = 180


@pytest.fixture(scope="module")
def compiled(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts, package: Packager
) -> Iterator[ServedModel]:
    archive = package(
        artifacts.state_dict,
        "tiny_compiled",
        *("--model-class", f"{CLASS_FILE}:TinyNet", "--input-shape", "16"),
        *("--compile", "--warmup", "1"),
    )
    # Batch size 4: warm-up runs batches of 1 and 4, so the graph is compiled with a dynamic
    # batch dimension before READY and no request pays for a recompilation.
    model = ServedModel(
        tmp_path_factory.mktemp("compiled"),
        "tiny_compiled",
        "1.0",
        archive=archive,
        batch_size=BATCH_SIZE,
    )
    with running(model):
        yield model


def test_compiled_model_serves_the_same_predictions(
    compiled: ServedModel, artifacts: Artifacts
) -> None:
    compiled.wait_ready(seconds=COMPILE_STARTUP_SECONDS)
    loaded = compiled.customized()
    assert loaded["compiled"] is True, loaded
    assert loaded["format"] == "state_dict"
    # `compiled` repeats the option; the kernels inductor built in the worker's TEMP show
    # that compilation really ran (its cache follows TEMP: see conftest.pod_environment).
    kernels = list((compiled.root / "tmp").glob("torchinductor_*/**/*.so"))
    assert kernels, f"no inductor kernels under {compiled.root / 'tmp'}"
    for rows in (ROWS, ROWS[:1]):
        answer = compiled.predict({"data": rows})
        assert answer.status_code == 200, answer.text
        expected = reference(artifacts.model, rows)
        torch.testing.assert_close(torch.tensor(answer.json()), expected, **COMPILE_TOLERANCE)
