"""Images a Dockerfile of the project describes, built by `buildah bud` on the local base.

The Dockerfile is the one `docker build` uses elsewhere; only build arguments differ here.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .buildah import Buildah, oci_archive
from .stamps import copy_sources, digest, dockerignore_patterns, sources_digest, tree_digest

# The host's CA bundle, for pip in RUN steps through PIP_CERT: on a machine whose egress
# re-signs TLS it holds that CA, elsewhere it is the ordinary system bundle. Mounted at a path
# of its own: mounted over the image's bundle, apt's ca-certificates hooks could not rewrite it.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_BUNDLE = "/run/ferry-build/ca-certificates.crt"


@dataclass(frozen=True)
class DockerfileImage:
    key: str
    ref: str
    dockerfile: str  # relative to the repository root, which is the build context
    build_args: Mapping[str, str]
    usually: str  # what a build usually takes, for the progress line

    def stamp(self, repo: Path, base_stamp: str) -> str:
        """Digest of the Dockerfile, the files its COPY instructions read (as .dockerignore
        filters them), the build arguments, the base image and this recipe."""
        text = (repo / self.dockerfile).read_text()
        ignore = repo / ".dockerignore"
        ignore_text = ignore.read_text() if ignore.exists() else ""
        files = tree_digest(repo, copy_sources(text), dockerignore_patterns(ignore_text))
        args = [f"{key}={value}" for key, value in sorted(self.build_args.items())]
        recipe = sources_digest(Path(__file__), Path(__file__).with_name("buildah.py"))
        return digest(text, ignore_text, files, *args, base_stamp, recipe)

    def build(
        self,
        buildah: Buildah,
        repo: Path,
        base: tuple[Path, str],
        log: Path,
        layout: Path,
        previous: Path | None,
    ) -> None:
        """Build on `base` (its archive and reference) into buildah's storage, then write
        the image as an OCI layout (see Buildah.export)."""
        args = {"BASE": oci_archive(*base), **self.build_args}
        volumes = []
        if HOST_CA_BUNDLE.exists():
            volumes.append(f"{HOST_CA_BUNDLE}:{BUILD_CA_BUNDLE}:ro")
            args["PIP_CERT"] = BUILD_CA_BUNDLE
        buildah.bud(
            log,
            dockerfile=repo / self.dockerfile,
            context=repo,
            ref=self.ref,
            build_args=args,
            volumes=volumes,
        )
        buildah.export(self.ref, layout, previous)
