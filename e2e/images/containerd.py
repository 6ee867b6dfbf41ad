"""A throwaway containerd on a given root: to import images into the seed, and to run
containers from a clone to prove it works. Its socket, state and runtime files live in a
temporary directory; the only paths outside it are containerd 1.6's fixed shim sockets
(/run/containerd/s), which it removes with each task."""

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import IO

from .commands import ImagesError, run

NAMESPACE = "k8s.io"  # the CRI plugin's namespace: the kubelet sees images imported there
START_SECONDS = 15
STOP_SECONDS = 30


def _config(root: Path, work: Path) -> str:
    # The CRI plugin stays off: nothing here talks CRI, and it would write its own state
    # into the root. The real node's containerd (e2e/localcluster) has its own config.
    return f"""\
version = 2
root = "{root}"
state = "{work}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{work}/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{work}/opt"
"""


@dataclass(frozen=True)
class Containerd:
    socket: Path
    work: Path

    def ctr(self, *args: str, stdin: IO[bytes] | None = None) -> str:
        command = ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, *args]
        return run(command, stdin=stdin)

    def import_members(self, layout: Path, members: Sequence[str]) -> None:
        """`ctr images import` of a tar of these members of an OCI layout, made by tar."""
        command = ["tar", "-C", str(layout), "-cf", "-", *members]
        with subprocess.Popen(command, stdout=PIPE, stderr=PIPE) as tar:
            assert tar.stdout is not None
            self.ctr("images", "import", "-", stdin=tar.stdout)
            errors = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
        if tar.returncode != 0:
            raise ImagesError(f"tar of {layout} for ctr import failed: {errors}")

    def run_args(self) -> list[str]:
        """`ctr run` options that keep its FIFOs and runc's state in the work directory."""
        return [f"--fifo-dir={self.work / 'fifo'}", f"--runc-root={self.work / 'runc'}"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def containerd(root: Path) -> Iterator[Containerd]:
    """Start containerd on `root`, yield once it answers, always stop it (by its pid)."""
    if shutil.which("containerd") is None:
        raise ImagesError("containerd is not installed: apt-get install -y containerd runc")
    work = Path(tempfile.mkdtemp(prefix="ferry-containerd-"))
    try:
        (work / "config.toml").write_text(_config(root, work))
        log = work / "containerd.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["containerd", "--config", str(work / "config.toml")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            daemon = Containerd(work / "containerd.sock", work)
            _wait_until_serving(daemon, process, log)
            yield daemon
        finally:
            _stop(process)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _wait_until_serving(daemon: Containerd, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            code = process.returncode
            raise ImagesError(f"containerd exited at start ({code}):\n{log.read_text()}")
        if daemon.socket.exists():
            with contextlib.suppress(ImagesError):
                daemon.ctr("version")
                return
        time.sleep(0.05)
    raise ImagesError(f"containerd did not answer within {START_SECONDS} s:\n{log.read_text()}")
