"""The base image: what python:3.11-slim-bookworm is to a Docker build, made here from the
machine's Debian mirror: debootstrap (minbase + python3, venv, CA certificates), slimmed,
committed by buildah."""

import json
import shutil
from pathlib import Path

from .buildah import Buildah, oci_archive
from .commands import ImagesError, run, run_logged
from .stamps import digest, sources_digest

BASE_IMAGE = "localhost/ferry/base:bookworm"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")

# What Debian's own slim images leave out of every package, so that the packages a Dockerfile
# installs later stay slim too (dpkg reads this in the image).
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
# Emptied after debootstrap (their directories stay): apt's indexes and caches and the logs;
# and the host's identity files that debootstrap copied in go (a runtime mounts its own).
EMPTIED = ("var/lib/apt/lists", "var/cache/apt", "var/log")
REMOVED = ("etc/resolv.conf", "etc/hostname")
CONFIG = (
    "--env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--env=LANG=C.UTF-8",
    f"--cmd={json.dumps(['python3'])}",
    "--os=linux",
    "--arch=amd64",
)


def _stanzas(deb822: str) -> list[dict[str, str]]:
    stanzas = []
    for block in deb822.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith(("#", " ")):
                fields[key.strip()] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def _stanza(uri: str, suites: str) -> str:
    return (
        f"Types: deb\nURIs: {uri}\nSuites: {suites}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    )


def image_sources(host_sources: str) -> tuple[str, str]:
    """(mirror, the image's deb822 sources) from the host's: its first URI is the mirror
    (bookworm and bookworm-updates), and its security URI, when it has one, serves
    bookworm-security, as in Debian's images."""
    stanzas = _stanzas(host_sources)
    if not stanzas or "URIs" not in stanzas[0]:
        raise ImagesError(f"no Debian mirror (URIs:) in {HOST_SOURCES}: configure apt first")
    mirror = stanzas[0]["URIs"].split()[0]
    out = [_stanza(mirror, f"{SUITE} {SUITE}-updates")]
    security = [s for s in stanzas if f"{SUITE}-security" in s.get("Suites", "").split()]
    if security:
        out.append(_stanza(security[0]["URIs"].split()[0], f"{SUITE}-security"))
    return mirror, "\n\n".join(out) + "\n"


def _host_sources() -> str:
    try:
        return HOST_SOURCES.read_text()
    except OSError as error:
        raise ImagesError(f"cannot read the Debian mirror from {HOST_SOURCES}: {error}") from error


def stamp() -> str:
    _, sources = image_sources(_host_sources())
    recipe = sources_digest(Path(__file__), Path(__file__).with_name("buildah.py"))
    return digest(SUITE, *PACKAGES, sources, recipe)


def _clear(directory: Path, keep: tuple[str, ...] = ()) -> None:
    """Delete the files below `directory` except those named in `keep`; directories stay."""
    for entry in directory.rglob("*"):
        if not entry.is_dir() and entry.name not in keep:
            entry.unlink()


def slim(rootfs: Path) -> None:
    """Leave out what Debian's slim images leave out. The Python bytecode stays: the pods'
    root is read-only, so without it every Python start recompiles what it imports."""
    (rootfs / "etc/dpkg/dpkg.cfg.d/ferry-slim").write_text(DPKG_EXCLUDES)
    for share in ("doc", "man", "groff", "info", "lintian", "linda", "locale"):
        _clear(rootfs / "usr/share" / share, keep=("copyright", "locale.alias"))
    for directory in EMPTIED:
        _clear(rootfs / directory)
    for file in REMOVED:
        (rootfs / file).unlink(missing_ok=True)


def _unmount_below(path: Path) -> None:
    """An interrupted debootstrap leaves /proc and /sys mounted in the rootfs: unmount them
    before deleting it, or the deletion would walk into the host's."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{path}/")), reverse=True):
        run(["umount", "--lazy", mount])


def build(buildah: Buildah, archive: Path, work: Path, log: Path) -> None:
    mirror, sources = image_sources(_host_sources())
    rootfs = work / "rootfs"
    _unmount_below(rootfs)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    include = ",".join(PACKAGES)
    run_logged(
        ["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(rootfs), mirror],
        log,
        show=lambda line: line.startswith("I: Retrieving Release") or "Base system" in line,
    )
    (rootfs / "etc/apt/sources.list").unlink()
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    slim(rootfs)
    layer = work / "rootfs.tar"
    # A tar (not the directory) so that buildah keeps the files' owners (/etc/shadow's group).
    run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(layer), "."])
    buildah.commit_scratch(oci_archive(archive, BASE_IMAGE), [(layer, "/")], CONFIG)
    shutil.rmtree(work)
