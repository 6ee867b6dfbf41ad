"""The images Ferry builds, their references, and where their archives are kept."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import base, pause
from .dockerfile import DockerfileImage

REPO = Path(__file__).resolve().parents[2]
_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

PAUSE_IMAGE = pause.PAUSE_IMAGE
SERVING_IMAGE = "localhost/ferry/torchserve:0.12.0-cpu"
OPERATOR_IMAGE = f"localhost/ferry/operator:{_VERSION}"

OPERATOR = DockerfileImage(
    key="operator",
    ref=OPERATOR_IMAGE,
    dockerfile="Dockerfile",
    build_args={},
    usually="about 30 s the first time, seconds when only Ferry's code changed",
)
SERVING = DockerfileImage(
    key="serving",
    ref=SERVING_IMAGE,
    dockerfile="model-handlers/Dockerfile",
    # PyTorch's CPU index is out of reach here: torch comes from PyPI (the CUDA build) and the
    # Dockerfile's cpu variant leaves out what only a GPU would load.
    build_args={"TORCH_VARIANT": "cpu", "TORCH_INDEX": ""},
    usually="about 4 minutes the first time, seconds when only Ferry's code changed",
)


@dataclass(frozen=True)
class CachedImage:
    """An image as the cache keeps it, named by the stamp of the inputs it is built from:
    an OCI layout directory (layout.py), or an oci-archive for the base, which only buildah
    reads."""

    key: str
    ref: str
    stamp: str
    path: Path


def _cached(cache: Path, key: str, ref: str, stamp: str, suffix: str = "") -> CachedImage:
    return CachedImage(key, ref, stamp, cache / "images" / f"{key}-{stamp[:16]}{suffix}")


def cached_base(cache: Path) -> CachedImage:
    return _cached(cache, "base", base.BASE_IMAGE, base.stamp(), ".oci.tar")


def cluster_images(cache: Path) -> list[CachedImage]:
    """The images clusters run, as the present sources make them (built or not yet)."""
    base_stamp = base.stamp()
    return [
        _cached(cache, "pause", PAUSE_IMAGE, pause.stamp()),
        *(_cached(cache, i.key, i.ref, i.stamp(REPO, base_stamp)) for i in (OPERATOR, SERVING)),
    ]
