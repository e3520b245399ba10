"""Blocking clients of a domain relay.

    with connect("market_data", "producer", source=SourceType.BinanceCollector,
                 sequence="auto") as producer:
        producer.send(trade)                 # a message, or a frame's bytes
        producer.send_batch(encode_batch(rows))
    with connect("market_data", "consumer", types=[MessageType.Trade]) as consumer:
        message = consumer.recv(timeout=1.0)
        batch = consumer.recv_batch(max_frames=10_000)

With ``address=(host, port)`` a client dials the relay's TCP listener instead of its Unix
socket (``tls=``, an SSLContext of ``tcp.client_context``, through TLS); the rest is the same.
"""
from __future__ import annotations

import math
import os
import select
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, overload

from ..capture.batch import BatchResult, decode_batch
from ..wire._codec import DEFAULT_MAX_FRAME_SIZE, decode
from ..wire.enums import GapReason, HelloFlags, MessageType, RelayCode, RelayRole
from ..wire.layouts import HEADER_SIZE
from ..wire.errors import (FieldValueError, RelayClosedError, RelayError,
                           RelayRefusedError, RelayTimeoutError)
from . import frames, sendable
from ._route import NOTE_CODE, Router, Sequencer, count_frames, move_to_front, pending_frame_size
from .config import RelaysConfig, load_config
from .backoff import Backoff, Retry, backoff_of
from .policy import DOMAINS, DomainPolicy, default_policy
from .runtime_dir import runtime_dir_of, socket_path_length_problem
from .tcp import Address, Socket, check_address, describe, dial, half_close, recv_into_nowait, recv_nowait

CONNECT_TIMEOUT = 5.0
RECEIVE_BYTES = 4 << 20   # a consumer's buffer; it grows for a frame larger than this
ERROR_CHECK_EVERY = 1024  # frames sent between two looks for the relay's answers (a syscall)
MAX_POLL_SECONDS = 86_400.0  # one wait of a consumer's poll at most; its caller waits on


