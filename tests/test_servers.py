"""The real servers the transport tests start (tests/servers.py): a port found free can be
taken before the server binds it, by a test worker beside this one; the server then starts
on another."""
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
