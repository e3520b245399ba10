"""One domain relay: a fan-out hub on a Unix socket, and on TCP when asked, one process per
domain.

Producers write frames; every frame is judged by the C router (magic, size, the domain's
types, checksum and sequence where the policy asks) and copied, as runs of whole frames, into
the queue of each consumer that subscribed to its type and source. Refused frames are answered
to their producer with an Error frame and counted. A selectors (epoll) loop drives non-blocking
sockets; received chunks go into large reused buffers and nothing in Python runs per frame.
A TCP listener, with TLS or not (``tcp.py``), feeds the same loop: its connections say the
same hello and get the same policies, fan-out and statistics.
"""
from __future__ import annotations

import errno
import grp
import json
import os
import selectors
import signal
import socket
import ssl
import stat
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..wire._codec import DEFAULT_MAX_FRAME_SIZE, MESSAGE_CLASSES, decode
from ..wire.enums import GapReason, MessageType, RelayCode, RelayRole
from ..wire.errors import ConfigError, ParseError, RelayError, SchemaError
from ..wire.layouts import HEADER_SIZE, MAGIC, MESSAGES
from ..schemas.schema import Schema
from . import frames
from ._route import ANNOUNCE_CODE, OutQueue, Router, move_to_front, pending_frame_size
from .policy import DOMAINS, DomainPolicy
from .runtime_dir import ensure_runtime_dir, socket_path_length_problem
from .tcp import Address, TlsLink, accepted, bound_address, check_address, describe, listen

CHUNK_BYTES = 256 << 10          # one read from a producer at most
# bytes a consumer's queue may hold whatever its frame count: a shed consumer is cut back to
# half of it, a blocking relay stops reading producers at it
MAX_QUEUE_BYTES = 256 << 20
# answers (Errors) a producer leaves unread before the relay cuts it off
MAX_ANSWER_BYTES = 4 << 20
# the kernel's receive buffer of a TCP connection to a relay that holds producers back: left
# to grow (to tens of MiB), it would let a producer write that much before it waits
BLOCKING_TCP_RECEIVE_BYTES = CHUNK_BYTES
MAX_HELLO_BYTES = MESSAGES[MessageType.RelayHello].frame_size + frames.MAX_NAME_BYTES
HELLO_TIMEOUT = 5.0              # seconds a new connection has to say hello
SHUTDOWN_FLUSH_SECONDS = 5.0     # at most, to hand queued frames to consumers at exit
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE

_REFUSAL_NAMES = {RelayCode.BadMagic: "refused_bad_magic", RelayCode.FrameTooLarge: "refused_too_large",
                  RelayCode.WrongDomain: "refused_wrong_domain", RelayCode.BadChecksum: "refused_checksum",
                  RelayCode.SequenceNotAfter: "refused_sequence"}


def type_codes(domain: str) -> bytes:
    """Per message type, what the domain's relay does with it: 0 route it, ANNOUNCE read the
    schema it announces, else the RelayCode of its refusal."""
    low, high = DOMAINS[domain].start, DOMAINS[domain].stop - 1
    codes = bytearray([RelayCode.WrongDomain]) * 256
    codes[low:high + 1] = bytes(high + 1 - low)
    for control in frames.CONTROL_TYPES:
        codes[control] = RelayCode.ControlFrame
    codes[MessageType.SchemaAnnouncement] = ANNOUNCE_CODE
    return bytes(codes)


def _describe(code: int, message_type: int, domain: str, max_frame_size: int) -> str:
    low, high = DOMAINS[domain].start, DOMAINS[domain].stop - 1
    return {
        RelayCode.BadMagic: "bytes where a frame should start do not begin with the magic"
                            " 0xDEADBEEF: the connection is closed",
        RelayCode.FrameTooLarge: f"the frame is over the relay's maximum of {max_frame_size}"
                                 " bytes: the connection is closed",
        RelayCode.WrongDomain: f"message type {message_type} is not of the {domain} relay"
                               f" (types {low}-{high} and run-time types announced for it)",
        RelayCode.BadChecksum: "the checksum does not match the frame",
        RelayCode.SequenceNotAfter: "the sequence is not after the source's last one"
                                    " (a duplicate, or it went back)",
        RelayCode.ControlFrame: f"message type {message_type} is a relay control frame,"
                                " not data",
    }.get(code, f"refused ({RelayCode(code).name})")