def positive(value: Any, what: str) -> int:
    """``value`` when it is an integer >= 1 (a count the caller gives: frames, capacity)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FieldValueError(f"{what}: expected a positive integer, got {value!r}", field=what)
    return value


@dataclass(frozen=True)
class Gap:
    """Frames a consumer did not get, and why: every transport reports its losses as Gaps.
    ``reported`` is True when the carrier told of the loss (a relay's GapNotice, the ring's
    records, the bus server's positions), False when the consumer saw a jump in the sequences
    of the frames it received. What the other fields hold depends on ``reason`` (a GapReason):

    - Shed, SequenceJump, Disconnected (a relay's GapNotice, or a SequenceJump the consumer
      saw): ``source`` is the SourceType whose frames ``first`` to ``last`` (by sequence,
      both included) are missing, ``frames_lost`` of them.
    - RelayRestart: the relay closed the connection and the client connected again;
      ``source`` and ``frames_lost`` are None (what went missing meanwhile shows as sequence
      jumps), ``first`` and ``last`` 0.
    - Lapped, Abandoned, Stalled, and SequenceJump from the shared-memory ring: ``source`` is
      None (a stretch of the ring holds any source's frames); ``first`` is the ring position
      where the consumer stood and ``last`` the one it went on from (``last - first`` ring
      bytes skipped); ``frames_lost`` the frames known lost so far, which for a lap grows as
      each producer's next record shows how many of its frames went.
    - Dropped (NATS JetStream): ``first`` to ``last`` are the stream sequences of the
      messages (batches of frames) the consumer never got; ``source`` and ``frames_lost`` are
      None, the server cannot say whose frames or how many.
    - Trimmed (Redis Streams): ``first`` to ``last`` number the entries trimmed unread (the
      stream's entries counted from 1); ``source`` and ``frames_lost`` are None as for Dropped.
    """

    source: int | None
    reason: GapReason
    first: int
    last: int
    frames_lost: int | None
    reported: bool


def _policy(domain: str, config: Any, runtime_dir: str | os.PathLike[str] | None) -> DomainPolicy:
    """The policy of ``domain`` from ``config``: a YAML file's path, a loaded RelaysConfig, a
    mapping of domain to DomainPolicy, one DomainPolicy, or None for the design's defaults."""
    if domain not in DOMAINS:
        raise FieldValueError(f"domain: {domain!r} is not one of {', '.join(DOMAINS)}",
                              field="domain")
    if isinstance(config, (str, os.PathLike)):
        config = load_config(config, runtime_dir=runtime_dir)
    if isinstance(config, RelaysConfig):
        config = config.policies
    if isinstance(config, DomainPolicy):
        if config.domain != domain:
            raise FieldValueError(f"config: a policy of {config.domain!r}, not {domain!r}",
                                  field="config")
        return config
    if isinstance(config, Mapping):
        if domain in config:
            policy = config[domain]
            if not isinstance(policy, DomainPolicy):
                raise FieldValueError(f"config[{domain!r}]: expected a DomainPolicy, got"
                                      f" {type(policy).__name__}", field="config")
            return policy
    elif config is not None:
        raise FieldValueError(f"config: expected a YAML file, a RelaysConfig or a mapping of"
                              f" domain to DomainPolicy, got {type(config).__name__}",
                              field="config")
    return default_policy(domain, runtime_dir_of(runtime_dir))


@overload
def connect(domain: str, role: Literal["producer"], *,
            types: Iterable[int | str] | None = None, sources: Iterable[int | str] | None = None,
            name: str | None = None, config: Any = None,
            runtime_dir: str | os.PathLike[str] | None = None, source: int | None = None,
            sequence: Literal["auto"] | None = None,
            timeout: float = CONNECT_TIMEOUT,
            reconnect: bool | Backoff = False, address: Address | None = None,
            tls: ssl.SSLContext | None = None, batch_bytes: int = 0) -> Producer: ...


@overload
def connect(domain: str, role: Literal["consumer"], *,
            types: Iterable[int | str] | None = None, sources: Iterable[int | str] | None = None,
            name: str | None = None, config: Any = None,
            runtime_dir: str | os.PathLike[str] | None = None, source: int | None = None,
            sequence: Literal["auto"] | None = None,
            timeout: float = CONNECT_TIMEOUT,
            reconnect: bool | Backoff = False, address: Address | None = None,
            tls: ssl.SSLContext | None = None, batch_bytes: int = 0) -> Consumer: ...


def connect(domain: str, role: Literal["producer", "consumer"], *,
            types: Iterable[int | str] | None = None, sources: Iterable[int | str] | None = None,
            name: str | None = None, config: Any = None,
            runtime_dir: str | os.PathLike[str] | None = None, source: int | None = None,
            sequence: Literal["auto"] | None = None,
            timeout: float = CONNECT_TIMEOUT,
            reconnect: bool | Backoff = False, address: Address | None = None,
            tls: ssl.SSLContext | None = None, batch_bytes: int = 0) -> Producer | Consumer:
    """Connect to the relay of ``domain`` as a producer or a consumer.

    A consumer receives the frames of the ``types`` and ``sources`` it names (all when None);
    the relay filters before fan-out. A producer declares the ``source`` it writes as; with
    ``sequence="auto"`` it numbers its frames per source, continuing where the relay says
    that source stopped.

    With ``reconnect`` (True, or a Backoff of your own delays), a client whose relay goes
    away connects again, waiting longer after each failed attempt: a producer sends again the
    frames the relay had not wholly taken and goes on numbering where it was; a consumer notes
    the restart in ``gaps`` (reason RelayRestart), then every source's sequence jump over
    what it missed meanwhile.

    With ``address`` (host, port) the client dials the relay's TCP listener rather than its
    Unix socket, through TLS when ``tls`` (a client SSLContext) is given.

    A producer with ``batch_bytes`` gathers what it is given to send and writes it once that
    many bytes are waiting, or at ``flush()``, ``finish()`` or ``close()``: one write for many
    small sends, as NATS clients do, where each send otherwise writes at once.
    """
    if role not in ("producer", "consumer"):
        raise FieldValueError(f"role: {role!r} is not 'producer' or 'consumer'", field="role")
    if sequence not in (None, "auto"):
        raise FieldValueError(f"sequence: {sequence!r} is not None or 'auto'", field="sequence")
    policy = _policy(domain, config, runtime_dir)
    backoff = backoff_of(reconnect)
    route = _route_of(address, tls)
    if role == "producer":
        if types is not None or sources is not None:
            raise FieldValueError("types and sources subscribe a consumer; a producer takes"
                                  " source=", field="types")
        producer_source = frames._number(source, "source") if source is not None else 0
        greeting = frames.hello(
            RelayRole.Producer, producer_source=producer_source, name=name or "",
            hello_flags=HelloFlags.ResumeSequence if sequence == "auto" else 0, pid=os.getpid())
        gathered = _batch_bytes(batch_bytes)
        sock, welcome = _handshake(policy, greeting, timeout, *route)
        return Producer(sock, policy, welcome, producer_source, sequence == "auto",
                        redial=_Redial(greeting, timeout, backoff, *route),
                        batch_bytes=gathered)
    if source is not None or sequence is not None:
        raise FieldValueError("source and sequence belong to a producer", field="source")
    if batch_bytes:
        raise FieldValueError("batch_bytes gathers a producer's writes", field="batch_bytes")
    types = frames.check_domain_types(domain, types)
    greeting = frames.hello(
        RelayRole.Consumer, type_mask=frames.mask(types, "types"),
        source_mask=frames.mask(sources, "sources"), name=name or "", pid=os.getpid())
    sock, welcome = _handshake(policy, greeting, timeout, *route)
    return Consumer(sock, policy, welcome, redial=_Redial(greeting, timeout, backoff, *route))


def _batch_bytes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldValueError(f"batch_bytes: {value!r}, expected a count of bytes >= 0"
                              " (0: every send writes at once)", field="batch_bytes")
    return value


def _route_of(address: Any, tls: Any) -> tuple[Address | None, ssl.SSLContext | None]:
    """The TCP address and TLS context a client dials, checked (None: the Unix socket)."""
    if tls is not None and not isinstance(tls, ssl.SSLContext):
        raise FieldValueError(f"tls: expected an ssl.SSLContext, got {type(tls).__name__}",
                              field="tls")
    if address is None:
        if tls is not None:
            raise FieldValueError("tls: TLS goes with a TCP address=(host, port)", field="tls")
        return None, None
    return check_address(address), tls


def where_of(policy: DomainPolicy, address: Address | None, tls: ssl.SSLContext | None) -> str:
    """The relay a client talks to, for its messages: the socket's path or the TCP URL."""
    return str(policy.path) if address is None else describe(address, tls)


@dataclass(frozen=True)
class _Redial:
    """What a client needs to connect again: its hello, the handshake's timeout, and the
    delays between attempts (None: it does not reconnect)."""

    hello: bytes
    timeout: float
    backoff: Backoff | None
    address: Address | None = None
    tls: ssl.SSLContext | None = None


def _open(policy: DomainPolicy, timeout: float, address: Address | None,
          tls: ssl.SSLContext | None) -> Socket:
    """A connected socket to the relay: its Unix socket, or its TCP listener at ``address``."""
    if address is not None:
        return dial(address, tls, timeout)
    problem = socket_path_length_problem(policy.path)
    if problem:
        raise RelayError(f"no {policy.domain} relay can be at {problem}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(str(policy.path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise RelayError(f"{policy.path}: no {policy.domain} relay is running there (start"
                         f" one with `alphapulse relay --domain {policy.domain}`)") from None
    except PermissionError:
        sock.close()
        raise RelayError(f"{policy.path}: not allowed to connect (the socket belongs to"
                         " another user)") from None
    except BaseException:
        sock.close()
        raise
    return sock


def _handshake(policy: DomainPolicy, hello: bytes, timeout: float,
               address: Address | None = None, tls: ssl.SSLContext | None = None
               ) -> tuple[Socket, Any]:
    where = where_of(policy, address, tls)
    try:
        sock = _open(policy, timeout, address, tls)
    except socket.timeout:
        raise RelayTimeoutError(f"{where}: no answer from the relay within"
                                f" {timeout:g} s") from None
    try:
        sock.settimeout(timeout)
        sock.sendall(hello)
        welcome = decode(_read_frame(sock, where))
        if welcome.header.message_type != MessageType.RelayWelcome:
            raise RelayError(f"{where}: the relay answered with a frame of type"
                             f" {welcome.header.message_type}, not a RelayWelcome")
        if welcome.status != RelayCode.Accepted:
            raise RelayRefusedError(f"{where}: the relay refused the connection"
                                    f" ({_code_name(welcome.status)}): {welcome.reason}",
                                    welcome.status)
        sock.settimeout(None)
        return sock, welcome
    except socket.timeout:
        sock.close()
        raise RelayTimeoutError(f"{where}: no answer from the relay within"
                                f" {timeout:g} s") from None
    except ssl.SSLError as error:  # a relay that requires a client certificate refuses here
        sock.close()
        raise RelayError(f"{where}: the TLS connection failed: {error}") from None
    except BaseException:
        sock.close()
        raise


def _read_frame(sock: Socket, where: str) -> bytes:
    data = bytearray()
    wanted = 32
    while len(data) < wanted:
        try:
            chunk = sock.recv(wanted - len(data))
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            hint = " (a relay that speaks TLS closes a connection without it: give tls=)" \
                if where.startswith("tcp://") else ""
            raise RelayClosedError(f"{where}: the relay closed the connection during the"
                                   f" handshake{hint}")
        data += chunk
        if len(data) == 32:
            wanted = pending_frame_size(data, 32)
            if wanted > DEFAULT_MAX_FRAME_SIZE:
                raise RelayError(f"{where}: an answer of {wanted} bytes is over"
                                 f" {DEFAULT_MAX_FRAME_SIZE}")
    return bytes(data)


def spin_ns(busy_poll_ns: int, timeout: float | None) -> int:
    """How long a consumer polls its socket without sleeping: ``busy_poll_ns``, or less when
    ``timeout`` (seconds, None: none) ends sooner."""
    if timeout is None or timeout * 1e9 >= busy_poll_ns:
        return busy_poll_ns
    return max(0, int(timeout * 1e9))


def whole_frames_in(frames_: bytes | memoryview, length: int) -> int:
    """The bytes of the whole frames at the front of ``frames_[:length]``."""
    at = 0
    while at < length:
        size = pending_frame_size(frames_[at:], len(frames_) - at)
        if at + size > length:
            break
        at += size
    return at


def _code_name(code: int) -> str:
    try:
        return RelayCode(code).name
    except ValueError:
        return f"code {code}"


class _Client:
    def __init__(self, sock: Socket, policy: DomainPolicy, welcome: Any,
                 redial: _Redial | None = None) -> None:
        self._sock = sock
        self.policy = policy
        self.domain = policy.domain
        self._redial = redial
        self.where = where_of(policy, redial.address, redial.tls) if redial else str(policy.path)
        self.reconnects = 0
        self._closing = False  # close() was called: a wait of another thread ends, no redial
        self._welcomed(welcome)

    def _welcomed(self, welcome: Any) -> None:
        self.connection_id: int = welcome.connection_id
        self.max_frame_size: int = welcome.max_frame_size
        self.policy_flags: int = welcome.policy_flags

    @property
    def reconnecting(self) -> bool:
        return self._redial is not None and self._redial.backoff is not None

    def _retry(self, why: str) -> Retry:
        """The attempts to connect again after the relay went away (``why``); raises
        RelayClosedError for a client that does not reconnect."""
        backoff = self._redial.backoff if self._redial is not None else None
        if backoff is None:
            raise RelayClosedError(f"{self.where}: {why}")
        self._sock.close()
        return Retry(backoff, f"{self.domain} relay at {self.where}", why)

    def _dial(self) -> None:
        """One attempt to connect again; raises RelayError or OSError when it fails."""
        if self._redial is None:
            raise RelayClosedError(f"{self.where}: this client does not reconnect")
        redial = self._redial
        sock, welcome = _handshake(self.policy, redial.hello, redial.timeout, redial.address,
                                   redial.tls)
        self._sock = sock
        self.reconnects += 1
        self._welcomed(welcome)

    def _reconnect(self, why: str) -> None:
        """Connect again, waiting between attempts as the backoff says."""
        retry = self._retry(why)
        while True:
            try:
                self._dial()
            except RelayRefusedError:
                raise
            except (RelayError, OSError) as error:
                time.sleep(retry.next_delay(error))
                continue
            retry.succeeded()
            return

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock.fileno() < 0

    def _check_open(self, doing: str) -> None:
        if self._sock.fileno() < 0:  # self.closed, without a property call on every send
            raise RelayClosedError(f"{self.where}: {doing} on a closed"
                                   f" {type(self).__name__.lower()}")

    def close(self) -> None:
        self._closing = True
        try:  # wakes a thread blocked reading this socket, which a close alone leaves waiting
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # not connected (any more)
            pass
        self._sock.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class Producer(_Client):
    """Sends frames to a relay. ``errors`` holds the relay's Error answers received so far
    (frames it refused, with code, related type and sequence)."""

    def __init__(self, sock: Socket, policy: DomainPolicy, welcome: Any, source: int,
                 auto_sequence: bool, redial: _Redial | None = None, batch_bytes: int = 0
                 ) -> None:
        self.source = source
        self.batch_bytes = batch_bytes
        self._gathered = bytearray()  # whole frames given to send, not yet written
        self.errors: list[Any] = []
        self._answers = bytearray()
        self._unchecked = 0  # frames sent since the last look for answers
        self._sequencer = Sequencer() if auto_sequence else None
        self._ended = False  # the relay's end of the stream was read
        # over TCP a write to a relay that went away is taken by the kernel and lost: the end
        # of its stream is looked for before each write (a Unix socket refuses the write)
        self._look_before_write = redial is not None and redial.address is not None
        super().__init__(sock, policy, welcome, redial)

    def _welcomed(self, welcome: Any) -> None:
        super()._welcomed(welcome)
        self._ended = False
        self._answers.clear()  # a partial answer of the relay that went away
        # a relay that knows the source further on (another producer wrote as it) is followed;
        # a restarted one knows nothing, and the count goes on where it was
        if self._sequencer is not None and welcome.next_sequence > self._sequencer.next(self.source):
            self._sequencer.resume(self.source, welcome.next_sequence)

    def next_sequence(self, source: int | None = None) -> int:
        """The sequence the next frame of ``source`` (the declared one by default) gets."""
        if self._sequencer is None:
            raise FieldValueError("sequence numbers are the caller's: connect with"
                                  " sequence='auto' to have them counted", field="sequence")
        return int(self._sequencer.next(self.source if source is None else source))

    def send(self, message: Any) -> None:
        """Send one message or one frame's bytes."""
        self._sent(self._take(message, single=True))

    def send_batch(self, buffer: Any) -> int:
        """Send many whole frames back to back (``encode_batch`` output, a capture's bytes).
        Returns how many frames."""
        return self._sent(self._take(buffer, single=False))

    def _take(self, data: Any, single: bool) -> int:
        """Writes ``data``'s frames, or gathers them until ``batch_bytes`` are waiting."""
        self._check_open("send")
        view, count = self._frames(data, single)
        if not self.batch_bytes:
            self._write(view)
            return count
        self._gathered += view
        if len(self._gathered) >= self.batch_bytes:
            self._write_gathered()
        return count

    def close(self) -> None:
        """Writes what ``batch_bytes`` gathered, then closes."""
        try:
            if not self.closed:
                self._write_gathered()
        finally:
            super().close()

    def _write_gathered(self) -> None:
        if self._gathered:
            gathered, self._gathered = self._gathered, bytearray()
            self._write(memoryview(gathered))

    def _sent(self, count: int) -> int:
        """Counts frames sent; takes the relay's answers in every ERROR_CHECK_EVERY frames,
        so that they never fill the socket, without a look per small send."""
        self._unchecked += count
        if self._unchecked >= ERROR_CHECK_EVERY:
            self._collect_answers()
        return count

    def _frames(self, data: Any, single: bool) -> tuple[bytes | memoryview, int]:
        """The bytes to send for ``data`` (numbered, with sequence="auto"), and how many
        frames they hold."""
        data = sendable.one_frame(data) if single else sendable.frames_buffer(data)
        count = count_frames(data, self.max_frame_size)
        if single and count != 1:
            raise FieldValueError(f"send takes one frame, got {count}: use send_batch",
                                  field="message")
        if self._sequencer is not None:  # after the checks: a refused send takes no sequence
            data = bytearray(data)
            self._sequencer.stamp(data, self.max_frame_size)
        elif single and type(data) is bytes:
            # a single send's usual argument, one frame; a batch stays a view, whose slices
            # after a partial write (an aio producer's, a reconnection's) copy nothing
            return data, count
        return memoryview(data).cast("B"), count

    def _lost(self) -> str:
        """Why the relay closed the connection, for the error or the log; raises
        RelayClosedError for a producer that does not reconnect."""
        self._collect_answers()
        why = "the relay closed the connection" + (
            f" after: {self.errors[-1].text}" if self.errors else "")
        if not self.reconnecting:
            raise RelayClosedError(f"{self.where}: {why}")
        return why

    def _check_ended(self) -> None:
        """Raise ConnectionResetError when the relay ended the connection (looked at over
        TCP before each write)."""
        self._collect_answers()
        if self._ended:
            raise ConnectionResetError("the relay ended the connection")

    def _write(self, view: bytes | memoryview) -> None:
        while True:
            sent = 0
            try:
                if self._look_before_write:
                    self._check_ended()
                # one send takes a small write whole: the rest is sliced off only when it did not;
                # nothing to write is no write, which a relay gone would refuse
                sent = self._sock.send(view) if view else 0
                while sent < len(view):
                    sent += self._sock.send(view[sent:])
                return
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                why = self._lost()
            # the frames the relay may have taken whole are not sent twice; the one cut in
            # the middle, and those after it, go to the new connection
            view = view[whole_frames_in(view, sent):]
            self._reconnect(why)

    def finish(self, timeout: float | None = CONNECT_TIMEOUT) -> list[Any]:
        """Close the connection once the relay has judged every frame sent: the relay reads
        the end of the stream after them, answers what it refused, and closes its side.
        Returns every Error answer of the connection (also in ``errors``); waits ``timeout``
        seconds at most (None: for as long as it takes)."""
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, (int, float))
                                    or not 0 < timeout < math.inf):
            raise FieldValueError(f"timeout: {timeout!r}, expected a positive number of seconds",
                                  field="timeout")
        self._write_gathered()
        try:
            half_close(self._sock)
            self._sock.settimeout(timeout)
            while chunk := self._sock.recv(1 << 16):
                self._answers += chunk
        except socket.timeout:
            raise RelayTimeoutError(f"{self.where}: the relay did not close the"
                                    f" connection within {timeout:g} s") from None
        except OSError:
            pass  # the relay is gone: the answers it sent are those received
        finally:
            self._collect_answers()
            self._sock.close()
        return self.errors

    def flush(self) -> list[Any]:
        """Everything sent is with the relay (what ``batch_bytes`` gathered is written);
        returns the Error answers that came since the last look (also kept in ``errors``)."""
        self._check_open("flush")
        self._write_gathered()
        return self._collect_answers()

    def _collect_answers(self) -> list[Any]:
        self._unchecked = 0
        new = []
        while True:
            try:
                chunk = recv_nowait(self._sock, 1 << 16)
            except (ConnectionResetError, ssl.SSLError):
                self._ended = True
                break
            if chunk is None:
                break
            if not chunk:
                self._ended = True
                break
            self._answers += chunk
        while len(self._answers) >= 32:
            size = pending_frame_size(self._answers, len(self._answers))
            if size > len(self._answers):
                break
            answer = decode(bytes(self._answers[:size]))
            del self._answers[:size]
            new.append(answer)
        self.errors.extend(new)
        return new


class Consumer(_Client):
    """Receives the frames of its subscription. ``gaps`` lists what it missed: GapNotices of
    the relay, and sequence jumps it saw itself (a jump over just the frames the relay's
    notice before it told of is that notice's gap, listed once); ``frames_lost`` is the sum
    of their ``frames_lost``, each lost frame counted once."""

    def __init__(self, sock: Socket, policy: DomainPolicy, welcome: Any,
                 redial: _Redial | None = None) -> None:
        super().__init__(sock, policy, welcome, redial)
        self.gaps: list[Gap] = []
        self.frames_lost = 0
        self._told: dict[int, tuple[int, int]] = {}  # per source, what the relay's notices told
        self._retrying: Retry | None = None  # the attempts to reach a relay gone, while it is
        self._next_attempt = 0.0
        self._buffer = bytearray(RECEIVE_BYTES)
        self._start = 0   # the first byte not taken yet: frames taken one by one move nothing
        self._filled = 0
        self._eof = False
        self._poller = select.poll()  # waits for a plain socket under a timeout
        self._polled_fd = -1
        self._busy_poll_ns = policy.busy_poll_us * 1000
        codes = bytearray(256)
        for control in frames.CONTROL_TYPES:
            codes[control] = NOTE_CODE
        self._tracker = Router(bytes(codes), max(self.max_frame_size, 64), False, False, True)

    def _compact(self) -> None:
        """Slide the bytes not taken yet to the buffer's front, once per read rather than once
        per frame taken, so that a consumer behind by a full buffer takes each frame in
        constant time."""
        if self._start:
            move_to_front(self._buffer, self._start, self._filled)
            self._filled -= self._start
            self._start = 0

    def _room(self) -> memoryview:
        """The free end of the buffer, grown for a frame larger than it."""
        if self._start == self._filled:  # all taken: nothing to move
            self._start = self._filled = 0
        else:
            self._compact()
            waiting = pending_frame_size(self._buffer, self._filled)
            if waiting > len(self._buffer):
                self._buffer.extend(bytes(waiting - len(self._buffer)))
        return memoryview(self._buffer)[self._filled:]

    def _drain_socket(self) -> None:
        """Take what the socket holds without waiting, as far as the buffer has room."""
        self._compact()
        while self._filled < len(self._buffer):
            try:
                received = recv_into_nowait(self._sock, self._room())
            except (ConnectionResetError, ssl.SSLError):
                received = 0
            if received is None:
                return
            if received == 0:
                self._eof = True
                return
            self._filled += received

    def _fill(self, timeout: float | None) -> None:
        """Receive into the buffer: wait up to ``timeout`` for the first bytes, then take what
        else is there without waiting."""
        if self._eof:
            return
        if isinstance(self._sock, ssl.SSLSocket):
            self._fill_tls(timeout)
            return
        # the fewest system calls for a frame that comes alone: a blocking read, or a poll and
        # a read when a timeout is given, and no read that would block after a short one
        with self._room() as room:
            try:
                received = None
                if self._busy_poll_ns:
                    waited = time.monotonic_ns()
                    received = self._busy_poll(room, timeout)
                    if timeout is not None:
                        timeout = max(0.0, timeout - (time.monotonic_ns() - waited) / 1e9)
                if received is not None:
                    pass
                elif timeout is None:
                    received = self._sock.recv_into(room)
                elif not self._readable_within(timeout):
                    return
                else:
                    received = recv_into_nowait(self._sock, room)
                    if received is None:
                        return
            except ConnectionResetError:
                received = 0
            space = len(room)
        if received == 0:
            self._eof = True
            return
        self._filled += received
        if received == space:  # a stream socket reads all it holds up to the room given
            self._drain_socket()

    def _busy_poll(self, room: memoryview, timeout: float | None) -> int | None:
        """What a read took while looking at the socket without sleeping, for the policy's
        ``busy_poll_us`` at most (and ``timeout``); None when nothing came."""
        end = time.monotonic_ns() + spin_ns(self._busy_poll_ns, timeout)
        sock = self._sock
        while True:
            try:
                return sock.recv_into(room, 0, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                if time.monotonic_ns() >= end:
                    return None

    def _readable_within(self, timeout: float) -> bool:
        """Whether bytes (or the end) came within ``timeout`` seconds."""
        fd = self._sock.fileno()
        if fd != self._polled_fd:  # a new connection after a reconnect
            if self._polled_fd >= 0:
                self._poller.unregister(self._polled_fd)
            self._poller.register(fd, select.POLLIN)
            self._polled_fd = fd
        # poll takes milliseconds in a C int: a longer wait ends early and is asked again
        return bool(self._poller.poll(min(max(timeout, 0.0), MAX_POLL_SECONDS) * 1000))

    def _fill_tls(self, timeout: float | None) -> None:
        """``_fill`` through TLS: the layer may hold decrypted bytes that no poll sees, and a
        read gives one record at most."""
        self._sock.settimeout(timeout)
        try:
            received = self._sock.recv_into(self._room())
        except socket.timeout:
            return
        except (ConnectionResetError, ssl.SSLError):
            received = 0
        finally:
            self._sock.settimeout(None)
        if received == 0:
            self._eof = True
            return
        self._filled += received
        self._drain_socket()

    def _taken(self, max_frames: int) -> bytes:
        """The whole frames at the front of what is not taken yet, at most ``max_frames``,
        taken; the gaps they show noted. Empty when no frame is whole yet."""
        if self._filled - self._start < HEADER_SIZE:
            return b""  # not even a header
        tracker = self._tracker
        data = tracker.take(self._buffer, self._start, self._filled, max_frames)
        if tracker.fatal:
            raise RelayError(f"{self.where}: the relay sent bytes that are not a"
                             f" frame at byte {tracker.consumed} of its stream")
        if tracker.notable_count:
            self._note_gaps(data, tracker.notable_frames())
        self._start += len(data)
        return data

    def _note_gaps(self, data: bytes, notable: list[tuple[int, ...]]) -> None:
        for _, offset, size, message_type, source, _, sequence, gap_first in notable:
            if gap_first and self._told.pop(source, None) != (gap_first, sequence - 1):
                self._note(Gap(source, GapReason.SequenceJump, gap_first, sequence - 1,
                               sequence - gap_first, False))
            if message_type == MessageType.GapNotice:
                notice = decode(data[offset:offset + size])
                self._note(Gap(notice.gap_source, self._notice_reason(notice.reason),
                               notice.first_sequence, notice.last_sequence, notice.frames_lost,
                               True))
                self._tell(notice.gap_source, notice.first_sequence, notice.last_sequence)

    def _note(self, gap: Gap) -> None:
        self.gaps.append(gap)
        self.frames_lost += gap.frames_lost or 0

    def _tell(self, source: int, first: int, last: int) -> None:
        """Notes the range a notice of the relay told of; notices that follow on one another
        (a queue shed again before its consumer read) make one range, as the jump after them."""
        told = self._told.get(source)
        self._told[source] = (told[0], last) if told and told[1] + 1 == first else (first, last)

    def _notice_reason(self, number: int) -> GapReason:
        try:
            return GapReason(number)
        except ValueError:
            raise RelayError(f"{self.where}: the relay sent a GapNotice whose reason"
                             f" {number} is not a GapReason") from None

    @property
    def closed(self) -> bool:
        return self._retrying is None and self._sock.fileno() < 0

    def close(self) -> None:
        self._retrying = None  # a consumer closed while its relay is away stays closed
        super().close()

    def _take(self, max_frames: int, timeout: float | None) -> bytes:
        """Whole frames from the front of the buffer, at most ``max_frames``; waits up to
        ``timeout`` for the first."""
        if self._sock.fileno() < 0 and self._retrying is None:
            self._check_open("receive")
        if timeout is not None and math.isnan(timeout):
            raise FieldValueError("timeout: nan, expected seconds or None", field="timeout")
        data = self._taken(max_frames)
        if data:
            return data
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._check_not_closed_meanwhile()
            if self._eof or self._retrying is not None:
                if not self._reconnected(deadline):
                    return b""
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return b""
            try:
                self._fill(left)
            except (OSError, ValueError):  # the socket closed under the read
                if self._closing:
                    continue
                raise
            data = self._taken(max_frames)
            if data:
                return data

    def _check_not_closed_meanwhile(self) -> None:
        """RelayClosedError when another thread (or task) closed this consumer while a receive
        waited in it: for the socket, or for the relay to come back."""
        if self._closing:
            raise RelayClosedError(f"{self.where}: closed while a receive waited")

    def _reconnected(self, deadline: float | None) -> bool:
        """Attempts to connect again to the relay that closed the connection, spaced as the
        backoff says, until one succeeds or ``deadline`` comes (None: none); whether one did.
        The attempts go on at the next receive: a receive's timeout holds while the relay is
        away, so that a caller can look at the clock, or at a signal, meanwhile."""
        while True:
            wait, attempt = self._attempt_wait(deadline)
            time.sleep(wait)
            self._check_not_closed_meanwhile()
            if not attempt:
                return False
            try:
                self._dial()
            except RelayRefusedError:
                raise
            except (RelayError, OSError) as error:
                self._attempted(error)
                continue
            self._attempted(None)
            return True

    def _attempt_wait(self, deadline: float | None) -> tuple[float, bool]:
        """The wait before the next attempt to reach the relay gone (the attempts start when
        the connection has just ended), and whether the attempt follows it: False when
        ``deadline`` comes first, the wait then ending there."""
        if self._retrying is None:
            self._retrying = self._retry(self._closed_by_relay())
            self._next_attempt = time.monotonic()
        now = time.monotonic()
        if deadline is not None and self._next_attempt > deadline:
            return max(0.0, deadline - now), False
        return max(0.0, self._next_attempt - now), True

    def _attempted(self, error: BaseException | None) -> None:
        """Notes the end of an attempt: failed with ``error``, or connected (None)."""
        retrying = cast(Retry, self._retrying)  # set by _attempt_wait before the attempt
        if error is None:
            retrying.succeeded()
            self._retrying = None
        else:  # raises RelayClosedError once the backoff gives up
            self._next_attempt = time.monotonic() + retrying.next_delay(error)

    def _closed_by_relay(self) -> str:
        """Why the connection ended, with the stream state reset for the next one: a frame cut
        in the middle is dropped (its source's next sequence shows the jump); the sequences
        seen so far are kept, and the restart is noted in ``gaps``."""
        self._start = self._filled = 0
        self._eof = False
        if self.reconnecting:
            self._note(Gap(None, GapReason.RelayRestart, 0, 0, None, False))
        return "the relay closed the connection"

    def reopen(self) -> None:
        """One attempt to connect again to a relay that closed the connection (for a caller
        that schedules its own attempts, as subscribe_many does); raises RelayError or
        OSError when it fails."""
        self._start = self._filled = 0
        self._eof = False
        self._dial()

    def recv(self, timeout: float | None = None) -> Any:
        """The next message (a view of its own copy), waiting up to ``timeout`` seconds
        (forever when None). GapNotices come in the stream where the gap was."""
        data = self._take(1, timeout)
        if not data:
            raise RelayTimeoutError(f"{self.where}: no frame within {timeout:g} s")
        return decode(data, max_frame_size=self.max_frame_size)

    def recv_batch(self, max_frames: int = 65536, timeout: float | None = None, *,
                   verify: bool = True) -> BatchResult:
        """The frames received so far, at most ``max_frames``, decoded into arrays per type
        (``decode_batch``); waits up to ``timeout`` for the first and returns an empty result
        when none came. ``verify`` checks checksums again (the relay checks them where its
        policy says so)."""
        return decode_batch(self._take(positive(max_frames, "max_frames"), timeout),
                            verify=verify, max_frame_size=self.max_frame_size)

    def recv_bytes(self, max_frames: int = 65536, timeout: float | None = None) -> bytes:
        """The received frames themselves, whole and back to back, at most ``max_frames``;
        empty when none came within ``timeout``."""
        return self._take(positive(max_frames, "max_frames"), timeout)

    def __iter__(self) -> Iterator[Any]:
        """Messages until the relay closes the connection."""
        while True:
            try:
                yield self.recv()
            except RelayClosedError:
                return


def relay_stats(domain: str, *, config: Any = None,
                runtime_dir: str | os.PathLike[str] | None = None,
                timeout: float = CONNECT_TIMEOUT, address: Address | None = None,
                tls: ssl.SSLContext | None = None) -> dict[str, Any]:
    """The counters of the running relay of ``domain``: its totals, and per connection a dict
    of RelayConnectionStats fields under ``connections``. ``address`` and ``tls`` ask over
    TCP, as ``connect`` does."""
    policy = _policy(domain, config, runtime_dir)
    address, tls = _route_of(address, tls)
    where = where_of(policy, address, tls)
    sock, _ = _handshake(policy, frames.hello(RelayRole.Monitor, name="stats", pid=os.getpid()),
                         timeout, address, tls)
    try:
        sock.settimeout(timeout)
        try:
            report = decode(_read_frame(sock, where), max_frame_size=DEFAULT_MAX_FRAME_SIZE)
        except socket.timeout:
            raise RelayTimeoutError(f"{where}: no statistics within {timeout:g} s") from None
    finally:
        sock.close()
    if report.header.message_type != MessageType.RelayStats:
        raise RelayError(f"{where}: the relay answered with a frame of type"
                         f" {report.header.message_type}, not RelayStats")
    totals = {name: getattr(report, name) for name in (
        "relay_pid", "started_at", "frames_in", "bytes_in", "frames_out", "bytes_out",
        "frames_dropped", "frames_refused", "gaps", "disconnects")}
    return {"domain": domain, "path": str(policy.path), **totals,
            "connections": frames.connection_records(bytes(report.records))}
