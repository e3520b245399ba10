"""A relay's TCP side: the listener, the TLS contexts, and the non-blocking TLS link of one
connection under the relay's epoll loop.

A TCP peer has no uid the relay could check, as it does through its Unix socket's mode: TCP
trusts the network it listens on. That is why the listener binds loopback unless told
otherwise, and why TLS with client certificates (``server_context(..., cafile=...)``, which
requires them) is the way to admit only known peers from elsewhere.
"""
from __future__ import annotations

import os
import socket
import ssl
from typing import Any, Union

from ..wire.errors import ConfigError, FieldValueError, RelayError, RelayTimeoutError

LOOPBACK = "127.0.0.1"
# plain bytes taken from a consumer's queue per TLS write: four full TLS records
TLS_WRITE_BYTES = 64 << 10

Address = tuple[str, int]
Socket = Union[socket.socket, ssl.SSLSocket]


def parse_address(text: str, option: str = "--tcp") -> Address:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` or ``PORT`` (loopback) as (host, port)."""
    host, _, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise FieldValueError(f"{option}: {text!r} is not HOST:PORT with a port of 0-65535",
                              field=option)
    return (host or LOOPBACK, int(port_text))


def check_address(address: Any, field: str = "address") -> Address:
    """``address`` as a (host, port) pair, or a clear error naming ``field``."""
    if (not isinstance(address, tuple) or len(address) != 2 or not isinstance(address[0], str)
            or isinstance(address[1], bool) or not isinstance(address[1], int)
            or not 0 <= address[1] <= 65535):
        raise FieldValueError(f"{field}: expected a (host, port) pair with a port of 0-65535,"
                              f" got {address!r}", field=field)
    return (address[0] or LOOPBACK, address[1])


def describe(address: Address, tls: ssl.SSLContext | None) -> str:
    host, port = address
    return f"{'tls' if tls else 'tcp'}://{f'[{host}]' if ':' in host else host}:{port}"


def _readable_file(path: str | os.PathLike[str] | None, option: str) -> str | None:
    if path is None:
        return None
    if not os.path.isfile(path):
        raise ConfigError(f"{option}: {os.fspath(path)!r} is not a readable file")
    return os.fspath(path)


def server_context(certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None,
                   cafile: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """The TLS context of a relay's listener: its certificate and key; with ``cafile``, every
    client must show a certificate signed by one of its authorities."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(_readable_file(certfile, "certfile") or "",
                                _readable_file(keyfile, "keyfile"))
    except ssl.SSLError as error:
        raise ConfigError(f"certfile/keyfile: not a certificate and its key: {error}") from None
    if cafile is not None:
        _load_authorities(context, cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(cafile: str | os.PathLike[str] | None = None,
                   certfile: str | os.PathLike[str] | None = None,
                   keyfile: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """The TLS context of a client: the relay's certificate is checked against ``cafile``
    (the system's authorities when None) and its host name; ``certfile`` is the client's
    own certificate for a relay that requires one."""
    context = ssl.create_default_context()
    if cafile is not None:
        _load_authorities(context, cafile)
    if certfile is not None:
        try:
            context.load_cert_chain(_readable_file(certfile, "certfile") or "",
                                    _readable_file(keyfile, "keyfile"))
        except ssl.SSLError as error:
            raise ConfigError(f"certfile/keyfile: not a certificate and its key: {error}") from None
    return context


def _load_authorities(context: ssl.SSLContext, cafile: str | os.PathLike[str]) -> None:
    try:
        context.load_verify_locations(cafile=_readable_file(cafile, "cafile"))
    except ssl.SSLError as error:
        raise ConfigError(f"cafile: no certificate authority in {os.fspath(cafile)!r}:"
                          f" {error}") from None


def listen(address: Address, receive_buffer: int | None = None) -> socket.socket:
    """A non-blocking listening socket on ``address`` (port 0: a free one). With
    ``receive_buffer``, the connections it accepts keep the kernel's receive buffer at that
    size instead of letting it grow (set before listening, so the window agrees)."""
    host, port = address
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        raise RelayError(f"tcp {host}:{port}: cannot listen: {error.strerror or error}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if receive_buffer is not None:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        listener.bind((host, port))
        listener.listen(1024)
    except OSError as error:
        listener.close()
        raise RelayError(f"tcp {host}:{port}: cannot listen: {error.strerror or error}") from None
    listener.setblocking(False)
    return listener


def bound_address(listener: socket.socket) -> Address:
    host, port = listener.getsockname()[:2]
    return (host, port)


def accepted(sock: socket.socket, tls: ssl.SSLContext | None) -> tuple[socket.socket, TlsLink | None]:
    """An accepted TCP connection made ready for the loop: no Nagle delay on small answers,
    and with ``tls`` wrapped for a handshake driven by the loop."""
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is None:
        return sock, None
    wrapped = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    return wrapped, TlsLink(wrapped)


def dial(address: Address, tls: ssl.SSLContext | None, timeout: float) -> Socket:
    """A client's connection to a relay's TCP listener, handshaken when ``tls``."""
    where = describe(address, tls)
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except socket.timeout:
        raise RelayTimeoutError(f"{where}: no relay answered within {timeout:g} s") from None
    except OSError as error:
        raise RelayError(f"{where}: no relay listens there ({error.strerror or error})") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=address[0])
    except socket.timeout:
        sock.close()
        raise RelayTimeoutError(f"{where}: no TLS handshake within {timeout:g} s") from None
    except ssl.SSLCertVerificationError as error:
        sock.close()
        raise RelayError(f"{where}: the relay's certificate is not trusted:"
                         f" {error.verify_message}") from None
    except (ssl.SSLError, OSError) as error:
        sock.close()
        raise RelayError(f"{where}: the TLS handshake failed: {error}") from None


def recv_nowait(sock: Socket, size: int) -> bytes | None:
    """What the connection holds now, up to ``size`` bytes; None when nothing, b"" at its end."""
    if isinstance(sock, ssl.SSLSocket):
        return _tls_nowait(sock, lambda: sock.recv(size))
    try:
        return sock.recv(size, socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None


def recv_into_nowait(sock: Socket, view: memoryview) -> int | None:
    """Like ``recv_nowait``, into ``view``: the bytes received, None when nothing."""
    if isinstance(sock, ssl.SSLSocket):
        return _tls_nowait(sock, lambda: sock.recv_into(view))
    try:
        return sock.recv_into(view, 0, socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None


def _tls_nowait(sock: ssl.SSLSocket, read: Any) -> Any:
    # an SSLSocket takes no MSG_DONTWAIT: the socket is made non-blocking for the one read
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return read()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return None
    finally:
        sock.settimeout(timeout)


def buffered(sock: Socket) -> bool:
    """Whether TLS holds decrypted bytes the descriptor's readiness does not show."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def half_close(sock: Socket) -> None:
    """End what the client sends and keep reading the answers: ``SSLSocket.shutdown`` would
    drop the TLS state, so a TLS connection ends its TCP half beneath it."""
    socket.socket.shutdown(sock, socket.SHUT_WR)


class TlsLink:
    """The TLS layer of one relay connection on a non-blocking socket: the handshake in
    steps, reads that may want the socket writable, and writes that must be offered again,
    the same bytes, until TLS takes them."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.handshaken = False
        self.wants_write = False  # the last handshake step or read waits for room to write
        self.outgoing = b""       # taken from the queue, not yet taken by TLS

    def handshake(self) -> bool:
        """One step of the handshake: True once it is done. Raises ssl.SSLError or OSError
        when the peer fails it (a client without the right certificate, not TLS at all)."""
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.wants_write = False
            return False
        except ssl.SSLWantWriteError:
            self.wants_write = True
            return False
        self.handshaken = True
        self.wants_write = False
        return True

    def receive_into(self, view: memoryview) -> int | None:
        """Decrypted bytes into ``view``: how many, 0 at the end of the stream, None when no
        whole record is there yet."""
        try:
            return self.sock.recv_into(view)
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLWantWriteError:
            self.wants_write = True
            return None
        except ssl.SSLZeroReturnError:
            return 0

    def send_from(self, queue: Any) -> int:
        """Write ``queue``'s bytes through TLS until the socket is full; the plain bytes TLS
        took. Raises OSError (ssl.SSLError included) when the connection failed."""
        total = 0
        while True:
            if not self.outgoing:
                self.outgoing = queue.take(TLS_WRITE_BYTES)
                if not self.outgoing:
                    return total
            try:
                written = self.sock.send(self.outgoing)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                return total
            self.outgoing = self.outgoing[written:]
            total += written
