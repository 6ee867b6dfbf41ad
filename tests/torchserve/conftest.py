"""Fixtures of the torchserve tier: real models, `ferry package`, and `ferry-serve` instances.

Every instance is a real `ferry-serve` process supervising a real TorchServe, each with its
own model store, working directory, TEMP and free ports, stopped at the end of its module.
Missing Java or TorchServe fails the tier with a clear message; nothing is skipped.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
import torch

from e2e.localcluster.processes import free_port
from ferry.cli.__main__ import main as ferry_cli
from ferry.runtime.keys import KEY_FILE_NAME, parse_keys
from ferry.torchserve.config import (
    TORCHSERVE_TOKEN_EXPIRATION_MIN,
    ServingConfig,
    render_config_properties,
)
from ferry.torchserve.settings import GoldenProbe, ServeSettings

HERE = Path(__file__).parent
MODEL_CLASS_FILE = HERE / "tinynet.py"
STARTUP_SECONDS = 90


def pod_environment() -> dict[str, str]:
    """This process's environment minus what torch put there, as a pod would start.

    torch.export (the `artifacts` fixture) sets TORCHINDUCTOR_CACHE_DIR to a shared
    /tmp/torchinductor_root in os.environ; inherited, it would make every instance's workers
    compile into, and reuse, one cache outside the instance. Without it each worker's
    inductor cache lives under the instance's TEMP, like a pod's under its /tmp.
    """
    env = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}
    return {**env, "PYTHONUNBUFFERED": "1"}


@dataclass
class ServedModel:
    """One pod's worth of serving: ferry-serve supervising TorchServe, in its own dirs."""

    root: Path
    name: str
    version: str
    archive: Path | None = None  # copied into the model store unless the store has it already
    batch_size: int = 1
    max_batch_delay_ms: int = 0
    probe: GoldenProbe | None = None
    client_token: str | None = None
    token_expiration_min: float = TORCHSERVE_TOKEN_EXPIRATION_MIN
    key_renewal_margin_seconds: float = ServeSettings.model_fields[
        "key_renewal_margin_seconds"
    ].default
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        for name in ("store", "work", "tmp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        if self.archive is not None:
            (self.store / f"{self.name}.mar").write_bytes(self.archive.read_bytes())
        self.ports = {
            k: free_port()
            for k in ("front", "agent", "ts_inf", "ts_mgmt", "ts_metrics", "grpc_inf", "grpc_mgmt")
        }

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.ports['front']}"

    @property
    def agent(self) -> str:
        return f"http://127.0.0.1:{self.ports['agent']}"

    @property
    def ts_inference(self) -> str:
        return f"http://127.0.0.1:{self.ports['ts_inf']}"

    @property
    def ts_management(self) -> str:
        return f"http://127.0.0.1:{self.ports['ts_mgmt']}"

    @property
    def log(self) -> Path:
        return self.root / "serve.log"

    def keys(self) -> Any:
        return parse_keys((self.root / "work" / KEY_FILE_NAME).read_text())

    def start(self) -> "ServedModel":
        serving = ServingConfig(
            model_name=self.name,
            model_version=self.version,
            batch_size=self.batch_size,
            max_batch_delay_ms=self.max_batch_delay_ms,
            max_retry_timeout_s=30,
            model_store=str(self.store),
            inference_port=self.ports["ts_inf"],
            management_port=self.ports["ts_mgmt"],
            metrics_port=self.ports["ts_metrics"],
            grpc_inference_port=self.ports["grpc_inf"],
            grpc_management_port=self.ports["grpc_mgmt"],
            token_expiration_min=self.token_expiration_min,
        )
        (self.root / "config.properties").write_text(render_config_properties(serving))
        token_file = None
        if self.client_token is not None:
            token_file = self.root / "client-token"
            token_file.write_text(self.client_token)
        settings = ServeSettings(
            model_name=self.name,
            model_version=self.version,
            probe=self.probe,
            client_token_file=str(token_file) if token_file else None,
            ts_config=str(self.root / "config.properties"),
            work_dir=str(self.root / "work"),
            temp_dir=str(self.root / "tmp"),
            front_port=self.ports["front"],
            agent_port=self.ports["agent"],
            key_renewal_margin_seconds=self.key_renewal_margin_seconds,
        )
        config = self.root / "ferry-serve.json"
        config.write_text(settings.model_dump_json(by_alias=True))
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ferry.runtime.serve", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=pod_environment(),
            )
        return self

    def readyz(self) -> tuple[int, dict[str, Any]]:
        try:
            answer = requests.get(f"{self.agent}/readyz", timeout=10)
        except requests.ConnectionError:
            return 0, {}
        return answer.status_code, answer.json()

    def wait_for(self, predicate: Any, seconds: float = STARTUP_SECONDS) -> dict[str, Any]:
        """Poll /readyz until `predicate(status, body)`; fail with the log tail otherwise."""
        deadline = time.monotonic() + seconds
        status, body = 0, {}
        while time.monotonic() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, self.tail()
            status, body = self.readyz()
            if predicate(status, body):
                return body
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: last /readyz {status} {body}\n{self.tail()}")

    def wait_ready(self, seconds: float = STARTUP_SECONDS) -> None:
        self.wait_for(lambda status, _: status == 200, seconds)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def predict(self, body: Any, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.client_token is not None:
            headers.setdefault("Authorization", f"Bearer {self.client_token}")
        return requests.post(
            f"{self.front}/predictions/{self.name}",
            json=body,
            headers=headers,
            timeout=30,
            **kwargs,
        )

    def stats(self) -> dict[str, Any]:
        answer = requests.get(f"{self.agent}/stats", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def customized(self) -> dict[str, Any]:
        """The handler's own description, through TorchServe's describe API."""
        answer = requests.get(
            f"{self.ts_management}/models/{self.name}?customized=true",
            headers={"Authorization": f"Bearer {self.keys().management}"},
            timeout=10,
        )
        answer.raise_for_status()
        meta = answer.json()[0]["customizedMetadata"]
        return dict(json.loads(meta) if isinstance(meta, str) else meta)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _load_tinynet() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tinynet", MODEL_CLASS_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tinynet"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", autouse=True)
def prerequisites() -> None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("the torchserve tier needs Java 17 (apt-get install openjdk-17-jre-headless)")
    if not (Path(sys.executable).parent / "torchserve").exists():
        pytest.fail("the torchserve tier needs TorchServe: make venv (extra 'runtime')")


@pytest.fixture(scope="session")
def tinynet() -> ModuleType:
    return _load_tinynet()


@dataclass(frozen=True)
class Artifacts:
    model: torch.nn.Module  # the in-process reference
    export: Path
    torchscript: Path
    state_dict: Path
    pickled: Path


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory, tinynet: ModuleType) -> Artifacts:
    root = tmp_path_factory.mktemp("artifacts")
    torch.manual_seed(7)
    model = tinynet.TinyNet().eval()
    example = (torch.randn(4, tinynet.IN_FEATURES),)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(model, example, dynamic_shapes=({0: batch},))
    torch.export.save(program, root / "tiny.pt2")
    with warnings.catch_warnings():
        # TorchScript is deprecated upstream, but users still ship it and the issue asks for it.
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(model), root / "tiny.ts")
    torch.save(model.state_dict(), root / "tiny_state.pt")
    torch.save(model, root / "tiny_full.pt")
    return Artifacts(
        model=model,
        export=root / "tiny.pt2",
        torchscript=root / "tiny.ts",
        state_dict=root / "tiny_state.pt",
        pickled=root / "tiny_full.pt",
    )


Packager = Callable[..., Path]


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Packager:
    """Run `ferry package` in-process; returns the archive path."""

    def build(model_file: Path, name: str, *options: str) -> Path:
        out = tmp_path_factory.mktemp(f"pkg-{name}")
        argv = ["package", str(model_file), "--name", name, "--version", "1.0", *options]
        assert ferry_cli([*argv, "--output-dir", str(out)]) == 0
        return out / f"{name}.mar"

    return build


def reference(model: torch.nn.Module, rows: list[list[float]]) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.tensor(rows))


@contextlib.contextmanager
def running(*models: ServedModel) -> Iterator[None]:
    """Start instances together (startup overlaps), wait for each, always stop them."""
    try:
        for served in models:
            served.start()
        yield
    finally:
        for served in models:
            served.stop()
