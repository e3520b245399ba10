"""The real servers the transport tests start (tests/servers.py): a port found free can be
taken before the server binds it, by a test worker beside this one; the server then starts
on another (a cluster node's route port too), and a test that restarts a server on the port
it had is skipped, saying so, when that port was taken in between."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import servers


@pytest.mark.parametrize("start", [servers.start_redis, servers.start_nats])
def test_a_server_whose_free_port_was_taken_meanwhile_starts_on_another(tmp_path, monkeypatch,
                                                                       start):
    probe_free_port = servers.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()  # takes connections and never answers: not the server's answer
        taken_port = taken.getsockname()[1]

        def first_the_taken_one() -> Iterator[int]:
            yield taken_port
            while True:
                yield probe_free_port()

        ports = first_the_taken_one()
        monkeypatch.setattr(servers, "free_port", lambda: next(ports))
        server = start(tmp_path)
        try:
            assert server.port != taken_port and server.process.poll() is None
            assert server.url.endswith(f":{server.port}")
        finally:
            server.stop()


def test_a_server_on_a_port_given_and_taken_is_reported_as_exited(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(servers.ServerExited, match="exited"):
            servers.start_redis(tmp_path, port=taken.getsockname()[1])


@pytest.mark.parametrize("start", [servers.start_redis, servers.start_nats])
def test_a_restart_on_a_port_taken_meanwhile_is_skipped_saying_so(tmp_path, start):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(pytest.skip.Exception, match=f"port {port} was taken by another"):
            servers.restarted_on(port, lambda: start(tmp_path, port=port))


def test_a_restart_failing_otherwise_fails_the_test(tmp_path):
    def refused() -> servers.Server:
        raise servers.ServerExited("server on port 1 exited (1): bad configuration")

    with pytest.raises(servers.ServerExited, match="bad configuration"):
        servers.restarted_on(1, refused)


def test_a_cluster_node_whose_route_port_was_taken_meanwhile_takes_another(tmp_path, monkeypatch):
    probe_free_port = servers.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]

        def route_port_taken_first() -> Iterator[int]:
            yield probe_free_port()  # the client port
            yield taken_port  # the route port
            while True:
                yield probe_free_port()

        ports = route_port_taken_first()
        monkeypatch.setattr(servers, "free_port", lambda: next(ports))
        node = servers.start_nats(tmp_path, "n0", routes=[])
        try:
            assert node.cluster_port not in (None, taken_port) and node.process.poll() is None
        finally:
            node.stop()
