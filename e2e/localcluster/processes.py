"""Starting, tracking and stopping the control-plane processes."""

import contextlib
import functools
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class ClusterError(RuntimeError):
    """The local cluster could not be started or stopped; the message says what to look at."""


_LOWEST_PORT = 10000
_handed_out: set[int] = set()


@functools.cache
def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port nobody listens on, below the kernel's ephemeral range, never repeated.

    bind(0) draws from the ephemeral range, which outgoing connections draw from too: between
    picking a port and a server binding it, a client socket may take it (TorchServe then dies
    with "Address already in use"). Below that range only listeners compete, and a port is
    handed out once per process so two servers started later never get the same one.
    """
    highest = _ephemeral_range_start() - 1
    for _ in range(1000):
        port = random.randint(_LOWEST_PORT, highest)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise ClusterError(f"no free loopback port between {_LOWEST_PORT} and the ephemeral range")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a process, or None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return fields[0], int(fields[19])


@dataclass(frozen=True)
class Component:
    """One running control-plane process, as recorded in the run directory's state."""

    name: str
    pid: int
    started_at: int  # kernel start time: tells our process from a later one reusing the pid
    log: str
    # How it was started, so `restart` brings it back with the same flags, ports and data.
    argv: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        stat = _stat(self.pid)
        return stat is not None and stat[0] not in ("Z", "X") and stat[1] == self.started_at

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def start(
    name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None
) -> Component:
    """Start a process in its own session so it outlives neither `down` nor its group."""
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    stat = _stat(proc.pid)
    if stat is None:
        raise ClusterError(f"{name} exited at once; see {log}")
    return Component(name, proc.pid, stat[1], str(log), tuple(argv), dict(env or {}))


def restart(component: Component) -> Component:
    """Start a stopped component again exactly as it was started (its log continues)."""
    if not component.argv:
        raise ClusterError(
            f"{component.name} was recorded without its command line: restart the cluster"
        )
    log = Path(component.log)
    return start(component.name, list(component.argv), log.parent, component.env)


def stop(component: Component, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; reaps the process if it is our child."""
    if not component.alive():
        _reap(component.pid)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(component.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while component.alive() and time.monotonic() < deadline:
        _reap(component.pid)
        time.sleep(0.1)
    if component.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.pid, signal.SIGKILL)
        wait_until(f"{component.name} to exit", lambda: not component.alive(), 5)
    _reap(component.pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
