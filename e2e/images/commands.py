"""Running the build tools: prerequisites checked up front, failures that name the fix."""

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO


class ImagesError(RuntimeError):
    """An image could not be built, imported or cloned; the message says what failed and how
    to fix it."""


# The Debian package that brings each tool (.ci/run installs them).
_PACKAGES = {
    "buildah": "buildah",
    "debootstrap": "debootstrap",
    "gcc": "gcc libc6-dev",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
}


def require(*tools: str) -> None:
    """Fail loudly, before any work, when a tool is missing or we are not root."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        packages = " ".join(dict.fromkeys(_PACKAGES.get(tool, tool) for tool in missing))
        raise ImagesError(
            f"missing {', '.join(missing)}: apt-get install -y --no-install-recommends {packages}"
        )
    if os.geteuid() != 0:
        raise ImagesError(
            "building and importing images needs root (debootstrap, buildah's chroot isolation, "
            "containerd): run `make images` as root"
        )


def _failure(cmd: Sequence[str], code: int, output: str, log: Path | None) -> ImagesError:
    tail = "\n".join(output.strip().splitlines()[-20:])
    where = f"\nfull log: {log}" if log else ""
    return ImagesError(f"`{shlex.join(cmd)}` failed (exit {code}):\n{tail}{where}")


def run(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: IO[bytes] | None = None,
) -> str:
    """Run a command to completion and return its stdout; raise with its output on failure."""
    done = subprocess.run(
        list(cmd), capture_output=True, env=env, cwd=cwd, stdin=stdin, check=False
    )
    stdout, stderr = (out.decode(errors="replace") for out in (done.stdout, done.stderr))
    if done.returncode != 0:
        raise _failure(cmd, done.returncode, stdout + stderr, None)
    return stdout


def run_logged(
    cmd: Sequence[str],
    log: Path,
    *,
    show: Callable[[str], bool] = lambda _: False,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run a long command with its output in `log`; print the lines `show` picks (progress)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with log.open("w") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        with subprocess.Popen(
            list(cmd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                lines = [*lines[-19:], line]
                if show(line):
                    print(f"    {line.rstrip()}", flush=True)
    if process.returncode != 0:
        raise _failure(cmd, process.returncode, "".join(lines), log)
