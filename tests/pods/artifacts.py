"""The pods tier's model versions: small real models packaged with `ferry package`, once.

Every version is TorchServe model `podnet` (one ModelDeployment rolls from one to another):

| key | version | what it is |
|---|---|---|
| `v1` | 1.0.0 | PodNet's weights from seed 1, packaged with a golden probe |
| `v2` | 2.0.0 | the same architecture with other weights (seed 2) |
| `broken` | 2.0.1-init-fails | v2's weights; the model class raises while the worker loads it |
| `flaky` | 2.0.2-flaky | v2's weights; every 4th forward pass raises (a quarter of requests: 500) |
| `slow` | 2.0.3-slow | v2's weights; every forward pass sleeps 0.2 s first |

All are `weights_only` state dicts with `podnet.py` shipped as the model class (`--model-class`,
`--model-args`): a torch.export program would cost 10-25 s of tracing per session here.

Successful answers of `flaky` and `slow` equal v2's, so an answer tells which weights served
it (`PodModels.identify`). Each archive lives in `<root>/<version>/podnet.mar`, the
directory the artifact server serves, and its manifest (the one `ferry package` wrote,
naming the server's URL) beside it.
"""

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from ferry.cli.__main__ import main as ferry_cli
from tests.pods import podnet

MODEL_NAME = "podnet"
MODEL_CLASS_FILE = Path(podnet.__file__)
# Two instances, so a probe or a load loop also checks that rows are split back correctly.
PROBE_ROWS = [[0.1 * i for i in range(podnet.IN_FEATURES)], [-0.05 * i for i in range(16)]]
FAIL_EVERY = 4
SLOW_SECONDS = 0.2


@dataclass(frozen=True)
class PackagedModel:
    key: str
    version: str
    archive: Path
    sha256: str
    manifest: Path  # the ModelDeployment `ferry package` wrote (its uri: the artifact server)
    weights: torch.nn.Module  # in-process model whose answers the version's 200s equal

    def answer(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        """What the model called in-process answers for `rows`."""
        with torch.inference_mode():
            output: list[list[float]] = self.weights(torch.tensor(rows)).tolist()
        return output

    def document(self) -> dict[str, Any]:
        """The ModelDeployment `ferry package` wrote, as a dict."""
        document: dict[str, Any] = yaml.safe_load(self.manifest.read_text())
        return document

    def model_spec(self) -> dict[str, Any]:
        """`spec.model` as `ferry package` wrote it (uri, sha256, probe if packaged)."""
        model: dict[str, Any] = self.document()["spec"]["model"]
        return model


@dataclass(frozen=True)
class PodModels:
    v1: PackagedModel
    v2: PackagedModel
    broken: PackagedModel
    flaky: PackagedModel
    slow: PackagedModel

    def all(self) -> list[PackagedModel]:
        return [self.v1, self.v2, self.broken, self.flaky, self.slow]

    def identify(self, rows: Sequence[Sequence[float]], answer: Any) -> str | None:
        """`v1` or `v2` (whose weights produced `answer` for `rows`), else None."""
        for model in (self.v1, self.v2):
            if isinstance(answer, list) and close(answer, model.answer(rows)):
                return model.key
        return None


def close(answer: Any, expected: list[list[float]], tolerance: float = 1e-5) -> bool:
    """The served answer equals the in-process one (JSON floats are float32's repr)."""
    try:
        return bool(torch.allclose(torch.tensor(answer), torch.tensor(expected), atol=tolerance))
    except (TypeError, ValueError, RuntimeError):
        return False


def probe_for(rows: Sequence[Sequence[float]], expected: list[list[float]]) -> dict[str, Any]:
    """`spec.model.probe`: a golden request and the answer it must get."""
    return {
        "request": {"data": [list(row) for row in rows]},
        "expect": {"shape": [len(expected), len(expected[0])], "values": expected},
    }


def _net(seed: int) -> podnet.PodNet:
    torch.manual_seed(seed)
    return podnet.PodNet().eval()


def _package(
    root: Path, base_url: str, key: str, version: str, model_file: Path,
    weights: torch.nn.Module, *options: str,
) -> PackagedModel:  # fmt: skip
    """`ferry package` in-process, into `<root>/<version>/`."""
    out = root / version
    argv = [
        "package", str(model_file), "--name", MODEL_NAME, "--version", version,
        "--uri", f"{base_url}/{version}/{MODEL_NAME}.mar", "--output-dir", str(out), *options,
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the three paths
        status = ferry_cli(argv)
    assert status == 0, f"ferry package {version} failed (see stderr)"
    archive = out / f"{MODEL_NAME}.mar"
    sha256 = archive.with_name(archive.name + ".sha256").read_text().split()[0]
    return PackagedModel(key, version, archive, sha256, out / f"{MODEL_NAME}.yaml", weights)


def build_models(root: Path, base_url: str) -> PodModels:
    """Package every version under `root`, to be served at `base_url` (no trailing /)."""
    sources = root / "sources"
    sources.mkdir(parents=True)
    nets = {"v1": _net(1), "v2": _net(2)}
    for key, net in nets.items():
        torch.save(net.state_dict(), sources / f"{key}.pt")
    with torch.inference_mode():
        expected_v1 = nets["v1"](torch.tensor(PROBE_ROWS)).tolist()
    v1_probe = {
        "--probe-request": json.dumps({"data": PROBE_ROWS}),
        "--probe-shape": f"{len(PROBE_ROWS)},{podnet.OUT_FEATURES}",
        "--probe-values": json.dumps(expected_v1),
    }

    def package(key: str, version: str, weights: str, **options: str) -> PackagedModel:
        flags = {"--model-class": f"{MODEL_CLASS_FILE}:PodNet", **options}
        argv = [part for flag, value in flags.items() for part in (flag, value)]
        model_file = sources / f"{weights}.pt"
        return _package(root, base_url, key, version, model_file, nets[weights], *argv)

    def faulty(key: str, version: str, **model_args: object) -> PackagedModel:
        return package(key, version, "v2", **{"--model-args": json.dumps(model_args)})

    return PodModels(
        v1=package("v1", "1.0.0", "v1", **v1_probe),
        v2=package("v2", "2.0.0", "v2"),
        broken=faulty("broken", "2.0.1-init-fails", init_error="PodNet cannot be built (a test)"),
        flaky=faulty("flaky", "2.0.2-flaky", fail_every=FAIL_EVERY),
        slow=faulty("slow", "2.0.3-slow", delay_seconds=SLOW_SECONDS),
    )