class Connection:
    """One client of the relay and its counters."""

    def __init__(self, sock: socket.socket, connection_id: int, tls: TlsLink | None = None) -> None:
        self.sock = sock
        self.tls = tls
        self.fd = sock.fileno()
        self.id = connection_id
        self.role: int | None = None       # a RelayRole once it said hello
        self.name = ""
        self.pid = 0
        self.source = 0
        self.since = time.time_ns()
        self.opened = time.monotonic()
        self.inbox = bytearray(CHUNK_BYTES)
        self.filled = 0
        self.stream_offset = 0  # of the inbox's first byte in what the producer sent
        self.queue = OutQueue(frames.EVERYTHING, frames.EVERYTHING)
        self.frames_in = 0
        self.bytes_in = 0
        self.gaps = 0
        self.refused: Counter[int] = Counter()
        self.last_progress = time.monotonic()
        self.closing = False   # answered and to be closed once its queue is written
        self.events = 0        # what the selector watches for it

    @property
    def unsent(self) -> int:
        """Bytes queued for the peer, those TLS has not taken yet included."""
        if self.tls is None:
            return self.queue.pending_bytes
        return self.queue.pending_bytes + len(self.tls.outgoing)

    def record(self) -> bytes:
        refused = {name: self.refused[code] for code, name in _REFUSAL_NAMES.items()}
        other = sum(self.refused.values()) - sum(refused.values())
        values: dict[str, Any] = {
            "connection_id": self.id, "role": self.role or 0, "source": self.source,
            "client_pid": self.pid, "connected_since": self.since,
            "frames_in": self.frames_in, "bytes_in": self.bytes_in,
            "frames_out": self.queue.sent_frames, "bytes_out": self.queue.sent_bytes,
            "frames_dropped": self.queue.dropped_frames, "gaps": self.gaps,
            "queue_frames": self.queue.frames, "queue_bytes": self.queue.pending_bytes,
            **{name: min(count, 0xFFFFFFFF) for name, count in refused.items()},
            "refused_other": min(other, 0xFFFFFFFF),
            "name": self.name.encode()[:32],
        }
        return frames.CONNECTION_RECORD.pack(*(values[name] for name in frames.CONNECTION_FIELDS))


