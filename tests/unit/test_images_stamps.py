"""The stamps of `make images` follow exactly what a Dockerfile copies, as the builder does."""

from pathlib import Path

import pytest

from e2e.images.catalog import OPERATOR, REPO, SERVING
from e2e.images.commands import ImagesError
from e2e.images.stamps import copy_sources, dockerignore_patterns, ignored, tree_digest

pytestmark = pytest.mark.unit

DOCKERFILE = """\
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS build
COPY pyproject.toml constraints.txt ./
RUN pip install \\
 # a comment inside a continued RUN
 && true
COPY --chown=1000 operator ./operator
COPY --from=build /opt/venv /opt/venv
COPY model-handlers/ferry_handler.py ./model-handlers/
"""


def test_copy_sources_are_the_context_paths_only() -> None:
    assert copy_sources(DOCKERFILE) == [
        "pyproject.toml",
        "constraints.txt",
        "operator",
        "model-handlers/ferry_handler.py",
    ]


@pytest.mark.parametrize(
    "instruction",
    [
        "ADD operator /operator",
        'COPY ["operator", "/operator"]',
        "COPY operator/*.py /operator/",
        "RUN --mount=type=bind,source=operator,target=/o true",
    ],
)
def test_inputs_the_stamps_cannot_follow_are_refused(instruction: str) -> None:
    with pytest.raises(ImagesError):
        copy_sources(f"FROM scratch\n{instruction}\n")


def test_dockerignore_segments_and_any_depth() -> None:
    patterns = dockerignore_patterns("# comment\n.venv\n**/__pycache__\n*.tmp\n\ndocs/\n")
    assert patterns == (".venv", "**/__pycache__", "*.tmp", "docs")
    assert ignored(".venv/bin/python", patterns)
    assert ignored("operator/ferry/__pycache__/x.pyc", patterns)
    assert ignored("__pycache__/x.pyc", patterns)
    assert ignored("a.tmp", patterns)
    assert not ignored("operator/a.tmp", patterns)  # `*` stays within one segment
    assert not ignored("operator/ferry/handlers.py", patterns)
    assert not ignored("docsite/index.md", patterns)


def test_dockerignore_exceptions_are_refused() -> None:
    with pytest.raises(ImagesError):
        dockerignore_patterns("docs\n!docs/images.md\n")


def test_tree_digest_sees_content_and_mode_but_not_ignored_files(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    module = tmp_path / "pkg" / "mod.py"
    module.write_text("x = 1\n")
    patterns = ("**/__pycache__",)
    first = tree_digest(tmp_path, ["pkg"], patterns)
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "mod.pyc").write_bytes(b"\0")
    assert tree_digest(tmp_path, ["pkg"], patterns) == first
    module.chmod(0o755)
    assert tree_digest(tmp_path, ["pkg"], patterns) != first
    module.chmod(0o644)
    module.write_text("x = 2\n")
    assert tree_digest(tmp_path, ["pkg"], patterns) != first


def test_a_missing_copy_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImagesError, match=r"gone\.txt"):
        tree_digest(tmp_path, ["gone.txt"], ())


def test_a_code_change_restamps_both_images_and_a_test_change_neither(tmp_path: Path) -> None:
    """The project's own Dockerfiles, on a copy of the inputs they copy."""
    for relpath in ("Dockerfile", "model-handlers/Dockerfile", ".dockerignore", "README.md"):
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_bytes((REPO / relpath).read_bytes())
    for relpath in ("pyproject.toml", "constraints.txt", "model-handlers/ferry_handler.py"):
        (tmp_path / relpath).write_bytes((REPO / relpath).read_bytes())
    code = tmp_path / "operator" / "ferry" / "handlers.py"
    code.parent.mkdir(parents=True)
    code.write_text("# one line\n")
    (tmp_path / "tests").mkdir()
    before = {image.key: image.stamp(tmp_path, "base") for image in (OPERATOR, SERVING)}
    (tmp_path / "tests" / "test_new.py").write_text("")
    assert {image.key: image.stamp(tmp_path, "base") for image in (OPERATOR, SERVING)} == before
    code.write_text("# one line changed\n")
    after = {image.key: image.stamp(tmp_path, "base") for image in (OPERATOR, SERVING)}
    assert all(after[key] != before[key] for key in before)
    assert SERVING.stamp(tmp_path, "another base") != after["serving"]
