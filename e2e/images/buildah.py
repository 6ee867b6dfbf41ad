"""buildah with all of its state under Ferry's cache, never /var/lib/containers.

Storage driver overlay: a layer is a directory diff, so the serving image's 4 GB venv layer
is written once (vfs copies every parent layer into each new one; docs/images.md has the
measurements).
"""

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .commands import run, run_logged
from .layout import BLOBS, prune_unreferenced

DRIVER = "overlay"


class Buildah:
    def __init__(self, home: Path) -> None:
        self.home = home
        # RUN --mount=type=cache directories live under TMPDIR (buildah-cache/<id>), like
        # buildah's temporary files: keep both in the cache, not in /var/tmp.
        self.tmp = home / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    @property
    def cache_mounts(self) -> Path:
        return self.tmp / "buildah-cache"

    def _command(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--root",
            str(self.home / "root"),
            "--runroot",
            str(self.home / "run"),
            "--storage-driver",
            DRIVER,
            *args,
        ]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "TMPDIR": str(self.tmp)}

    def __call__(self, *args: str) -> str:
        return run(self._command(*args), env=self._env()).strip()

    def logged(self, log: Path, *args: str, show: Callable[[str], bool] | None = None) -> None:
        run_logged(self._command(*args), log, show=show or (lambda _: False), env=self._env())

    def commit_scratch(
        self,
        destination: str,
        content: Sequence[tuple[Path, str]],
        config: Sequence[str],
    ) -> None:
        """An image from nothing: `buildah add` each (source, destination) (a tar source is
        unpacked with its owners), then `buildah config` flags, committed to `destination`
        (an image name in the storage, or a transport such as oci-archive:)."""
        container = self("from", "scratch")
        try:
            for source, target in content:
                self("add", container, str(source), target)
            self("config", *config, container)
            self("commit", "--quiet", "--disable-compression", container, destination)
        finally:
            self("rm", container)

    def bud(
        self,
        log: Path,
        *,
        dockerfile: Path,
        context: Path,
        ref: str,
        build_args: Mapping[str, str],
        volumes: Sequence[str] = (),
    ) -> None:
        args = [f"--build-arg={key}={value}" for key, value in build_args.items()]
        args += [f"--volume={volume}" for volume in volumes]
        self.logged(
            log,
            "bud",
            "--layers",  # each step's result is cached: only steps after a change rerun
            "--isolation=chroot",
            "--network=host",
            "--force-rm",
            f"--file={dockerfile}",
            f"--tag={ref}",
            *args,
            str(context),
            show=lambda line: line.startswith("STEP "),
        )

    def export(self, ref: str, layout: Path, previous: Path | None) -> None:
        """Write `ref` from the storage as an OCI layout. The blobs of `previous` (an earlier
        layout of the image) are hard-linked in first, so that only changed layers are
        written; those the image no longer uses are dropped after.

        skopeo, not `buildah push`: buildah 1.28 still gzips the layers it pushes to
        oci-archive: with --disable-compression (a 4 GB layer takes 40 s of both cores here);
        skopeo's --dest-oci-accept-uncompressed-layers keeps them as they are stored.
        """
        layout.mkdir(parents=True)
        if previous is not None:
            run(["cp", "-a", "--link", str(previous / BLOBS.parts[0]), str(layout)])
        storage = f"containers-storage:[{DRIVER}@{self.home / 'root'}+{self.home / 'run'}]"
        run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-oci-accept-uncompressed-layers",
                f"{storage}{ref}",
                f"oci:{layout}:{ref}",
            ],
            env=self._env(),
        )
        prune_unreferenced(layout)

    def prune(self) -> None:
        """Drop what no tagged image needs: the layer cache of replaced builds."""
        self("rmi", "--prune")


def oci_archive(path: Path, ref: str) -> str:
    return f"oci-archive:{path}:{ref}"
