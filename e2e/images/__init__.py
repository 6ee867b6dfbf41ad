"""Ferry's images, built without Docker or a registry, and the containerd roots that hold them.

`python -m e2e.images build` (`make images`) builds the stale images with buildah from the
project's Dockerfiles, keeps their OCI archives in $FERRY_CACHE/images, and imports them into
a seed containerd root ($FERRY_CACHE/containerd-seed). A cluster launcher then does:

    root = clone_seed(seed_root(cache), run_dir / "containerd" / "root")

and starts its containerd on that root with SERVING_IMAGE, OPERATOR_IMAGE and PAUSE_IMAGE in
the k8s.io namespace (the CRI plugin's), no import needed. docs/images.md has the details.
"""

import os
from pathlib import Path

from .catalog import OPERATOR_IMAGE, PAUSE_IMAGE, SERVING_IMAGE
from .clone import clone_seed
from .commands import ImagesError
from .seed import seed_root


def default_cache() -> Path:
    """$FERRY_CACHE, by default ~/.cache/ferry (as the Makefile and .ci/run set it)."""
    return Path(os.environ.get("FERRY_CACHE") or Path.home() / ".cache" / "ferry")


__all__ = [
    "OPERATOR_IMAGE",
    "PAUSE_IMAGE",
    "SERVING_IMAGE",
    "ImagesError",
    "clone_seed",
    "default_cache",
    "seed_root",
]
