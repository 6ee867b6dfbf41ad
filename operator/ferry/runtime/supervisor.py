"""Start TorchServe in the foreground and stop it, with everything it spawned.

TorchServe runs in its own session (process group): `torchserve --foreground` starts Java,
Java starts the Python workers, and stopping the group reaches all of them. Its working
directory holds the key file; `TEMP` holds its pid file, sockets and unpacked models;
`OMP_NUM_THREADS` sizes each worker's torch thread pool (see `ferry.runtime.cpus`).
"""

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from ferry.runtime.keys import KEY_FILE_NAME
from ferry.torchserve.config import log4j2_config_path

STOP_GRACE_SECONDS = 10.0


class LaunchError(Exception):
    """TorchServe cannot be started here (missing Java, TorchServe or files)."""


@dataclass(frozen=True)
class LaunchSpec:
    ts_config: Path
    model_store: Path
    work_dir: Path
    temp_dir: Path
    torch_threads: int = 1  # intra-op threads per worker


def torchserve_env(spec: LaunchSpec) -> dict[str, str]:
    env = {**os.environ, "TEMP": str(spec.temp_dir)}
    # Workers inherit it; an OMP_NUM_THREADS set on the container is a deliberate choice.
    env.setdefault("OMP_NUM_THREADS", str(spec.torch_threads))
    return env


def torchserve_command(spec: LaunchSpec) -> list[str]:
    beside_python = Path(sys.executable).parent / "torchserve"
    executable = str(beside_python) if beside_python.exists() else shutil.which("torchserve")
    if executable is None:
        raise LaunchError("torchserve is not installed (pip install torchserve==0.12.0)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise LaunchError("java not found: TorchServe's frontend needs Java 11 or later")
    for path in (spec.ts_config, spec.model_store, spec.work_dir, spec.temp_dir):
        if not path.exists():
            raise LaunchError(f"{path} does not exist")
    return [
        executable,
        "--start",
        "--foreground",
        "--ncs",  # no config snapshots: the ConfigMap is the configuration
        "--ts-config",
        str(spec.ts_config),
        "--model-store",
        str(spec.model_store),
        "--log-config",
        str(log4j2_config_path()),
    ]


class TorchServeProcess:
    def __init__(self, spec: LaunchSpec) -> None:
        self.spec = spec
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        command = torchserve_command(self.spec)
        # Keys of a previous run are stale; TorchServe writes fresh ones on start.
        (self.spec.work_dir / KEY_FILE_NAME).unlink(missing_ok=True)
        (self.spec.temp_dir / ".model_server.pid").unlink(missing_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            *command,
            cwd=self.spec.work_dir,
            env=torchserve_env(self.spec),
            start_new_session=True,
        )

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM the whole group, SIGKILL what is left after the grace period."""
        if self.process is None:
            return
        group = self.process.pid  # a session leader's pid is its group id
        self._signal_group(group, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), STOP_GRACE_SECONDS)
        # Java may outlive the wrapper for a few seconds; workers must not survive it.
        for _ in range(int(STOP_GRACE_SECONDS * 10)):
            self._reap(group)
            if not self._group_alive(group):
                return
            await asyncio.sleep(0.1)
        self._signal_group(group, signal.SIGKILL)

    @staticmethod
    def _signal_group(group: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)

    @staticmethod
    def _reap(group: int) -> None:
        """Collect the group's exited processes. In a pod ferry-serve is PID 1: Java, orphaned
        when the wrapper exits, becomes its child, and a zombie still counts as alive."""
        with contextlib.suppress(ChildProcessError):
            while os.waitid(os.P_PGID, group, os.WEXITED | os.WNOHANG) is not None:
                pass

    @staticmethod
    def _group_alive(group: int) -> bool:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
