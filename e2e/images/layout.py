"""OCI image layouts (a directory per image: oci-layout, index.json, blobs/sha256/...).

The images are kept as layouts rather than oci-archive tars because a layout can reuse the
blobs of the image's previous build: after a change of Ferry's code only the small code
layer is written again, where a tar would be rewritten whole (4 GB for the serving image).
"""

import json
from pathlib import Path

BLOBS = Path("blobs/sha256")


def blob(digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or not hex_digest:
        raise ValueError(f"unsupported digest {digest!r}")
    return BLOBS / hex_digest


def referenced_blobs(layout: Path) -> list[Path]:
    """Every blob the layout's images need, relative to it: manifests, configs, layers."""
    index = json.loads((layout / "index.json").read_text())
    needed: dict[Path, None] = {}
    for descriptor in index["manifests"]:
        needed[blob(descriptor["digest"])] = None
        manifest = json.loads((layout / blob(descriptor["digest"])).read_text())
        needed[blob(manifest["config"]["digest"])] = None
        needed.update((blob(layer["digest"]), None) for layer in manifest["layers"])
    return list(needed)


def prune_unreferenced(layout: Path) -> None:
    """Drop the blobs no image of the layout needs (those linked in from a previous build)."""
    needed = {layout / path for path in referenced_blobs(layout)}
    for path in (layout / BLOBS).iterdir():
        if path not in needed:
            path.unlink()
