"""A containerd root per cluster, made from the seed in seconds.

What containerd never changes once written is hard-linked: the content blobs (named by their
digest) and the committed overlay snapshots' trees (containers write to snapshots of their
own, mounted above them). Everything else is copied, never linked: the bolt databases
(metadata.v1.bolt/meta.db, the overlayfs snapshotter's metadata.db) and the directories a
running containerd writes into.
"""

import os
import shutil
from pathlib import Path

from .commands import ImagesError, run
from .containerd import containerd
from .lock import locked
from .seed import retags

CONTENT_BLOBS = "io.containerd.content.v1.content/blobs"
SNAPSHOT_TREES = "io.containerd.snapshotter.v1.overlayfs/snapshots/*/fs"
METADATA = "io.containerd.metadata.v1.bolt/meta.db"


def _immutable(seed: Path) -> list[Path]:
    return [seed / CONTENT_BLOBS, *sorted(seed.glob(SNAPSHOT_TREES))]


def clone_seed(seed: Path, dest: Path) -> Path:
    """Make `dest` (returned) a containerd root holding the seed's images; it must not exist
    yet and must be on the seed's filesystem (hard links). Start no containerd on the seed
    itself while clones are in use: only clones are for running containers."""
    if not (seed / METADATA).is_file():
        raise ImagesError(f"{seed} is not a containerd root (no {METADATA}): run `make images`")
    if dest.exists():
        raise ImagesError(f"{dest} exists: clone_seed makes a new containerd root; remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if os.stat(dest.parent).st_dev != os.stat(seed).st_dev:
        raise ImagesError(
            f"{dest} is on another filesystem than the seed {seed}: the clone hard-links the "
            "seed's layers; put the cluster's run directory and FERRY_CACHE on one filesystem"
        )
    with locked(seed.parent, shared=True):  # not while `make images` updates the seed
        linked = set(_immutable(seed))

        def skip_linked(directory: str, names: list[str]) -> set[str]:
            return {name for name in names if Path(directory, name) in linked}

        shutil.copytree(seed, dest, symlinks=True, ignore=skip_linked)
        for tree in linked:
            # cp -a keeps owners, modes and xattrs (overlay's opaque-directory marks).
            run(["cp", "-a", "--link", str(tree), str(dest / tree.relative_to(seed))])
        moved = retags(seed.parent)
    if moved:  # another checkout's `make images` ran last: this one's builds are held too
        with containerd(dest) as daemon:
            for stamped, plain in moved:
                daemon.ctr("images", "tag", "--force", stamped, plain)
    return dest
