"""The seed: a containerd root, kept in the cache, with every image imported into the k8s.io
namespace; clusters start from clones of it (clone.py) instead of importing gigabytes each.

Which build (by stamp) of each image the seed holds is recorded beside it, so only changed
images are imported again, and of those only the blobs containerd does not hold yet: after
a change of Ferry's code, the code layer.
"""

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import CachedImage, cluster_images
from .commands import ImagesError
from .containerd import Containerd, containerd
from .layout import referenced_blobs
from .lock import locked
from .progress import step

SEED = "containerd-seed"
RECORD = "containerd-seed.json"  # which build each plain tag points at
HELD = "containerd-seed-held.json"  # which builds the stamped tags hold
# A first import here: containerd writes each blob into its content store, then unpacks it
# into an overlay snapshot (docs/images.md).
IMPORT_MIB_PER_SECOND = 60
GC_TRIGGER = "localhost/ferry/seed-gc:removed"


# Builds of each image the seed keeps, each under a tag naming its stamp, so that clusters
# of different checkouts of one machine (git worktrees) each run their own build: a clone
# points the plain tag at its checkout's build (clone.py) instead of the seed going stale.
KEEP_BUILDS = 4


@dataclass
class Record:
    current: dict[str, str]  # ref -> the stamp its plain tag points at
    held: dict[str, list[str]]  # ref -> the stamps held under stamped tags, newest first

    def holds(self, image: CachedImage) -> bool:
        return image.stamp in self.held.get(image.ref, [])


def stamped_ref(ref: str, stamp: str) -> str:
    return f"{ref}-{stamp[:16]}"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else {}


def recorded(cache: Path) -> Record:
    # Two files, so that a checkout from before stamped tags still reads the plain ones.
    return Record(_read(cache / RECORD), _read(cache / HELD))


def _record(cache: Path, record: Record) -> None:
    for name, value in ((RECORD, record.current), (HELD, record.held)):
        partial = cache / f"{name}.partial"
        partial.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
        partial.replace(cache / name)


def _import(daemon: Containerd, image: CachedImage, first: bool) -> None:
    """Import the image's layout, with only the blobs containerd lacks: `ctr images import`
    writes every blob of its input through its ingest before it finds a blob is there
    already (25-45 s for the serving image's 3.7 GB layer when only the code changed)."""
    held = set(daemon.ctr("content", "ls", "--quiet").split())
    blobs = [
        str(path) for path in referenced_blobs(image.path) if f"sha256:{path.name}" not in held
    ]
    size = sum((image.path / blob).stat().st_size for blob in blobs) / 2**20
    minutes = round(size / IMPORT_MIB_PER_SECOND / 60)
    usually = f"about {minutes} min the first time" if first and minutes else None
    what = f"importing {image.ref} into the containerd seed: {size:,.0f} MiB of new blobs"
    with step(what, usually):
        daemon.import_members(image.path, ["oci-layout", "index.json", *blobs])


def _collect_garbage(daemon: Containerd, some_image: str) -> None:
    """Drop the layers of replaced images now, not at the seed's next start, so that clones
    do not carry them. ctr has no gc command; removing an image with --sync runs containerd's
    collector and waits for it."""
    daemon.ctr("images", "tag", "--force", some_image, GC_TRIGGER)
    daemon.ctr("images", "rm", "--sync", GC_TRIGGER)


def update_seed(cache: Path, images: Sequence[CachedImage]) -> Path:
    """Import the images whose stamp the seed does not hold yet; drop images no longer built.

    containerd 1.6 can leave a seed whose snapshot records disagree (an unpack then fails:
    "parent snapshot ... does not exist"); the seed is then made again from nothing, once.
    """
    try:
        return _update_seed(cache, images)
    except ImagesError as error:
        print(f"containerd seed: import failed ({error}); making the seed again", flush=True)
        shutil.rmtree(cache / SEED)
        (cache / RECORD).unlink(missing_ok=True)
        (cache / HELD).unlink(missing_ok=True)
        return _update_seed(cache, images)


def _update_seed(cache: Path, images: Sequence[CachedImage]) -> Path:
    root = cache / SEED
    record = recorded(cache) if root.is_dir() else Record({}, {})
    stale = [image for image in images if not record.holds(image)]
    moved = [i for i in images if i in stale or record.current.get(i.ref) != i.stamp]
    gone = sorted(set(record.current) - {image.ref for image in images})
    if not moved and not gone:
        print(f"containerd seed: up to date ({root})", flush=True)
        return root
    root.mkdir(parents=True, exist_ok=True)
    with containerd(root) as daemon:
        for ref in gone:
            for stamp in record.held.pop(ref, []):
                daemon.ctr("images", "rm", stamped_ref(ref, stamp))
            daemon.ctr("images", "rm", ref)
            del record.current[ref]
            _record(cache, record)
        for image in moved:
            held = record.held.setdefault(image.ref, [])
            stamped = stamped_ref(image.ref, image.stamp)
            if image in stale:
                first = image.ref not in record.current
                record.current.pop(image.ref, None)
                _record(cache, record)  # a failed import leaves the image marked stale
                _import(daemon, image, first)
                daemon.ctr("images", "tag", "--force", image.ref, stamped)
            else:
                daemon.ctr("images", "tag", "--force", stamped, image.ref)
                held.remove(image.stamp)
            held.insert(0, image.stamp)
            for old in held[KEEP_BUILDS:]:
                daemon.ctr("images", "rm", stamped_ref(image.ref, old))
            del held[KEEP_BUILDS:]
            record.current[image.ref] = image.stamp
            _record(cache, record)
        _collect_garbage(daemon, images[0].ref)
    return root


def seed_root(cache: Path) -> Path:
    """The seed containerd root holding the current images, for clone_seed().

    Raises ImagesError naming `make images` when the seed is missing or holds no build of
    the images' present inputs (the Dockerfiles, Ferry's code, the build recipes).
    """
    root = cache / SEED
    with locked(cache, shared=True):  # a running `make images` finishes first
        if not root.is_dir():
            raise ImagesError(f"no containerd seed at {root}: run `make images` first")
        record = recorded(cache)
    stale = [image.ref for image in cluster_images(cache) if not record.holds(image)]
    if stale:
        raise ImagesError(
            f"the containerd seed {root} is stale for {', '.join(stale)} "
            "(their inputs changed since it was imported): run `make images`"
        )
    return root


def retags(cache: Path) -> list[tuple[str, str]]:
    """(stamped tag, plain tag) of each image whose plain tag in the seed names another
    checkout's build than this one's: a clone retags them (clone.py)."""
    record = recorded(cache)
    return [
        (stamped_ref(image.ref, image.stamp), image.ref)
        for image in cluster_images(cache)
        if record.current.get(image.ref) != image.stamp
    ]
