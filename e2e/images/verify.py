"""`python -m e2e.images verify`: clones of the seed run Ferry's images.

Two clones are made and each gets its own containerd; in them: torch and TorchServe import in
the serving image and run a forward pass; its tools answer; the operator image has no torch;
the pause image runs in both clones at once and stops on SIGTERM; and, as a pod would, the
real `ferry-fetch` fetches and verifies a model archive made by `ferry package`, then the
real `ferry-serve` serves it from a read-only root as uid 1000, and a prediction through its
front equals the model called in-process. (The `pods` tier proves it all again on the real
kubelet node.)
"""

import contextlib
import functools
import http.server
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import torch
import yaml

from e2e.localcluster.processes import free_port
from ferry.cli.__main__ import main as ferry_cli
from ferry.torchserve.config import ServingConfig, render_config_properties
from ferry.torchserve.settings import ServeSettings

from .catalog import OPERATOR_IMAGE, PAUSE_IMAGE, SERVING_IMAGE
from .clone import clone_seed
from .commands import ImagesError
from .containerd import Containerd, containerd
from .progress import step
from .seed import seed_root

MODEL = "tiny"
ROWS = [[0.1 * (i + j) for j in range(16)] for i in range(3)]
POD_UID = 1000  # the serving image's user (docs/pod-contract.md)
PAUSE_UID = 65535
READY_SECONDS = 120
READ_ONLY = ("--read-only",)  # as the pods run (readOnlyRootFilesystem)


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ImagesError(f"verify: {what}")


def _container(
    daemon: Containerd, image: str, name: str, *command: str, options: tuple[str, ...] = ()
) -> str:
    """Run `command` in a new container of `image` to its end; its output."""
    return daemon.ctr("run", "--rm", *daemon.run_args(), *options, image, name, *command).strip()


def check_images(daemon: Containerd) -> None:
    with step("serving image: torch + TorchServe import, a forward pass, tools, user, root"):
        script = "import torch, ts; print(torch.nn.Linear(4, 2)(torch.ones(1, 4)).shape)"
        out = _container(daemon, SERVING_IMAGE, "imports", "python", "-c", script)
        _check(out.endswith("torch.Size([1, 2])"), f"forward pass in {SERVING_IMAGE}: {out}")
        for tool in (["ferry-fetch", "--help"], ["ferry-serve", "--help"]):
            _container(daemon, SERVING_IMAGE, tool[0], *tool)
        version = _container(daemon, SERVING_IMAGE, "torchserve", "torchserve", "--version")
        _check("0.12.0" in version, f"torchserve --version said {version!r}")
        script = "id -u; touch /probe 2>/dev/null && echo writable || echo read-only"
        out = _container(daemon, SERVING_IMAGE, "user", "sh", "-c", script, options=READ_ONLY)
        _check(out.split() == [str(POD_UID), "read-only"], f"user and root of a pod: {out}")
    with step("operator image: Ferry and kopf import, torch is absent, uid 65532"):
        script = (
            "import os, ferry.handlers, importlib.util as u;"
            "print(u.find_spec('torch') is None, os.getuid())"
        )
        out = _container(daemon, OPERATOR_IMAGE, "operator", "python", "-c", script)
        _check(out == "True 65532", f"{OPERATOR_IMAGE}: torch absent and uid 65532? {out}")


@contextlib.contextmanager
def _detached(daemon: Containerd, image: str, name: str, *options: str) -> Iterator[None]:
    daemon.ctr("run", "--detach", *daemon.run_args(), *options, image, name)
    try:
        yield
    finally:
        with contextlib.suppress(ImagesError):
            daemon.ctr("tasks", "delete", "--force", name)
        daemon.ctr("containers", "delete", name)


def _task(daemon: Containerd, name: str) -> tuple[int, str]:
    """(host pid, status) of a container's task; status ABSENT when it has none."""
    for line in daemon.ctr("tasks", "list").splitlines()[1:]:
        task, pid, status = line.split()
        if task == name:
            return int(pid), status
    return 0, "ABSENT"


def _task_status(daemon: Containerd, name: str) -> str:
    return _task(daemon, name)[1]


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _stops_on_sigterm(daemon: Containerd, name: str, seconds: float) -> bool:
    daemon.ctr("tasks", "kill", "--signal", "SIGTERM", name)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _task_status(daemon, name) == "STOPPED":
            return True
        time.sleep(0.1)
    return False


def check_two_clones(first: Containerd, second: Containerd) -> None:
    with (
        step("pause image: running as 65535 in both clones at once, stopping on SIGTERM"),
        _detached(first, PAUSE_IMAGE, "pause-a"),
        _detached(second, PAUSE_IMAGE, "pause-b"),
    ):
        for daemon, name in ((first, "pause-a"), (second, "pause-b")):
            pid, status = _task(daemon, name)
            _check(status == "RUNNING", f"{name} is not running")
            _check(_uid(pid) == PAUSE_UID, f"{name} runs as uid {_uid(pid)}")
        for daemon, name in ((first, "pause-a"), (second, "pause-b")):
            _check(_stops_on_sigterm(daemon, name, 5), f"{name} ignored SIGTERM")


