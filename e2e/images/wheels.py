"""The build's wheel cache (RUN --mount=type=cache,id=ferry-wheels): kept between builds so
that torch and the nvidia wheels download once, pruned of versions constraints.txt no longer
pins so that it does not grow with every upgrade."""

from collections.abc import Iterable
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

CACHE_ID = "ferry-wheels"


def pins(constraints: str) -> dict[NormalizedName, Version]:
    pinned = {}
    for line in constraints.splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pinned[canonicalize_name(name)] = Version(version)
    return pinned


def stale_wheels(filenames: Iterable[str], constraints: str) -> list[str]:
    """Wheels of a pinned project at another version than its pin (unpinned ones, the
    build backend's, are kept: they are few and small). Files that are not wheels stay."""
    pinned = pins(constraints)
    stale = []
    for filename in filenames:
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if name in pinned and version != pinned[name]:
            stale.append(filename)
    return sorted(stale)


def prune(cache_mounts: Path, constraints: Path) -> None:
    directory = cache_mounts / CACHE_ID
    if not directory.is_dir():
        return
    names = [entry.name for entry in directory.iterdir()]
    for filename in stale_wheels(names, constraints.read_text()):
        (directory / filename).unlink()
