"""Write the seed corpus of every target into fuzz/corpus/TARGET/: one frame of every message
type (from the sample session), frames sliced from the shared vectors (../shared/vectors/*.bin,
when present), a few captures, schema announcements. Run again to refresh; names are content
hashes, so a rerun adds nothing twice."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import alphapulse_codec as ap  # noqa: E402
from alphapulse_codec.samples.session import build_session  # noqa: E402

VECTORS = HERE.parent.parent / "shared" / "vectors"
PER_VECTOR_FILE = 60   # frames taken from each vector file, spread over it


def _frames_of(data: bytes) -> list[bytes]:
    out = []
    iterator = ap.iter_frames(data, verify=False)
    try:
        for message in iterator:
            out.append(message.to_bytes())
    except ap.ParseError:
        pass
    return out


def seeds() -> dict[str, list[bytes]]:
    frames = build_session(400)
    by_type = {}
    for frame in frames:
        by_type.setdefault(frame[4], frame)
    singles = list(by_type.values())
    for path in sorted(VECTORS.glob("*.bin")) if VECTORS.is_dir() else []:
        found = _frames_of(path.read_bytes())
        step = max(1, len(found) // PER_VECTOR_FILE)
        singles += found[::step][:PER_VECTOR_FILE]
    schema = ap.Schema(message_type=201, version=1, name="MomentumSignal",
                       fields=[("instrument_id", "instrument_id"), ("score", "i32"),
                               ("horizon_s", "u32", 60)])
    tailed = ap.Schema(message_type=230, version=1, name="Noted",
                       fields=[("n", "u16")], tail=[("note", "n", "utf8")])
    announcements = [schema.announce(), tailed.announce()]
    captures = [b"".join(singles[i:i + 5]) for i in range(0, len(singles), 5)]
    captures += [announcements[1] + ap.Registry().register(tailed)(note="hi").to_bytes()]
    captures += [b"".join(singles[:3]) + b"\x00garbage\xef\xbe\xad\xde" + b"".join(singles[3:6])]
    return {
        "decode": singles + announcements,
        "iter_frames": captures,
        "decode_batch": captures,
        "streaming": [bytes([40, 90, 160, 250]) + c for c in captures],
        "learn": announcements + singles[:10],
    }


def main() -> None:
    for target, inputs in seeds().items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f"{target}: {len(list(folder.iterdir()))} files")


if __name__ == "__main__":
    main()
