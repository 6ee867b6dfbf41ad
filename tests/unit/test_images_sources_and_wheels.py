"""The base image's apt sources follow the machine's mirror; the wheel cache drops old pins."""

import pytest

from e2e.images.base import image_sources
from e2e.images.commands import ImagesError
from e2e.images.wheels import stale_wheels

pytestmark = pytest.mark.unit

HOST_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def test_mirror_and_security_come_from_the_host() -> None:
    mirror, sources = image_sources(HOST_SOURCES)
    assert mirror == "http://mirror.example/debian"
    stanzas = sources.strip().split("\n\n")
    assert "URIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates" in stanzas[0]
    assert (
        "URIs: http://security.example/debian-security\nSuites: bookworm-security" in (stanzas[1])
    )


def test_a_host_without_security_sources_gets_the_mirror_only() -> None:
    _, sources = image_sources(HOST_SOURCES.split("\n\n", maxsplit=1)[0])
    assert "security" not in sources


def test_no_mirror_is_an_error_that_says_so() -> None:
    with pytest.raises(ImagesError, match="mirror"):
        image_sources("# nothing configured\n")


def test_wheels_of_other_versions_than_the_pins_are_stale() -> None:
    constraints = "torch==2.15.0\nPyYAML==6.0.3\nnvidia-cublas==13.4.1.3\n"
    files = [
        "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        "pyyaml-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
        "pyyaml-6.0.3-cp311-cp311-manylinux_2_17_x86_64.whl",
        "nvidia_cublas-13.4.1.3-py3-none-manylinux_2_27_x86_64.whl",
        "hatchling-1.27.0-py3-none-any.whl",  # the build backend: not pinned, kept
        "README.txt",
    ]
    assert stale_wheels(files, constraints) == [
        "pyyaml-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
        "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    ]
