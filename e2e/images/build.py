"""`make images`: build the images whose inputs changed, keep one copy of each in the cache,
import them into the containerd seed, and prune what no current image needs."""

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

from . import base, pause, wheels
from .buildah import Buildah
from .catalog import OPERATOR, REPO, SERVING, CachedImage, cached_base, cluster_images
from .commands import require
from .lock import locked
from .progress import step
from .seed import update_seed


def _size(path: Path) -> str:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return f"{sum(file.stat().st_size for file in files) / 2**20:,.0f} MiB"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _ensure(image: CachedImage, usually: str | None, build: Callable[[Path], None]) -> None:
    """Build `image` unless the cache holds it for these inputs; never leave half of one."""
    if image.path.exists():
        print(f"{image.ref}: up to date ({image.path.name}, {_size(image.path)})")
        return
    image.path.parent.mkdir(parents=True, exist_ok=True)
    partial = image.path.with_name(f"{image.path.name}.partial")
    _remove(partial)
    with step(f"building {image.ref}", usually):
        build(partial)
    partial.rename(image.path)
    print(f"  {image.path.name}: {_size(image.path)}", flush=True)


def _previous(image: CachedImage) -> Path | None:
    """The newest layout of an earlier build of the image, whose blobs the new one reuses."""
    earlier = [
        p for p in image.path.parent.glob(f"{image.key}-*") if p.is_dir() and p.suffix != ".partial"
    ]
    return max(earlier, key=lambda p: p.stat().st_mtime, default=None)


def _prune(directory: Path, keep: list[CachedImage]) -> None:
    """Images of earlier inputs, and leftovers of interrupted builds, go."""
    wanted = {image.path for image in keep} | {directory / "logs"}
    for path in directory.iterdir():
        if path not in wanted:
            _remove(path)


def build_images(cache: Path) -> list[CachedImage]:
    """Build what is stale, update the seed; return the images clusters run."""
    require("buildah", "skopeo", "debootstrap", "gcc", "containerd", "ctr", "tar", "cp")
    with locked(cache, shared=False):
        return _build(cache)


def _build(cache: Path) -> list[CachedImage]:
    buildah = Buildah(cache / "buildah")
    images = cache / "images"
    logs = images / "logs"
    # Scratch space outside images/, which _prune empties: an interrupted debootstrap
    # leaves mounts in its rootfs that only base.build knows to undo.
    work = cache / "work"
    base_image = cached_base(cache)
    _ensure(
        base_image,
        "about 1 minute",
        lambda path: base.build(buildah, path, work / "base", logs / "base.log"),
    )
    wanted = {image.key: image for image in cluster_images(cache)}
    previous = _previous(wanted["pause"])
    build_pause = functools.partial(pause.build, buildah, work / "pause", previous=previous)
    _ensure(wanted["pause"], None, build_pause)
    for recipe in (OPERATOR, SERVING):
        image = wanted[recipe.key]
        base_ref = (base_image.path, base_image.ref)
        log = logs / f"{recipe.key}.log"
        build = functools.partial(
            recipe.build, buildah, REPO, base_ref, log, previous=_previous(image)
        )
        _ensure(image, recipe.usually, build)
    _prune(images, [base_image, *wanted.values()])
    wheels.prune(buildah.cache_mounts, REPO / "constraints.txt")
    buildah.prune()
    update_seed(cache, list(wanted.values()))
    return list(wanted.values())
