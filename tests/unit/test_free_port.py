"""free_port hands out listener ports that outgoing connections cannot take first."""

import contextlib
import socket

import pytest

from e2e.localcluster.processes import free_port

pytestmark = pytest.mark.unit


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        ephemeral_start = int(ranges.read().split()[0])
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(port < ephemeral_start for port in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_a_port_someone_listens_on_is_never_handed_out() -> None:
    listeners = []
    try:
        for port in range(10000, 11000):
            sock = socket.socket()
            listeners.append(sock)
            with contextlib.suppress(OSError):
                sock.bind(("127.0.0.1", port))
                sock.listen()
        taken = {sock.getsockname()[1] for sock in listeners if sock.getsockname()[1]}
        assert len(taken) > 900
        assert not taken & {free_port() for _ in range(1000)}
    finally:
        for sock in listeners:
            sock.close()
