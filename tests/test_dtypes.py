"""numpy dtypes read frames exactly as the message classes do."""
from __future__ import annotations

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.wire.layouts import MESSAGES
from frames import zeroed_frame


def test_a_capture_of_one_type_reads_as_a_structured_array():
    iid = ap.InstrumentId.stock(ap.VenueId.NASDAQ, "MSFT")
    frames = [ap.Trade.encode(instrument_id=iid, price=-i, volume=i * 10, side=1 + i % 2,
                              sequence=i, timestamp=1000 + i) for i in range(50)]
    rows = np.frombuffer(b"".join(frames), dtype=ap.dtype(ap.MessageType.Trade))
    assert rows["header"]["sequence"].tolist() == list(range(50))
    assert rows["price"].tolist() == [-i for i in range(50)]
    assert set(rows["instrument_id"]["asset_id"].tolist()) == {iid.asset_id}
    assert (rows["header"]["magic"] == 0xDEADBEEF).all()


def test_vector_frames_read_the_same_through_the_dtype(vector_bytes):
    for message in ap.iter_frames(vector_bytes):
        layout = type(message).layout
        row = np.frombuffer(message.to_bytes()[:layout.frame_size], dtype=ap.dtype(layout.message_type))[0]
        assert row["header"]["checksum"] == message.header.checksum
        for f in layout.value_fields:
            value = getattr(message, f.name)
            if f.kind == "instrument_id":
                assert int(row[f.name]["asset_id"]) == value.asset_id
            elif f.type in ("u128", "i128"):
                assert ap.int128_to_int(np.array([row[f.name]]))[0] == value
            elif f.kind == "bytes":
                assert bytes(row[f.name]) == value
            else:
                assert int(row[f.name]) == value, f.name


def test_int128_to_int_is_exact():
    values = [0, 1, -1, 2**127 - 1, -(2**127), 12345678901234567890123456789]
    frames = b"".join(zeroed_frame(ap.DeFiSignal, expected_profit_q=v, amount_in_q=abs(v)) for v in values)
    rows = np.frombuffer(frames, dtype=ap.dtype(ap.MessageType.DeFiSignal))
    assert ap.int128_to_int(rows["expected_profit_q"]).tolist() == values
    assert ap.int128_to_int(rows["amount_in_q"]).tolist() == [abs(v) for v in values]


def test_unknown_type_has_no_dtype():
    with pytest.raises(KeyError, match="no layout for message type 99"):
        ap.dtype(99)


def test_dtype_accepts_the_enum_the_number_and_the_name():
    assert ap.dtype(ap.MessageType.Quote) == ap.dtype(2) == ap.dtype("Quote")
    assert all(ap.dtype(t).itemsize == m.frame_size for t, m in MESSAGES.items())
    assert ap.dtype(np.uint8(1)) == ap.dtype("Trade")


@pytest.mark.parametrize("key, message", [
    ("Trdae", "no message type or schema named 'Trdae'"),
    (1.5, "no layout for message type 1.5"),
    (True, "no layout for message type True"),
    (None, "no layout for message type None"),
])
def test_dtype_of_what_names_no_type_is_refused_by_name(key, message):
    with pytest.raises(KeyError, match=message):
        ap.dtype(key)