class RelayServer:
    """The relay of ``policy``'s domain on its Unix socket; with ``tcp`` a (host, port) pair
    (port 0: a free one, see ``tcp_address`` once bound), on that TCP address too, through TLS
    when ``tls`` (a server SSLContext, ``tcp.server_context``) is given."""

    def __init__(self, policy: DomainPolicy, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
                 log: Any = None, *, tcp: Address | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        if tls is not None and tcp is None:
            raise ConfigError("tls: a TLS context goes with a tcp address to listen on")
        if tls is not None and not isinstance(tls, ssl.SSLContext):
            raise ConfigError(f"tls: expected an ssl.SSLContext, got {type(tls).__name__}")
        self.tcp = None if tcp is None else check_address(tcp, "tcp")
        self.tls = tls
        self.tcp_listener: socket.socket | None = None
        self._tls_backlog: set[Connection] = set()  # TLS holds bytes of theirs not yet read
        self.policy = policy
        self.max_frame_size = max_frame_size
        self.log = log or sys.stderr
        self.router = Router(type_codes(policy.domain), max_frame_size,
                             policy.validate_checksums, policy.require_sequence,
                             policy.require_sequence)
        self.selector = selectors.DefaultSelector()
        self.connections: dict[int, Connection] = {}
        self.consumers: list[Connection] = []
        self.producers_paused = False
        self.stopping = False
        self.started_at = time.time_ns()
        self.next_id = 1
        self.own_sequence = 0
        self.totals: Counter[str] = Counter()
        self.listener: socket.socket | None = None
        self._socket_inode = 0
        self._dirty: set[Connection] = set()
        self.greeting: set[Connection] = set()  # connected, no hello yet
        self._wake_read, self._wake_write = socket.socketpair()
        self._blocking = policy.overflow == "block"  # else consumers are shed

    # ---- start and stop --------------------------------------------------------------

    def bind(self) -> None:
        """Create the runtime dir (0700) and the socket; replace a stale socket of a dead
        relay, refuse to start beside a live one."""
        path = self.policy.path
        problem = socket_path_length_problem(path)
        if problem:  # before the directory is made for a socket that could not be bound in it
            raise RelayError(f"{problem}: choose another with --runtime-dir")
        try:
            ensure_runtime_dir(path.parent, group=self.policy.socket_group)
        except ConfigError as error:
            raise RelayError(f"{error}: choose another with --runtime-dir") from None
        self._remove_stale(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(path))
        except OSError as error:
            listener.close()
            raise RelayError(f"{path}: cannot bind the relay socket: {error.strerror}") from None
        finally:
            os.umask(old_umask)
        os.chmod(path, self.policy.socket_mode)
        if self.policy.socket_group:
            try:
                os.chown(path, -1, grp.getgrnam(self.policy.socket_group).gr_gid)
            except KeyError:
                listener.close()
                path.unlink()
                raise RelayError(f"socket_group: no group {self.policy.socket_group!r}") from None
        self._socket_inode = os.stat(path).st_ino
        listener.listen(1024)
        listener.setblocking(False)
        self.listener = listener
        self.selector.register(listener, _READ, "listener")
        if self.tcp is not None:
            try:
                self.tcp_listener = listen(self.tcp, BLOCKING_TCP_RECEIVE_BYTES
                                           if self.policy.overflow == "block" else None)
            except RelayError:
                self._close_listener()
                raise
            self.tcp = bound_address(self.tcp_listener)
            self.selector.register(self.tcp_listener, _READ, "tcp")
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self.selector.register(self._wake_read, _READ, "wake")

    def _remove_stale(self, path: Path) -> None:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise RelayError(f"{path}: exists and is not a socket; the relay will not replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)  # a dead relay's socket
            return
        except OSError as error:
            raise RelayError(f"{path}: cannot tell whether a relay serves it: {error}") from None
        finally:
            probe.close()
        domain = self.policy.domain
        raise RelayError(f"{path}: {frames.article(domain)} {domain} relay is already running"
                         " there; stop it first or use another --runtime-dir")

    @property
    def tcp_address(self) -> Address | None:
        """The (host, port) the TCP listener is bound to, its port chosen when 0 was asked."""
        return self.tcp if self.tcp_listener is not None else None

    def request_stop(self, *_: Any) -> None:
        self.stopping = True
        try:
            self._wake_write.send(b"\0")
        except OSError:
            pass

    def serve_forever(self) -> None:
        if self.listener is None:
            self.bind()
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        address = self.tcp_address
        tcp = f" and {describe(address, self.tls)}" if address else ""
        self.log.write(f"alphapulse relay {self.policy.domain}: serving {self.policy.path}{tcp}"
                       f" (pid {os.getpid()})\n")
        self.log.flush()
        busy_poll_ns = self.policy.busy_poll_us * 1000
        awake_until = 0
        while not self.stopping:
            if busy_poll_ns and time.monotonic_ns() < awake_until:
                timeout: float | None = 0.0
            else:
                timeout = 0.25 if self.producers_paused or self.greeting else None
            if self._turn(timeout) and busy_poll_ns:
                awake_until = time.monotonic_ns() + busy_poll_ns
            if self.producers_paused:
                self._check_stuck()
            if self.greeting:
                self._check_greeting()
        self._shutdown()

    def _shutdown(self) -> None:
        self._close_listener()
        for conn in list(self.connections.values()):
            if conn.role != RelayRole.Consumer:
                self._disconnect(conn)
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        while any(c.unsent for c in self.consumers) and time.monotonic() < deadline:
            for conn in list(self.consumers):
                if conn.unsent:
                    self._flush(conn)
            waiting = [c for c in self.consumers if c.unsent]
            if waiting:
                self.selector.select(0.05)
        for conn in list(self.connections.values()):
            self._disconnect(conn)
        self.selector.close()
        self._wake_read.close()
        self._wake_write.close()
        self.log.write(f"alphapulse relay {self.policy.domain}: stopped\n")
        self.log.flush()

    def _close_listener(self) -> None:
        if self.tcp_listener is not None:
            self.selector.unregister(self.tcp_listener)
            self.tcp_listener.close()
            self.tcp_listener = None
        if self.listener is None:
            return
        self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        try:  # only our own socket: a relay started after us may have replaced it
            if os.stat(self.policy.path).st_ino == self._socket_inode:
                self.policy.path.unlink()
        except FileNotFoundError:
            pass

    # ---- the loop --------------------------------------------------------------------

    def _turn(self, timeout: float | None) -> bool:
        """One wait of at most ``timeout`` seconds and what it brought handled; whether
        anything came."""
        if self._tls_backlog and any(c.events & _READ for c in self._tls_backlog):
            timeout = 0  # TLS holds their bytes: read them now (not a paused producer's)
        connections = self.connections
        ready = self.selector.select(timeout)
        for key, events in ready:
            conn = key.data
            if conn.__class__ is not Connection:
                self._on_own_socket(conn)
                continue
            if events & _READ and conn.fd in connections:
                self._on_readable(conn)
            if events & _WRITE and conn.fd in connections:
                if conn.tls is not None and conn.tls.wants_write:
                    conn.tls.wants_write = False  # TLS waited for room to read on
                    self._on_readable(conn)
                if conn.fd in connections:
                    self._flush(conn)
        if self._tls_backlog:
            for conn in list(self._tls_backlog):
                if conn.fd in connections and conn.events & _READ:
                    self._tls_backlog.discard(conn)
                    self._on_readable(conn)
        if self._dirty:
            for conn in list(self._dirty):
                if conn.fd in connections:
                    self._flush(conn)
            self._dirty.clear()
        elif not self._blocking:
            return bool(ready)  # no queue grew: nothing to shed
        self._apply_overflow()
        return bool(ready)

    def _on_own_socket(self, which: str) -> None:
        if which == "listener":
            self._accept()
        elif which == "tcp":
            self._accept_tcp()
        else:  # "wake": a signal asked the loop to stop
            try:
                self._wake_read.recv(4096)
            except BlockingIOError:
                pass

    def _accept(self) -> None:
        if self.listener is None:
            return
        for _ in range(64):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of descriptors: the client waits in the backlog
                self.log.write(f"alphapulse relay {self.policy.domain}: accept: {error}\n")
                return
            sock.setblocking(False)
            self._add(Connection(sock, self.next_id))

    def _accept_tcp(self) -> None:
        # a TCP peer has no uid to check: the network, or TLS client certificates, vouch for it
        if self.tcp_listener is None:
            return
        for _ in range(64):
            try:
                sock, _ = self.tcp_listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self.log.write(f"alphapulse relay {self.policy.domain}: accept: {error}\n")
                return
            try:
                sock, link = accepted(sock, self.tls)
            except OSError:
                sock.close()
                continue
            self._add(Connection(sock, self.next_id, link))

    def _add(self, conn: Connection) -> None:
        self.next_id += 1
        self.connections[conn.fd] = conn
        self.greeting.add(conn)
        self._watch(conn)

    def _watch(self, conn: Connection) -> None:
        wanted = 0
        if not conn.closing and not (conn.role == RelayRole.Producer and self.producers_paused):
            wanted |= _READ
        if conn.unsent or (conn.tls is not None and conn.tls.wants_write):
            wanted |= _WRITE
        if wanted == conn.events:
            return
        if conn.events == 0:
            self.selector.register(conn.sock, wanted, conn)
        elif wanted == 0:
            self.selector.unregister(conn.sock)
        else:
            self.selector.modify(conn.sock, wanted, conn)
        conn.events = wanted

    def _on_readable(self, conn: Connection) -> None:
        room = len(conn.inbox) - conn.filled
        if self._blocking and conn.role == RelayRole.Producer:
            # read no more than the emptiest room left under max_queue_size could take
            deepest = max((c.queue.frames for c in self.consumers), default=0)
            room = min(room, max(HEADER_SIZE, (self.policy.max_queue_size - deepest) * HEADER_SIZE))
        if conn.tls is not None:
            received = self._receive_tls(conn, conn.tls, room)
            if received is None:
                return
        else:
            try:
                received = conn.sock.recv_into(memoryview(conn.inbox)[conn.filled:conn.filled + room])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._disconnect(conn)
                return
        if received == 0:
            self._disconnect(conn)
            return
        conn.filled += received
        if conn.role is None:
            self._read_hello(conn)
        if conn.role == RelayRole.Producer and conn.filled:
            self._route(conn)
        elif conn.role == RelayRole.Monitor and conn.filled:
            self._serve_monitor(conn)
        elif conn.role == RelayRole.Consumer and conn.filled:
            self._refuse_and_close(conn, RelayCode.ControlFrame, 0, 0,
                                   "a consumer sends nothing after its hello")

    def _receive_tls(self, conn: Connection, link: TlsLink, room: int) -> int | None:
        """Read what TLS gives, as far as ``room``, after the handshake's next step: the bytes
        received, 0 when the connection ended, None when none came yet (or it failed)."""
        try:
            if not link.handshaken and not link.handshake():
                self._watch(conn)
                return None
            received = 0
            while received < room:
                got = link.receive_into(memoryview(conn.inbox)[conn.filled + received:conn.filled + room])
                if got is None:
                    break
                if got == 0:
                    return received  # the end, met again by the next read when bytes came
                received += got
        except OSError as error:  # ssl.SSLError included: a failed handshake, a broken record
            self._log(f"connection {conn.id}: TLS {'' if link.handshaken else 'handshake '}"
                      f"failed: {error}")
            self._disconnect(conn)
            return None
        if link.sock.pending():
            self._tls_backlog.add(conn)  # epoll will not say so: read it on the next turn
        if link.wants_write:
            self._watch(conn)
        return received if received else None

    # ---- handshake -------------------------------------------------------------------

    def _next_own_sequence(self) -> int:
        self.own_sequence += 1
        return self.own_sequence

    def _read_hello(self, conn: Connection) -> None:
        size = pending_frame_size(conn.inbox, conn.filled)
        if conn.filled >= 4 and int.from_bytes(conn.inbox[:4], "little") != MAGIC:
            self._reject(conn, RelayCode.BadHello, "the first bytes are not a frame: a client"
                         " starts with a RelayHello frame")
            return
        if size == 0:
            return
        if size > MAX_HELLO_BYTES:
            self._reject(conn, RelayCode.BadHello, f"a hello of {size} bytes is too large")
            return
        if conn.filled < size:
            return
        try:
            hello = decode(bytes(conn.inbox[:size]))
        except ParseError as error:
            self._reject(conn, RelayCode.BadHello, f"the hello does not decode: {error}")
            return
        move_to_front(conn.inbox, size, conn.filled)
        conn.filled -= size
        if hello.header.message_type != MessageType.RelayHello:
            self._reject(conn, RelayCode.BadHello, f"the first frame is of type"
                         f" {hello.header.message_type}, a client starts with a RelayHello (105)")
            return
        if hello.protocol_version != frames.PROTOCOL_VERSION:
            self._reject(conn, RelayCode.ProtocolVersion, f"relay protocol version"
                         f" {hello.protocol_version} is not {frames.PROTOCOL_VERSION}")
            return
        if hello.role not in (RelayRole.Producer, RelayRole.Consumer, RelayRole.Monitor):
            self._reject(conn, RelayCode.BadHello, f"role {hello.role} is not 1 (producer),"
                         " 2 (consumer) or 3 (monitor)")
            return
        conn.role = hello.role
        self.greeting.discard(conn)
        conn.name = hello.name
        conn.pid = hello.client_pid
        next_sequence = 0
        if conn.role == RelayRole.Producer:
            conn.source = hello.producer_source
            next_sequence = self.router.next_sequence(conn.source)
        elif conn.role == RelayRole.Consumer:
            conn.queue.set_masks(bytes(hello.type_mask), bytes(hello.source_mask))
            self.consumers.append(conn)
        conn.queue.append_frames(frames.welcome(
            self.policy, status=RelayCode.Accepted, connection_id=conn.id,
            max_frame_size=self.max_frame_size, next_sequence=next_sequence,
            sequence=self._next_own_sequence()))
        if conn.role == RelayRole.Monitor:  # each hello of a monitor asks for statistics
            conn.queue.append_frames(self.stats_frame())
        self._flush(conn)

    def _reject(self, conn: Connection, code: int, reason: str) -> None:
        self.greeting.discard(conn)
        conn.queue.append_frames(frames.welcome(
            self.policy, status=code, connection_id=conn.id, max_frame_size=self.max_frame_size,
            reason=reason, sequence=self._next_own_sequence()))
        conn.closing = True
        conn.filled = 0
        self.totals["disconnects"] += 1
        self._flush(conn)

    # ---- producers -------------------------------------------------------------------

    def _route(self, conn: Connection) -> None:
        self._route_chunk(conn)
        while self.router.announced and conn.filled and not conn.closing:
            self._route_chunk(conn)  # the frames after an announcement, judged once it is

    def _route_chunk(self, conn: Connection) -> None:
        router = self.router
        inbox = conn.inbox
        frames_before, bytes_before = router.accepted_frames, router.accepted_bytes
        count = router.scan(inbox, conn.filled)
        notable = router.notable_frames() if router.notable_count else None
        splits = self._judge_notable(conn, notable) if notable else ()
        conn.frames_in += router.accepted_frames - frames_before
        conn.bytes_in += router.accepted_bytes - bytes_before
        for consumer in self.consumers:
            queue = consumer.queue
            start = 0
            for index, notice, source in splits:
                router.fan_out(inbox, queue, start, index)
                if queue.wants_source(source):
                    queue.append_frames(notice)
                    consumer.gaps += 1
                    self.totals["gaps"] += 1
                start = index
            router.fan_out(inbox, queue, start, count)
            if queue.pending_bytes:
                self._dirty.add(consumer)
        if router.fatal:
            conn.closing = True
            self.totals["disconnects"] += 1
            conn.filled = 0
            self._watch(conn)
            return
        consumed = router.consumed
        if 0 < consumed < conn.filled:
            move_to_front(inbox, consumed, conn.filled)
        conn.filled -= consumed
        conn.stream_offset += consumed
        if conn.filled:
            waiting = pending_frame_size(inbox, conn.filled)
            if waiting > len(inbox):  # a frame larger than the buffer: room for it whole
                inbox.extend(bytes(waiting - len(inbox)))
            elif len(inbox) > CHUNK_BYTES and conn.filled <= CHUNK_BYTES // 2 and waiting <= CHUNK_BYTES // 2:
                del inbox[CHUNK_BYTES:]
        elif len(inbox) > CHUNK_BYTES:
            del inbox[CHUNK_BYTES:]
        if notable and conn.queue.pending_bytes > MAX_ANSWER_BYTES:  # answers only grow here
            self._log(f"connection {conn.id} ({conn.name or 'unnamed'}) does not read the"
                      " relay's answers: disconnected")
            self.totals["disconnects"] += 1
            self._disconnect(conn)

    def _judge_notable(self, conn: Connection, notable: list[tuple[int, ...]]
                       ) -> list[tuple[int, bytes, int]]:
        """Answer the refused frames of the last scan, settle its announcements, and return
        where a GapNotice goes before a frame whose sequence jumped: (frame index, notice,
        source)."""
        router = self.router
        splits: list[tuple[int, bytes, int]] = []
        for index, offset, size, message_type, source, code, sequence, gap_first in notable:
            if code == ANNOUNCE_CODE:
                code = self._judge_announcement(conn.inbox, offset, size)
                router.set_code(index, code)
                if code == 0:
                    continue
            if code:
                conn.refused[code] += 1
                self.totals["frames_refused"] += 1
                conn.queue.append_frames(frames.error(
                    self.policy.domain, code=code, related_type=message_type,
                    related_sequence=sequence, sequence=self._next_own_sequence(),
                    text=f"frame at byte {conn.stream_offset + offset} of this connection: "
                         + _describe(code, message_type, self.policy.domain, self.max_frame_size)))
                self._dirty.add(conn)
            elif gap_first:
                splits.append((index, frames.gap_notice(
                    self.policy.domain, gap_source=source, reason=GapReason.SequenceJump,
                    first=gap_first, last=sequence - 1, lost=sequence - gap_first,
                    sequence=self._next_own_sequence()), source))
        return splits

    def _judge_announcement(self, buffer: bytearray, offset: int, size: int) -> int:
        """A SchemaAnnouncement passes when its schema names this relay's domain; the type it
        describes is then accepted here from now on."""
        try:
            announcement = decode(bytes(buffer[offset:offset + size]))
            schema = Schema.from_dict(json.loads(announcement.spec))
        except (ParseError, SchemaError, ValueError, RecursionError):
            return RelayCode.SchemaRefused
        if getattr(schema, "domain", None) != self.policy.domain:
            return RelayCode.SchemaRefused
        if not 200 <= schema.message_type <= 255:
            return RelayCode.SchemaRefused
        self.router.allow(schema.message_type)
        return 0

    def _refuse_and_close(self, conn: Connection, code: int, message_type: int, sequence: int,
                          text: str) -> None:
        conn.refused[code] += 1
        self.totals["frames_refused"] += 1
        self.totals["disconnects"] += 1
        conn.queue.append_frames(frames.error(
            self.policy.domain, code=code, related_type=message_type, related_sequence=sequence,
            text=text, sequence=self._next_own_sequence()))
        conn.closing = True
        conn.filled = 0
        self._flush(conn)

    # ---- monitors --------------------------------------------------------------------

    def _serve_monitor(self, conn: Connection) -> None:
        while conn.filled:
            size = pending_frame_size(conn.inbox, conn.filled)
            if size > MAX_HELLO_BYTES or (conn.filled >= 5 and conn.inbox[4] != MessageType.RelayHello):
                self._refuse_and_close(conn, RelayCode.BadHello, conn.inbox[4], 0,
                                       "a monitor sends RelayHello frames only")
                return
            if size == 0 or size > conn.filled:
                break
            move_to_front(conn.inbox, size, conn.filled)
            conn.filled -= size
            conn.queue.append_frames(self.stats_frame())
        self._flush(conn)

    def stats_frame(self) -> bytes:
        room = (self.max_frame_size - MESSAGES[MessageType.RelayStats].frame_size) // frames.CONNECTION_RECORD.size
        records = b"".join(c.record() for c in list(self.connections.values())[:room])
        out_frames = sum(c.queue.sent_frames for c in self.consumers) + self.totals["frames_out_closed"]
        out_bytes = sum(c.queue.sent_bytes for c in self.consumers) + self.totals["bytes_out_closed"]
        dropped = sum(c.queue.dropped_frames for c in self.consumers) + self.totals["dropped_closed"]
        return MESSAGE_CLASSES[MessageType.RelayStats].encode(
            domain=frames.DOMAIN_NUMBERS[self.policy.domain],
            policy_flags=frames.policy_flags(self.policy), relay_pid=os.getpid(),
            started_at=self.started_at, frames_in=self.router.accepted_frames,
            bytes_in=self.router.accepted_bytes, frames_out=out_frames, bytes_out=out_bytes,
            frames_dropped=dropped, frames_refused=self.totals["frames_refused"],
            gaps=self.totals["gaps"], disconnects=self.totals["disconnects"],
            connection_count=len(records) // frames.CONNECTION_RECORD.size, records=records,
            timestamp=time.time_ns(), source=frames.RELAY_SOURCES[self.policy.domain],
            sequence=self._next_own_sequence())

    # ---- consumers and overflow ------------------------------------------------------

    def _flush(self, conn: Connection) -> None:
        if conn.tls is None:
            written = conn.queue.send(conn.fd)
            if written > 0 and not conn.queue.pending_bytes and not conn.closing:
                conn.last_progress = time.monotonic()  # all written: the common case, at once
                if conn.events != _READ:
                    self._watch(conn)
                return
        elif not conn.tls.handshaken:
            if conn.closing:  # refused before its handshake ended: nothing can reach it
                self._disconnect(conn)
                return
            written = 0  # the welcome waits for the handshake
        else:
            try:
                written = conn.tls.send_from(conn.queue)
            except OSError:
                written = -errno.EPIPE
        if written < 0 and -written not in (errno.EAGAIN, errno.EINTR):
            self._disconnect(conn)
            return
        if written > 0 or not conn.unsent:
            conn.last_progress = time.monotonic()
        if conn.closing and not conn.unsent:
            self._disconnect(conn)
            return
        self._watch(conn)

    def _apply_overflow(self) -> None:
        breaker = self.policy.circuit_breaker
        if self.policy.overflow == "shed":
            for conn in self.consumers:
                if conn.queue.frames > breaker or conn.queue.pending_bytes > MAX_QUEUE_BYTES:
                    self._shed(conn, breaker // 2, MAX_QUEUE_BYTES // 2)
            return
        full = any(c.queue.frames >= breaker or c.queue.pending_bytes >= MAX_QUEUE_BYTES
                   for c in self.consumers)
        if full != self.producers_paused:
            self.producers_paused = full
            for conn in list(self.connections.values()):
                if conn.role == RelayRole.Producer:
                    self._watch(conn)

    def _shed(self, conn: Connection, keep_frames: int, keep_bytes: int) -> None:
        lost, earlier_notices = conn.queue.shed(keep_frames, keep_bytes)
        notices = [frames.gap_notice(
            self.policy.domain, gap_source=source, reason=GapReason.Shed, first=first,
            last=last, lost=count, sequence=self._next_own_sequence())
            for source, first, last, count in lost]
        if notices or earlier_notices:
            conn.queue.insert_front(earlier_notices + b"".join(notices))
            conn.gaps += len(notices)
            self.totals["gaps"] += len(notices)
            self._dirty.add(conn)

    def _check_stuck(self) -> None:
        now = time.monotonic()
        breaker = self.policy.circuit_breaker
        for conn in list(self.consumers):
            full = conn.queue.frames >= breaker or conn.queue.pending_bytes >= MAX_QUEUE_BYTES
            if full and now - conn.last_progress > self.policy.stuck_timeout:
                self._log(f"consumer {conn.id} ({conn.name or 'unnamed'}, pid {conn.pid}) took"
                          f" nothing for {self.policy.stuck_timeout:g} s with"
                          f" {conn.queue.frames} frames queued: disconnected")
                self.totals["stuck_disconnects"] += 1
                self.totals["disconnects"] += 1
                self._disconnect(conn)
        self._apply_overflow()

    def _check_greeting(self) -> None:
        now = time.monotonic()
        for conn in list(self.greeting):
            if now - conn.opened > HELLO_TIMEOUT:
                self._reject(conn, RelayCode.BadHello, f"no hello within {HELLO_TIMEOUT:g} s")

    def _disconnect(self, conn: Connection) -> None:
        if self.connections.pop(conn.fd, None) is None:
            return
        self.greeting.discard(conn)
        self._tls_backlog.discard(conn)
        if conn.events:
            self.selector.unregister(conn.sock)
            conn.events = 0
        conn.sock.close()
        self._dirty.discard(conn)
        if conn in self.consumers:
            self.consumers.remove(conn)
            self.totals["frames_out_closed"] += conn.queue.sent_frames
            self.totals["bytes_out_closed"] += conn.queue.sent_bytes
            self.totals["dropped_closed"] += conn.queue.dropped_frames
        if self.policy.overflow == "block":
            self._apply_overflow()

    def _log(self, text: str) -> None:
        self.log.write(f"alphapulse relay {self.policy.domain}: {text}\n")
        self.log.flush()


def run(policy: DomainPolicy, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, *,
        tcp: Address | None = None, tls: ssl.SSLContext | None = None) -> None:
    """Serve one domain until SIGTERM or SIGINT, on TCP too when ``tcp`` is given."""
    RelayServer(policy, max_frame_size, tcp=tcp, tls=tls).serve_forever()