def _tiny_model(directory: Path) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    model.eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (torch.randn(4, 16),), dynamic_shapes=({0: batch},))
    torch.export.save(program, directory / f"{MODEL}.pt2")
    return model, directory / f"{MODEL}.pt2"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per request: the progress lines say what happened."""


@contextlib.contextmanager
def _artifact_server(directory: Path) -> Iterator[int]:
    """What an artifact store is to a pod: HTTP on a port of the host network."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _pod_dirs(pod: Path) -> dict[str, Path]:
    """The pod contract's volumes, as host directories; the writable ones owned by the pod."""
    dirs = {name: pod / name for name in ("models", "config", "work", "tmp")}
    for name, path in dirs.items():
        path.mkdir(parents=True)
        if name != "config":
            os.chown(path, POD_UID, POD_UID)
    return dirs


def _mount(source: Path, destination: str, mode: str) -> str:
    return f"--mount=type=bind,src={source},dst={destination},options=rbind:{mode}"


def _write_config(dirs: dict[str, Path], ports: dict[str, int]) -> None:
    serving = ServingConfig(
        model_name=MODEL,
        model_version="1.0",
        inference_port=ports["inference"],
        management_port=ports["management"],
        metrics_port=ports["metrics"],
        grpc_inference_port=ports["grpc_inference"],
        grpc_management_port=ports["grpc_management"],
    )
    (dirs["config"] / "config.properties").write_text(render_config_properties(serving))
    settings = ServeSettings(
        model_name=MODEL,
        model_version="1.0",
        front_port=ports["front"],
        agent_port=ports["agent"],
    )
    (dirs["config"] / "ferry-serve.json").write_text(settings.model_dump_json(by_alias=True))


def _wait_ready(agent: str, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{agent}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise ImagesError(f"verify: ferry-serve not ready within {READY_SECONDS} s:\n{tail}")


def serve_model(daemon: Containerd, pod: Path) -> None:
    """The serving path of a pod, with ctr: fetch (init container), then serve."""
    artifacts = pod / "artifacts"
    artifacts.mkdir(parents=True)
    model, exported = _tiny_model(artifacts)
    dirs = _pod_dirs(pod)
    names = ("front", "agent", "inference", "management", "metrics")
    ports = {name: free_port() for name in (*names, "grpc_inference", "grpc_management")}
    _write_config(dirs, ports)
    host_network = ("--net-host", *READ_ONLY)
    with _artifact_server(artifacts) as port:
        uri = f"http://127.0.0.1:{port}/{MODEL}.mar"
        package = ["package", str(exported), "--name", MODEL, "--version", "1.0"]
        options = ["--uri", uri, "--image", SERVING_IMAGE, "--output-dir", str(artifacts)]
        _check(ferry_cli([*package, *options]) == 0, "ferry package failed")
        manifest: dict[str, Any] = yaml.safe_load((artifacts / f"{MODEL}.yaml").read_text())
        sha256 = manifest["spec"]["model"]["sha256"]
        with step("ferry-fetch in the serving image: the archive fetched and verified"):
            fetch = ["ferry-fetch", "--uri", uri, "--sha256", sha256]
            fetch += ["--dest", f"/models/{MODEL}.mar", "--termination-log", "/dev/null"]
            models = _mount(dirs["models"], "/models", "rw")
            _container(daemon, SERVING_IMAGE, "fetch", *fetch, options=(*host_network, models))
    log = pod / "serve.log"
    mounts = [
        _mount(dirs["models"], "/models", "ro"),
        _mount(dirs["config"], "/etc/ferry", "ro"),
        _mount(dirs["work"], "/var/run/ferry", "rw"),
        _mount(dirs["tmp"], "/tmp", "rw"),
    ]
    with (
        step("ferry-serve in the serving image: a packaged model served, a prediction"),
        _detached(
            daemon, SERVING_IMAGE, "serve", *host_network, *mounts, f"--log-uri=file://{log}"
        ),
    ):
        _wait_ready(f"http://127.0.0.1:{ports['agent']}", log)
        answer = requests.post(
            f"http://127.0.0.1:{ports['front']}/predictions/{MODEL}", json=ROWS, timeout=30
        )
        _check(answer.status_code == 200, f"prediction: {answer.status_code} {answer.text}")
        with torch.inference_mode():
            expected = model(torch.tensor(ROWS))
        served = torch.tensor(answer.json())
        _check(torch.allclose(served, expected, atol=1e-5), f"{served} != {expected}")
        print(f"  prediction {json.dumps(answer.json()[0][:2])}... equals the model's", flush=True)
        _check(_stops_on_sigterm(daemon, "serve", 40), "ferry-serve ignored SIGTERM")


def verify(cache: Path) -> None:
    seed = seed_root(cache)
    work = Path(tempfile.mkdtemp(prefix="verify-", dir=cache))
    try:
        with step("cloning the seed twice (hard links; bolt databases copied)"):
            first = clone_seed(seed, work / "first")
            second = clone_seed(seed, work / "second")
        with containerd(first) as one, containerd(second) as two:
            check_images(one)
            check_two_clones(one, two)
            serve_model(one, work / "pod")
    finally:
        shutil.rmtree(work)
    print("verified: clones of the seed run the pause, operator and serving images")
