"""The pod sandbox image containerd starts first in every pod: one static binary, from scratch."""

import json
import shutil
from pathlib import Path

from .buildah import Buildah
from .commands import run
from .stamps import digest, sources_digest

PAUSE_IMAGE = "localhost/ferry/pause:3.10"
SOURCE = Path(__file__).with_name("pause.c")
# Static (the image has no libc), stripped, small: about 0.7 MB.
CFLAGS = ("-Os", "-static", "-s", "-Wall", "-Wextra", "-Werror")
CONFIG = (
    f"--entrypoint={json.dumps(['/pause'])}",
    "--cmd=",
    "--user=65535:65535",
    "--os=linux",
    "--arch=amd64",
)


def stamp() -> str:
    recipe = sources_digest(SOURCE, Path(__file__), Path(__file__).with_name("buildah.py"))
    return digest(*CFLAGS, *CONFIG, recipe)


def build(buildah: Buildah, work: Path, layout: Path, previous: Path | None) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    binary = work / "pause"
    run(["gcc", *CFLAGS, "-o", str(binary), str(SOURCE)])
    buildah.commit_scratch(PAUSE_IMAGE, [(binary, "/pause")], CONFIG)
    buildah.export(PAUSE_IMAGE, layout, previous)
    shutil.rmtree(work)
