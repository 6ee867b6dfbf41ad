"""Stamps: one digest over everything an image is made from, so stale images are rebuilt.

A Dockerfile's inputs are read from the Dockerfile itself (its COPY sources, filtered by
.dockerignore as the builder filters them), never listed a second time here.
"""

import hashlib
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from .commands import ImagesError


def digest(*parts: str | bytes) -> str:
    """sha256 over the parts, each length-prefixed so that ("ab", "c") != ("a", "bc")."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(f"{len(data)}:".encode())
        hasher.update(data)
    return hasher.hexdigest()


def dockerignore_patterns(text: str) -> tuple[str, ...]:
    patterns = []
    for line in text.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        if pattern.startswith("!"):
            raise ImagesError(
                f".dockerignore: exceptions ({pattern}) are not understood by the image stamps; "
                "list what to leave out instead"
            )
        patterns.append(pattern.strip("/"))
    return tuple(patterns)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's matching: `*` and `?` stay within a path segment, `**` spans segments."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def ignored(relpath: str, patterns: Sequence[str]) -> bool:
    """Whether .dockerignore leaves `relpath` (or a directory above it) out of the context."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    return any(
        _pattern_regex(pattern).fullmatch(prefix) for pattern in patterns for prefix in prefixes
    )


def _instructions(dockerfile: str) -> Iterable[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comment lines dropped."""
    logical = ""
    for line in dockerfile.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and logical):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        if logical:
            keyword, _, arguments = logical.partition(" ")
            yield keyword.upper(), arguments.strip()
        logical = ""


def copy_sources(dockerfile: str) -> list[str]:
    """The build-context paths a Dockerfile's COPY instructions read."""
    sources: list[str] = []
    for keyword, arguments in _instructions(dockerfile):
        if keyword == "ADD":
            raise ImagesError("the image stamps follow COPY only: use COPY instead of ADD")
        if keyword == "RUN" and "type=bind" in arguments:
            raise ImagesError("the image stamps do not follow RUN --mount=type=bind: use COPY")
        if keyword != "COPY":
            continue
        if arguments.startswith("["):
            raise ImagesError(f"COPY {arguments}: the image stamps read the shell form only")
        words = shlex.split(arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue  # from another stage or image, not from the context
        paths = [word for word in words if not word.startswith("--")]
        for source in paths[:-1]:
            if any(char in source for char in "*?["):
                raise ImagesError(f"COPY {source}: the image stamps do not expand wildcards")
            sources.append(source.rstrip("/").removeprefix("./"))
    return sources


def tree_digest(root: Path, paths: Iterable[str], patterns: Sequence[str]) -> str:
    """Digest of every file under `root/path` for each path, as the builder would copy them:
    names, contents and the executable bit."""
    parts: list[str | bytes] = []
    for path in sorted(set(paths)):
        top = root / path
        if not top.exists():
            raise ImagesError(f"{top} is copied by a Dockerfile but does not exist")
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for file in files:
            relpath = file.relative_to(root).as_posix()
            if ignored(relpath, patterns):
                continue
            executable = "x" if file.stat().st_mode & 0o111 else "-"
            parts += [relpath, executable, file.read_bytes()]
    return digest(*parts)


def sources_digest(*files: Path) -> str:
    """Digest of the recipe files themselves (a build module, a C source)."""
    return digest(*(part for file in files for part in (file.name, file.read_bytes())))
