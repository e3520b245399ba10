"""Whatever a caller does with the public and reachable names, only Python exceptions come out.

Each group runs in a subprocess of its own, so that a crash of the interpreter fails its test
instead of ending the test run.
"""
from __future__ import annotations

import inspect
import itertools
import os
import pickle
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.wire import _codec
from frames import zeroed_frame, zeros

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


def run_isolated(tmp_path: Path, code: str) -> None:
    """Run `code` in a new interpreter (in `tmp_path`, where calls may write files); fail on
    a non-zero exit, a signal included."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (f"exit status {result.returncode}\n{result.stdout[-2000:]}"
                                    f"\n{result.stderr[-6000:]}")


# ------------------------------------------------------------------ one test per finding

def test_a_message_made_by_new_has_no_frame_to_read(tmp_path):
    run_isolated(tmp_path, """
        import pytest
        import alphapulse_codec as ap
        trade = ap.Trade.__new__(ap.Trade)
        for read in (lambda: trade.price, lambda: trade.header, lambda: trade.to_bytes(),
                     lambda: trade.tlv, lambda: hash(trade), lambda: trade == trade,
                     lambda: repr(trade), lambda: ap.OrderBook.__new__(ap.OrderBook).bids):
            with pytest.raises(TypeError, match="made without a frame"):
                read()
        with pytest.raises(TypeError, match="made without a message"):
            ap.Header.__new__(ap.Header).sequence
    """)


def test_seal_frames_is_private_and_checks_its_offsets(tmp_path):
    run_isolated(tmp_path, """
        import numpy as np
        import pytest
        import alphapulse_codec as ap
        from frames import zeroed_frame
        from alphapulse_codec.wire import _codec
        assert not hasattr(_codec, "seal_frames")
        seal = _codec._seal_frames
        frame = zeroed_frame(ap.Trade, price=1)
        for offsets in ([0, 1 << 40], [64, 0], [-64, 0], [0, 16], [0, 64, 65], [1 << 62, 1 << 63 - 1]):
            buffer = bytearray(frame)
            with pytest.raises(ValueError, match="is not a frame of at least 32 bytes"):
                seal(buffer, np.array(offsets, dtype="<i8"), 1)
            assert buffer == frame  # nothing written
        with pytest.raises(ValueError, match="int64 values"):
            seal(bytearray(64), b"\\0" * 9, 1)
        with pytest.raises(ap.UnknownVersionError):
            seal(bytearray(64), np.array([0, 64], dtype="<i8"), 1, 7)
        with pytest.raises(ValueError, match="0..255"):
            seal(bytearray(64), np.array([0, 64], dtype="<i8"), 1 << 20)
        # unaligned offsets, and offsets that are a view of the buffer being written
        raw = bytearray(8 * 2 + 1)
        misaligned = np.frombuffer(raw, dtype="<i8", offset=1, count=2)
        misaligned[:] = [0, 64]
        buffer = bytearray(64)
        seal(buffer, misaligned, 1)
        assert ap.decode(bytes(buffer)).price == 0
        shared = bytearray(80)
        view = np.frombuffer(shared, dtype="<i8", offset=64, count=2)
        view[:] = [0, 48]
        with pytest.raises(ap.FieldValueError):
            seal(shared, view, 1)
    """)


def test_rule_table_publish_checks_type_version_and_tails(tmp_path):
    run_isolated(tmp_path, """
        import pytest
        import alphapulse_codec as ap
        from frames import zeroed_frame
        from alphapulse_codec.wire._codec import DEFAULT_RULE_TABLE, EXTRA_KINDS, RuleTable
        none = EXTRA_KINDS["none"]
        trade = ap.Trade.layout.body_size
        for message_type in (100000, 256, -1):
            with pytest.raises(ValueError, match="not in 0..255"):
                DEFAULT_RULE_TABLE.publish(message_type, {}, {})
        for version in (256, -1, 1 << 40):
            with pytest.raises(ValueError, match="a version is an int in 0..255"):
                DEFAULT_RULE_TABLE.publish(1, {version: (1, trade, none, (), -1, 0)}, {1: ap.Trade})
        table = RuleTable()
        three = ((0, 1, 1), (1, 1, 1), (2, 1, 1))
        with pytest.raises(ValueError, match="3 tails, a layout has at most 2"):
            table.publish(210, {1: (1, 16, none, three, -1, 0)}, {1: ap.RuntimeMessage})
        for bad in [(1, 16, none, ((15, 2, 1),), -1, 0), (1, 16, none, ((0, 3, 1),), -1, 0),
                    (1, 16, none, (), 13, 0), (1, 16, 7, (), -1, 0), (300, 16, none, (), -1, 0)]:
            with pytest.raises(ValueError):
                table.publish(210, {1: bad}, {1: ap.RuntimeMessage, 300: ap.RuntimeMessage})
        with pytest.raises(ValueError, match="conflict 2 is not an int in 0..1"):
            table.publish(210, {1: (1, 16, none, (), -1, 2)}, {1: ap.RuntimeMessage})
        for cls in (int, None, object):
            with pytest.raises(TypeError, match="not a message class"):
                table.publish(210, {1: (1, 16, none, (), -1, 0)}, {1: cls})
        with pytest.raises(ValueError, match="reads 144 bytes of fixed part"):
            table.publish(45, {1: (1, 0, none, (), -1, 0)}, {1: ap.ExecutionReport})
        # the default table still decodes
        assert ap.decode(zeroed_frame(ap.Trade, price=3)).price == 3
    """)


def test_schema_field_takes_at_most_two_tails(tmp_path):
    run_isolated(tmp_path, """
        import pytest
        from alphapulse_codec.wire._codec import SchemaField
        counts = ((32, 1), (33, 1), (34, 1))
        with pytest.raises(ValueError, match="takes 1 to 2 count fields, got 3"):
            SchemaField("t", 40, 0, "utf8_tail", "", "X.t", 40, counts)
        for args in [("f", -8, 8, "uint", 0, "X.f"), ("f", 32, 100, "uint", 0, "X.f"),
                     ("f", 32, 8, "u128", 0, "X.f"), ("f", 32, 8, "nope", 0, "X.f"),
                     ("t", 40, 0, "utf8_tail", "", "X.t", 40, ((39, 4),)),
                     ("t", 40, 0, "utf8_tail", "", "X.t", 40, ((32, 8),))]:
            with pytest.raises(ValueError):
                SchemaField(*args)
    """)


def test_batch_decoder_refuses_use_from_another_thread_during_feed(tmp_path):
    run_isolated(tmp_path, """
        import threading
        import pytest
        import alphapulse_codec as ap
        from frames import zeroed_frame
        from alphapulse_codec.wire._codec import BatchDecoder
        inside, release = threading.Event(), threading.Event()
        def watched(frame, offset):  # runs inside feed(), which holds the decoder
            inside.set()
            release.wait(60)
        decoder = BatchDecoder(watch_type=int(ap.MessageType.Heartbeat), on_watched=watched)
        capture = zeroed_frame(ap.Trade, price=1) + zeroed_frame(ap.Heartbeat) + zeroed_frame(ap.Trade, price=2)
        feeding = threading.Thread(target=decoder.feed, args=(capture,))
        feeding.start()
        assert inside.wait(60)
        try:
            for use in (decoder.take, lambda: decoder.feed(capture)):
                with pytest.raises(RuntimeError, match="BatchDecoder is in use by another thread"):
                    use()
        finally:
            release.set()
            feeding.join()
        assert decoder.frames == 3
        decoded, _ = decoder.take()
        assert len(decoded) == 2

        # many threads at once: some calls are refused, none crashes
        capture = b"".join(zeroed_frame(ap.Trade, sequence=i) for i in range(200_000))
        decoder = BatchDecoder()
        refused = []
        def hammer(use):
            for _ in range(20):
                try:
                    use()
                except RuntimeError:
                    refused.append(use)
        threads = [threading.Thread(target=hammer, args=(lambda: decoder.feed(capture),)),
                   threading.Thread(target=hammer, args=(decoder.take,))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert refused
    """)


# ------------------------------------------------------------------ everything, hostile

def hostile_values() -> list[object]:
    frame = zeroed_frame(ap.Trade, price=1, tlv=[ap.RawTLV(9, b"x")])
    book = zeroed_frame(ap.OrderBook, bids=[(1, 2)], asks=[(3, 4)])
    readonly = np.frombuffer(frame, dtype=np.uint8)
    misaligned = np.frombuffer(bytearray(8 * 4 + 1), dtype="<i8", offset=1, count=4)
    return [
        None, True, 0, 1, -1, 7, 255, 256, 65536, 1 << 31, (1 << 63) - 1, 1 << 63, -(1 << 63) - 1,
        1 << 64, 10 ** 40, -(10 ** 40), 1.5, float("nan"), "", "x", "0x" + "ab" * 20, "\udcff",
        b"", b"\x00" * 7, b"\xef\xbe\xad\xde" + b"\xff" * 60, frame, bytearray(frame),
        memoryview(frame), bytearray(book), memoryview(bytearray(book))[3:], readonly,
        np.frombuffer(bytearray(frame), dtype=np.uint8), np.empty(0, dtype=np.uint8),
        np.empty(0, dtype="<i8"), misaligned, np.array([0, 1 << 40], dtype="<i8"),
        np.array([64, 0], dtype="<i8"), np.zeros(128, dtype=np.uint8)[::2],
        np.zeros((2, 32), dtype=np.uint8), object(), [], [(1, 2)], [(1, 2, 3)] * 3, (),
        ((0, 1, 1),) * 3, {}, {1: (1, 32, 2, (), -1)}, {1: ap.Trade}, {1: int},
        ap.Trade, ap.Message, int, ap.InstrumentId(), ap.decode(frame),
        ap.Trade.__new__(ap.Trade), ap.RawTLV(1, b"x" * 42), ap.Registry(builtins=False),
    ]


def _is_ours(obj: object) -> bool:
    return (getattr(obj, "__module__", "") or "").startswith("alphapulse_codec")


def _classes() -> list[type]:
    names = [getattr(ap, name) for name in ap.__all__] + list(vars(_codec).values())
    return list({id(c): c for c in names if isinstance(c, type) and _is_ours(c)}.values())


def _callables(namespace: dict[str, object]) -> list[tuple[str, object]]:
    return [(name, obj) for name, obj in namespace.items()
            if callable(obj) and not inspect.ismodule(obj)]


# a benchmark helper whose argument is a number of iterations: a huge one is slow, not unsafe
SLOW = {"count_lookups"}


def _call(function: object, args: tuple[object, ...], kwargs: dict[str, object] | None = None) -> None:
    try:
        result = function(*args, **(kwargs or {}))  # type: ignore[operator]
        if isinstance(result, ap.FrameIterator):
            list(itertools.islice(result, 4))
        elif isinstance(result, ap.Message):
            repr(result)
            result.tlv
    except (Exception, SystemExit):
        # any Python exception is an answer; a crash of the interpreter is not
        pass


def _sweep(function: object, values: list[object], rng: random.Random, triples: int) -> None:
    _call(function, ())
    for value in values:
        _call(function, (value,))
    for pair in itertools.product(values, repeat=2):
        _call(function, pair)
    for _ in range(triples):
        _call(function, tuple(rng.choice(values) for _ in range(3)))


def _methods(obj: object) -> list[object]:
    found = []
    for name in dir(obj):
        if name in SLOW or (name.startswith("__") and name not in (
                "__eq__", "__hash__", "__repr__", "__bytes__", "__reduce__", "__init__",
                "__get__", "__next__", "__iter__", "__getbuffer__")):
            continue
        try:
            found.append(getattr(obj, name))
        except Exception:
            pass
    return [m for m in found if callable(m)]


def group_new(rng: random.Random) -> None:
    """Every class, made by __new__ and not initialised, then used."""
    values = hostile_values()
    for cls in _classes():
        try:
            obj = cls.__new__(cls)
        except Exception:
            continue
        for action in (repr, hash, bytes, pickle.dumps, lambda o: o == o, list):
            _call(action, (obj,))
        for method in _methods(obj):
            _call(method, ())
            for value in values:
                _call(method, (value,))
            for _ in range(60):
                _call(method, (rng.choice(values), rng.choice(values)))


def group_package(rng: random.Random) -> None:
    """Every callable that alphapulse_codec exports."""
    values = hostile_values()
    for name, function in _callables({name: getattr(ap, name) for name in ap.__all__}):
        _sweep(function, values, rng, triples=150)
        for keyword in ("max_frame_size", "registry", "verify", "version", "message_type"):
            for value in values:
                _call(function, (zeroed_frame(ap.Trade, price=1),), {keyword: value})


def group_codec(rng: random.Random) -> None:
    """Every callable of the compiled core, private ones included."""
    values = hostile_values()
    for name, function in _callables(dict(vars(_codec))):
        if name in SLOW:
            continue
        _sweep(function, values, rng, triples=300)


def group_instances(rng: random.Random) -> None:
    """The methods of working instances: messages of every type, decoders, tables, fields."""
    from alphapulse_codec.samples.session import build_session  # noqa: PLC0415
    values = hostile_values()
    frames = build_session(300)
    instances: list[object] = []
    for frame in frames[::5]:
        instances += [ap.decode(frame), ap.decode(bytearray(frame))]
    instances += [_codec.RuleTable(), _codec.BatchDecoder(), ap.iter_frames(b"".join(frames)),
                  _codec.SchemaField("f", 32, 4, "uint", 0, "X.f"), ap.InstrumentId(),
                  ap.Registry()]
    for obj in instances:
        for method in _methods(obj):
            _call(method, ())
            for value in values:
                _call(method, (value,))
            for _ in range(80):
                _call(method, (rng.choice(values), rng.choice(values)))
    for cls in ap.MESSAGE_CLASSES.values():
        message = next((m for m in instances if type(m) is cls), None)
        for name in cls.layout.builder_fields + ("sequence", "timestamp", "source", "tlv"):
            for value in values:  # the other required fields given, so that `value` is read
                _call(cls, (), zeros(cls) | {name: value})
                _call(cls.encode, (), zeros(cls) | {name: value})
                if message is not None:
                    _call(message.replace, (), {name: value})


def group_mutated_views(rng: random.Random) -> None:
    """Views whose buffers are overwritten at random after decode, read in every way."""
    from alphapulse_codec.samples.session import build_session  # noqa: PLC0415
    for frame in build_session(300):
        message = ap.decode(frame)
        buffer = np.frombuffer(bytearray(frame), dtype=np.uint8)
        view = ap.decode(buffer)
        for _ in range(40):
            buffer[rng.randrange(len(frame))] = rng.randrange(256)
            for read in (repr, lambda v: v.tlv, lambda v: v.fields(), lambda v: v.header.payload_size,
                         lambda v: v.to_bytes(), lambda v: v.find_tlv(1), lambda v: v == message):
                try:
                    read(view)
                except ap.ParseError:
                    pass


GROUPS = {"new": group_new, "package": group_package, "codec": group_codec,
          "instances": group_instances, "mutated_views": group_mutated_views}


@pytest.mark.parametrize("group", GROUPS)
def test_hostile_callers_get_exceptions_not_crashes(tmp_path, group):
    run_isolated(tmp_path, f"""
        import random
        import test_hostile_callers as t
        t.GROUPS[{group!r}](random.Random(8))
        print("survived")
    """)
