"""An image's OCI layout keeps exactly the blobs its manifests name."""

import hashlib
import json
from pathlib import Path

import pytest

from e2e.images.layout import BLOBS, blob, prune_unreferenced, referenced_blobs

pytestmark = pytest.mark.unit


def _put(layout: Path, data: bytes) -> str:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    (layout / blob(digest)).write_bytes(data)
    return digest


def _layout(tmp_path: Path) -> tuple[Path, list[str]]:
    layout = tmp_path / "serving"
    (layout / BLOBS).mkdir(parents=True)
    config, base, code = (_put(layout, data) for data in (b"{}", b"base layer", b"code layer"))
    manifest = {
        "config": {"digest": config},
        "layers": [{"digest": base}, {"digest": code}],
    }
    manifest_digest = _put(layout, json.dumps(manifest).encode())
    index = {"manifests": [{"digest": manifest_digest}]}
    (layout / "index.json").write_text(json.dumps(index))
    return layout, [manifest_digest, config, base, code]


def test_manifest_config_and_layers_are_referenced(tmp_path: Path) -> None:
    layout, digests = _layout(tmp_path)
    assert referenced_blobs(layout) == [blob(digest) for digest in digests]


def test_blobs_of_a_previous_build_are_pruned_and_the_image_kept(tmp_path: Path) -> None:
    layout, digests = _layout(tmp_path)
    old_code = _put(layout, b"the previous code layer")
    prune_unreferenced(layout)
    assert not (layout / blob(old_code)).exists()
    assert all((layout / blob(digest)).exists() for digest in digests)


def test_only_sha256_digests_are_understood() -> None:
    with pytest.raises(ValueError, match="sha512"):
        blob("sha512:abcd")
