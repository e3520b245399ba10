"""The frames of an independent implementation decode to its values and re-encode to its bytes."""
from __future__ import annotations

import alphapulse_codec as ap
from alphapulse_codec.wire.jsonmap import from_json, to_json
from matching import assert_contains


def test_every_vector_frame_decodes_to_the_listed_values(vector_bytes, vector_objects):
    messages = list(ap.iter_frames(vector_bytes))
    assert len(messages) == len(vector_objects) == 600
    for i, (message, expected) in enumerate(zip(messages, vector_objects)):
        assert_contains(expected, to_json(message), f"frame{i}")


def test_every_vector_frame_re_encodes_byte_for_byte(vector_bytes, vector_objects):
    assert b"".join(from_json(obj) for obj in vector_objects) == vector_bytes


def test_single_frames_rebuild_through_their_class(vector_bytes):
    for message in ap.iter_frames(vector_bytes):
        assert message.replace().to_bytes() == message.to_bytes()
