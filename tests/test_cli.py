"""The command line: every subcommand, and one-line errors with the right exit code."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import alphapulse_codec as ap
from alphapulse_codec.cli import main
from matching import assert_contains
from frames import zeroed

DATA = Path(__file__).parent / "data"
VECTORS = DATA / "peer-v1.bin"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alphapulse: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_decode_jsonl_matches_the_vectors(capsys, vector_objects):
    code, out, _ = run(capsys, "decode", str(VECTORS), "--format", "jsonl")
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    assert len(got) == 600
    for i, (expected, mine) in enumerate(zip(vector_objects, got)):
        assert_contains(expected, mine, f"frame{i}")


def test_encode_reproduces_the_vectors(capsys, tmp_path, vector_bytes):
    out = tmp_path / "frames.bin"
    code, _, _ = run(capsys, "encode", "--from-jsonl", str(DATA / "peer-v1.jsonl"), "-o", str(out))
    assert code == 0 and out.read_bytes() == vector_bytes


def test_inspect_shows_one_row_per_frame_and_a_hex_dump(capsys):
    code, out, _ = run(capsys, "inspect", str(VECTORS), "--limit", "3", "--hex")
    assert code == 0
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit() and "  " in line[:6]]
    assert "LiquidityImbalance" in out and "PoolDiscovered" in out and "MEVOpportunity" in out
    assert "2023-11-14T22:26:40.791963567Z" in out and "MomentumStrategy" in out
    assert "00000000  ef be ad de 1f 01 29 00" in out
    assert "frame 2 (MEVOpportunity) at byte 271:" in out and "Trade" not in out
    assert len(rows) >= 3


def test_demo_writes_a_capture_that_decodes(capsys, tmp_path):
    capture = tmp_path / "demo.bin"
    code, out, _ = run(capsys, "demo", "-o", str(capture), "--frames", "300")
    assert code == 0 and "round trip: every frame decoded" in out
    messages = list(ap.iter_frames(capture.read_bytes()))
    assert {type(m) for m in messages} == set(ap.MESSAGE_CLASSES.values())


def test_generate_stats_and_batch_decode(capsys, tmp_path):
    capture = tmp_path / "synthetic.bin"
    assert run(capsys, "generate", "--frames", "20000", "-o", str(capture))[0] == 0
    code, out, _ = run(capsys, "stats", str(capture))
    assert code == 0 and "20,000 frames" in out and "AlpacaCollector" in out
    for suffix in ("parquet", "csv", "npz", "jsonl"):
        code, _, err = run(capsys, "decode", str(capture), "--to", str(tmp_path / f"out.{suffix}"),
                           "--types", "Trade")
        assert code == 0, err
    rows = np.load(tmp_path / "out.npz")["Trade"]
    assert len(rows) == len(ap.decode_batch(capture, types=["Trade"])[ap.MessageType.Trade])


def test_batch_decode_reports_bad_stretches_and_keeps_the_rest(capsys, tmp_path, vector_bytes):
    capture = tmp_path / "damaged.bin"
    capture.write_bytes(vector_bytes[:447] + b"noise" + vector_bytes[447:])  # between frames
    code, _, err = run(capsys, "decode", str(capture), "--to", str(tmp_path / "out.jsonl"))
    assert code == 1 and "alphapulse: bad stretch: 5 bytes at byte 447, bad_magic\n" in err
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 600
    code, out, err = run(capsys, "stats", str(capture))
    assert code == 1 and err == "alphapulse: bad stretch: 5 bytes at byte 447, bad_magic\n"
    assert "600 frames" in out


@pytest.mark.parametrize("argv, code, message", [
    (["decode", "/no/such/capture"], 2, "cannot read /no/such/capture"),
    (["stats", "/no/such/capture"], 2, "cannot read /no/such/capture"),
    (["inspect", "/no/such/capture"], 2, "cannot read"),
    (["encode", "--from-jsonl", "/no/such.jsonl", "-o", "/tmp/x.bin"], 2, "cannot read"),
    (["decode", str(VECTORS), "--to", "/tmp/out.xls"], 2, "'.xls' is no export format; end the"
     " name with one of .parquet, .arrow, .csv, .npz, .jsonl"),
    (["decode", str(VECTORS), "--to", "/tmp/out"], 2, "no suffix tells the format"),
    (["decode", str(VECTORS), "--to", "/tmp/o.npz", "--types", "Trad"], 2, "unknown message type 'Trad'"),
])
def test_unreadable_input_and_bad_arguments(capsys, argv, code, message):
    got, _, err = run(capsys, *argv)
    assert got == code and message in one_line_error(err)


def test_a_flipped_byte_is_reported_with_its_offset(capsys, tmp_path, vector_bytes):
    capture = tmp_path / "flipped.bin"
    damaged = bytearray(vector_bytes)
    damaged[300] ^= 0xFF  # inside the third frame, which starts at byte 271
    capture.write_bytes(bytes(damaged))
    code, out, err = run(capsys, "decode", str(capture))
    assert code == 1 and len(out.splitlines()) == 599  # every frame but that one
    assert err == "alphapulse: bad stretch: 112 bytes at byte 271, checksum_mismatch\n"


def test_a_truncated_capture(capsys, tmp_path, vector_bytes):
    capture = tmp_path / "cut.bin"
    capture.write_bytes(vector_bytes[:-10])
    code, out, err = run(capsys, "inspect", str(capture))
    stretch = f"bad stretch: 94 bytes at byte {len(vector_bytes) - 104}, truncated"  # the last frame
    assert code == 1 and err == f"alphapulse: {stretch}\n" and out.splitlines()[-1] == stretch


TRADE_LINE = ('{"type": "Trade", "header": {"sequence": 1, "timestamp": 2, "source": 3},'
              ' "instrument_id": {"venue": 2, "asset_type": 1, "reserved": 0, "asset_id": 1},'
              ' "price": 4, "volume": 5, "side": 1, "flags": 0}')


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 2: Expecting property name"),
    ('{"type": "Trad", "header": {}}', "line 2: type: 'Trad' is not a message type"),
    (TRADE_LINE.replace('"price": 4', '"price": 99999999999999999999'),
     "line 2: Trade.price (frame offset 44, i64)"),
    ('{"type": "Trade", "prcie": 1}', "line 2: Trade: unknown field 'prcie'"),
    ('{"type": "Trade", "header": {}}', "line 2: header: missing field 'sequence'"),
    (TRADE_LINE.replace('"price": 4', '"price": true'),
     "line 2: Trade.price: expected a number, got true"),
    (TRADE_LINE.replace('"sequence": 1', '"sequence": false'),
     "line 2: header.sequence: expected a number, got false"),
    (TRADE_LINE.replace('"venue": 2', '"venue": true'),
     "line 2: Trade.instrument_id.venue: expected a number, got true"),
])
def test_bad_json_lines_name_the_line(capsys, tmp_path, line, message):
    source = tmp_path / "frames.jsonl"
    source.write_text(TRADE_LINE + "\n" + line + "\n")
    code, _, err = run(capsys, "encode", "--from-jsonl", str(source), "-o", str(tmp_path / "o.bin"))
    assert code == 1 and message in one_line_error(err)


def test_as_a_process_there_is_no_traceback(tmp_path, vector_bytes):
    capture = tmp_path / "bad.bin"
    capture.write_bytes(b"\x00" * 40)
    result = subprocess.run([sys.executable, "-m", "alphapulse_codec", "decode", str(capture)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == "alphapulse: bad stretch: 40 bytes at byte 0, bad_magic\n"
    ok = subprocess.run([sys.executable, "-m", "alphapulse_codec", "decode", str(VECTORS)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == 600


@pytest.mark.parametrize("command", [["stats"], ["decode", "--to", "OUT.npz"], ["inspect"],
                                     ["decode"]])
def test_any_frame_size_limit_is_answered_without_a_traceback(tmp_path, vector_bytes, command):
    capture = tmp_path / "v.bin"
    capture.write_bytes(vector_bytes)
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    result = subprocess.run([sys.executable, "-m", "alphapulse_codec", *argv, str(capture),
                             "--max-frame-size", "99999999999999"], capture_output=True, text=True)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_deeply_nested_json_is_one_line(capsys, tmp_path):
    source = tmp_path / "deep.jsonl"
    source.write_text('{"type": "Trade", "price": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    code, _, err = run(capsys, "encode", "--from-jsonl", str(source), "-o", str(tmp_path / "o.bin"))
    assert code == 1 and "line 1: the JSON nests too deeply" in one_line_error(err)


def test_a_malformed_yaml_schema_file_is_one_line(capsys, tmp_path, vector_bytes):
    schemas = tmp_path / "bad.yaml"
    schemas.write_text("schemas:\n  - name: [unclosed\n    fields: {\n")
    capture = tmp_path / "v.bin"
    capture.write_bytes(vector_bytes)
    code, _, err = run(capsys, "decode", str(capture), "--schemas", str(schemas))
    assert code == 2 and one_line_error(err).startswith("alphapulse: error: --schemas:")


def test_the_commands_never_change_the_default_registry(capsys, tmp_path):
    announced = ap.Schema(message_type=233, version=1, name="CliOnly", fields=[("x", "u32")])
    capture = tmp_path / "announced.bin"
    capture.write_bytes(announced.announce() + ap.Registry().register(announced)(x=5).to_bytes())
    for argv in (["decode", str(capture)], ["inspect", str(capture)], ["stats", str(capture)],
                 ["decode", str(capture), "--to", str(tmp_path / "o.npz")]):
        assert run(capsys, *argv)[0] == 0
    assert 233 not in ap.schemas.default


def cli(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alphapulse_codec", *argv], input=stdin,
                          capture_output=True, text=stdin is None)


def decoded_types(out: str) -> set[str]:
    return {json.loads(line)["type"] for line in out.splitlines()}


@pytest.mark.parametrize("types", [["--types", "Trade,Quote"], ["--types", "trade", "--types", "QUOTE"],
                                   ["--types", "Trade, quote"],
                                   ["--types", f"{int(ap.MessageType.Trade)},quote"]])
def test_jsonl_decode_honours_types_in_any_case_comma_separated_or_repeated(capsys, types):
    code, out, _ = run(capsys, "decode", str(VECTORS), *types)
    assert code == 0 and decoded_types(out) == {"Trade", "Quote"}


def test_types_before_the_capture_leave_the_capture_alone():
    result = cli("decode", "--types", "Trade", "Quote", str(VECTORS))
    assert result.returncode == 2 and result.stderr.endswith(
        f"error: unrecognized arguments: {VECTORS} (--types takes one value; several are"
        " comma-separated: --types Trade,Quote)\n")
    result = cli("decode", "--types", "Trade", str(VECTORS))
    assert result.returncode == 0 and decoded_types(result.stdout) == {"Trade"}


@pytest.mark.parametrize("command", [["decode"], ["decode", "--to", "/tmp/never.npz"], ["inspect"],
                                     ["stats"]])
def test_an_unknown_type_name_exits_2_and_suggests(command):
    result = cli(*command, str(VECTORS), "--types", "Trad")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = one_line_error(result.stderr)
    assert "unknown message type 'Trad' (did you mean Trade?)" in line and "Quote" in line


def test_types_take_run_time_schema_names(capsys, tmp_path):
    schema = ap.Schema(message_type=234, version=1, name="Tick", fields=[("x", "u32")])
    registry = ap.Registry()
    capture = tmp_path / "ticks.bin"
    capture.write_bytes(registry.register(schema)(x=1).to_bytes() + zeroed(ap.Trade, price=2).to_bytes())
    schemas = tmp_path / "schemas.json"
    registry.save(schemas)
    code, out, _ = run(capsys, "decode", str(capture), "--schemas", str(schemas), "--types", "tick")
    assert code == 0 and decoded_types(out) == {"Tick"}


@pytest.mark.parametrize("argv", [
    ["inspect", str(VECTORS), "--limit", "0"],
    ["inspect", str(VECTORS), "--limit", "-1"],
    ["inspect", str(VECTORS), "--limit", "many"],
    ["generate", "--frames", "-5", "-o", "OUT.bin"],
    ["generate", "--frames", "0", "-o", "OUT.bin"],
    ["generate", "--frames", "5", "--seed", "-1", "-o", "OUT.bin"],
    ["generate", "--frames", "5", "--seed", "x", "-o", "OUT.bin"],
    ["decode", str(VECTORS), "--to", "OUT.xls"],
    ["decode", str(VECTORS), "--to", "OUT"],
    ["demo", "--frames", "0", "-o", "OUT.bin"],
    ["decode", str(VECTORS), "--max-frame-size", "0"],
    ["decode", str(VECTORS), "--chunk-bytes", "100"],
    ["decode", str(VECTORS), "--chunk-bytes", "99999999999999"],
    ["stats", str(VECTORS), "--chunk-bytes", str((1 << 30) + 1)],
    ["decode", str(VECTORS), "-o", "OUT.jsonl", "--to", "OUT.npz"],
    ["decode"],
    ["stats", str(VECTORS), "--no-such-option"],
])
def test_bad_arguments_exit_2_without_a_traceback(tmp_path, argv):
    result = cli(*[a.replace("OUT", str(tmp_path / "out")) for a in argv])
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())


def test_contradictory_outputs_are_named(capsys):
    code, _, err = run(capsys, "decode", str(VECTORS), "-o", "a.jsonl", "--to", "b.npz")
    assert code == 2 and "-o and --to both name an output" in one_line_error(err)


@pytest.mark.parametrize("limit", [1, 5])
def test_inspect_limit_prints_that_many_frames(capsys, limit):
    code, out, _ = run(capsys, "inspect", str(VECTORS), "--limit", str(limit))
    assert code == 0 and len(out.splitlines()) == 1 + limit


def _fail_after(module, name, monkeypatch):
    """Make `module.name` write part of its output, then fail."""
    real = getattr(module, name)

    def failing(*args, **kwargs):
        real(*args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, name, failing)


def test_a_failed_encode_leaves_no_file_and_an_existing_one_untouched(capsys, tmp_path):
    source = tmp_path / "frames.jsonl"
    source.write_text((DATA / "peer-v1.jsonl").read_text() + "{not json\n")
    fresh, existing = tmp_path / "fresh.bin", tmp_path / "existing.bin"
    existing.write_bytes(b"keep me")
    for out in (fresh, existing):
        code, _, _ = run(capsys, "encode", "--from-jsonl", str(source), "-o", str(out))
        assert code == 1
    assert not fresh.exists() and existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.bin", "frames.jsonl"]


def test_failed_outputs_leave_nothing_half_written(capsys, tmp_path, monkeypatch):
    from alphapulse_codec.capture import export
    from alphapulse_codec.cli import samples

    _fail_after(export._TableWriter, "write", monkeypatch)
    _fail_after(samples, "write_capture", monkeypatch)
    existing = tmp_path / "out.Trade.csv"
    existing.write_text("keep me")
    for argv in (["decode", str(VECTORS), "--to", str(tmp_path / "out.csv")],
                 ["generate", "--frames", "100", "-o", str(tmp_path / "gen.bin")]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "No space left on device" in one_line_error(err)
    assert [p.name for p in tmp_path.iterdir()] == ["out.Trade.csv"]
    assert existing.read_text() == "keep me"


def test_outputs_get_the_usual_permissions(capsys, tmp_path):
    out = tmp_path / "out.jsonl"
    assert run(capsys, "decode", str(VECTORS), "-o", str(out))[0] == 0
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask and len(out.read_text().splitlines()) == 600


def test_an_output_in_a_missing_directory_is_one_line(capsys):
    code, _, err = run(capsys, "decode", str(VECTORS), "-o", "/no/such/dir/out.jsonl")
    assert code == 2 and "cannot write /no/such/dir/out.jsonl" in one_line_error(err)
    code, _, err = run(capsys, "decode", str(VECTORS), "--to", "/no/such/dir/out.csv")
    assert code == 2 and "cannot write /no/such/dir/out.csv: no directory" in one_line_error(err)


@pytest.mark.parametrize("argv", [
    ["decode", str(VECTORS), "-o", "DIR"],
    ["decode", str(VECTORS), "--to", "DIR"],
    ["encode", "--from-jsonl", str(DATA / "peer-v1.jsonl"), "-o", "DIR"],
    ["generate", "--frames", "10", "-o", "DIR"],
    ["demo", "--frames", "40", "-o", "DIR"],
])
def test_an_output_that_is_a_directory_is_refused_in_the_users_words(capsys, tmp_path, argv):
    directory = tmp_path / "out.csv"  # a suffix --to takes: the directory is what is refused
    directory.mkdir()
    code, _, err = run(capsys, *[str(directory) if a == "DIR" else a for a in argv])
    assert code == 2
    assert one_line_error(err) == f"alphapulse: error: cannot write {directory}: it is a directory"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"] and not any(directory.iterdir())


def test_a_bad_export_target_is_refused_before_the_capture_is_read(tmp_path):
    # stdin is a pipe that is never written nor closed: reading it would wait for ever
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              stdout=subprocess.PIPE)
    try:
        for target in ("out.xls", "out"):
            result = subprocess.run([sys.executable, "-m", "alphapulse_codec", "decode", "-", "--to",
                                     str(tmp_path / target)], stdin=writer.stdout,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 2 and "Traceback" not in result.stderr
    finally:
        writer.kill()
        writer.wait()
    assert not list(tmp_path.iterdir())


def test_encode_of_bytes_that_are_not_text_names_the_line(capsys, tmp_path):
    code, _, err = run(capsys, "encode", "--from-jsonl", str(VECTORS), "-o", str(tmp_path / "o.bin"))
    assert code == 1
    assert one_line_error(err) == ("alphapulse: error: line 1: not UTF-8 text (byte 0xde at"
                                   " column 4): JSON lines were expected")
    assert not list(tmp_path.iterdir())


def _commands():
    from alphapulse_codec.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, commands.choices


def test_help_has_descriptions_examples_and_help_for_every_option():
    parser, commands = _commands()
    assert set(commands) == {"decode", "encode", "inspect", "stats", "generate", "demo", "relay",
                             "record", "replay", "top", "config"}
    nested = [(f"{name} {action_name}", action_parser) for name, command in commands.items()
              for action in command._actions if isinstance(action, argparse._SubParsersAction)
              for action_name, action_parser in action.choices.items()]
    assert [name for name, _ in nested] == ["config check"]
    for name, command in [("alphapulse", parser), *commands.items(), *nested]:
        text = command.format_help()
        assert "`" not in text, name
        assert "examples:\n  alphapulse " in text, name
        assert command.description, name
        for action in command._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


def test_help_as_a_process():
    result = cli("decode", "--help")
    assert result.returncode == 0 and "examples:" in result.stdout and "`" not in result.stdout
    assert "--types TYPES" in result.stdout and "- for stdin" in result.stdout


def test_a_terminated_command_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "big.bin"
    process = subprocess.Popen([sys.executable, "-m", "alphapulse_codec", "generate", "--frames",
                                "100000000", "-o", str(out)], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):  # until its first bytes are written under the temporary name
            if any(f.stat().st_size for d in tmp_path.iterdir() for f in d.iterdir()):
                break
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        process.kill()
        process.wait()
    assert "Traceback" not in process.stderr.read() and not list(tmp_path.iterdir())


def closed(stream: str, *argv: str) -> subprocess.CompletedProcess:
    """The command run with stdin (`<&-`) or stdout (`>&-`) closed by the shell."""
    redirect = {"stdin": "<&-", "stdout": ">&-"}[stream]
    return subprocess.run(["sh", "-c", f'"$@" {redirect}', "sh", sys.executable, "-m",
                           "alphapulse_codec", *argv], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("argv", [["decode", "-"], ["inspect", "-"], ["stats", "-"],
                                  ["decode", "-", "--to", "OUT.npz"],
                                  ["encode", "--from-jsonl", "-", "-o", "OUT.bin"]])
def test_a_closed_stdin_is_named_in_one_line(tmp_path, argv):
    result = closed("stdin", *[a.replace("OUT", str(tmp_path / "out")) for a in argv])
    assert result.returncode == 2
    assert one_line_error(result.stderr) == \
        "alphapulse: error: stdin is closed: name a file instead of -"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [["decode", "CAPTURE"], ["inspect", "CAPTURE"],
                                  ["stats", "CAPTURE"],
                                  ["encode", "--from-jsonl", "JSONL", "-o", "-"]])
def test_a_closed_stdout_is_named_in_one_line(argv):
    argv = [{"CAPTURE": str(VECTORS), "JSONL": str(DATA / "peer-v1.jsonl")}.get(a, a)
            for a in argv]
    result = closed("stdout", *argv)
    assert result.returncode == 2
    assert one_line_error(result.stderr) == "alphapulse: error: stdout is closed"


def test_a_closed_stdout_is_no_matter_when_the_output_is_a_file(tmp_path):
    out = tmp_path / "out.jsonl"
    result = closed("stdout", "decode", str(VECTORS), "-o", str(out))
    assert result.returncode == 0 and result.stderr == ""
    assert len(out.read_text().splitlines()) == 600


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["decode", str(VECTORS)], ["stats", str(VECTORS)],
                                  ["encode", "--from-jsonl", str(DATA / "peer-v1.jsonl"),
                                   "-o", "-"]])
def test_a_full_stdout_is_named(argv):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "alphapulse_codec", *argv], stdout=full,
                                stderr=subprocess.PIPE, text=True)
    assert result.returncode == 2
    assert one_line_error(result.stderr) == \
        "alphapulse: error: cannot write stdout: No space left on device"


def test_generate_refuses_more_frames_than_its_bound_before_writing(tmp_path):
    out = tmp_path / "huge.bin"
    result = cli("generate", "--frames", "99999999999999999999999", "-o", str(out))
    assert result.returncode == 2 and not list(tmp_path.iterdir())
    assert "Traceback" not in result.stderr and result.stderr.strip().splitlines()[-1] == (
        "alphapulse generate: error: argument --frames: must be at most 1,000,000,000, got"
        " 99,999,999,999,999,999,999,999")
    assert "from 1 to 1,000,000,000" in cli("generate", "--help").stdout
    result = cli("demo", "--frames", "1000001", "-o", str(out))
    assert result.returncode == 2 and not list(tmp_path.iterdir())
    assert result.stderr.strip().splitlines()[-1] == (
        "alphapulse demo: error: argument --frames: must be at most 1,000,000, got 1,000,001")


@pytest.mark.parametrize("argv, expected", [
    (["top", "--duration"], "a number of seconds from 0.001 to 31,536,000"),
    (["record", "--domain", "market_data", "-o", "OUT.bin", "--duration"],
     "a number of seconds from 0.001 to 31,536,000"),
    (["demo", "--relays", "--seconds"], "a number of seconds from 0.1 to 600"),
    (["replay", "CAPTURE", "--domain", "market_data", "--rate"],
     "a number of frames per second from 0.001 to 1,000,000,000"),
    (["replay", "CAPTURE", "--domain", "market_data", "--speed"],
     "a number of times the recorded pace from 0.001 to 1,000,000"),
])
@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "1e400", "soon"])
def test_every_time_and_rate_argument_is_finite_and_in_range(tmp_path, argv, expected, value):
    argv = [{"OUT.bin": str(tmp_path / "out.bin"), "CAPTURE": str(VECTORS)}.get(a, a)
            for a in argv]
    result = cli(*argv, value)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    name = argv[-1]
    got = repr(value) if value == "soon" else value
    assert result.stderr.strip().splitlines()[-1].endswith(
        f"error: argument {name}: expected {expected}, got {got}")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("option", [["--prices", "decimal"], ["--prices", "float"], ["--raw"]])
def test_batch_options_without_to_are_refused(capsys, option):
    code, out, err = run(capsys, "decode", str(VECTORS), *option)
    assert code == 2 and out == ""
    assert one_line_error(err) == (f"alphapulse: error: {option[0]} applies to --to (a columnar"
                                   " file); JSON lines follow the shared JSON mapping")


@pytest.mark.parametrize("suffix", ["parquet", "arrow", "csv", "npz"])
def test_decode_to_of_no_frames_says_no_file_was_written(capsys, tmp_path, suffix):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    out = tmp_path / f"e.{suffix}"
    code, _, err = run(capsys, "decode", str(empty), "--to", str(out))
    assert code == 1 and not out.exists()
    assert err == f"alphapulse: no file written to {out}: the capture held no frames\n"
    trade = tmp_path / "trade.bin"
    trade.write_bytes(zeroed(ap.Trade, price=2).to_bytes())
    code, _, err = run(capsys, "decode", str(trade), "--to", str(out), "--types", "Quote")
    assert code == 1 and not out.exists()
    assert err == f"alphapulse: no file written to {out}: the capture held none of --types\n"
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    code, _, err = run(capsys, "decode", str(garbage), "--to", str(out))
    assert code == 1 and not out.exists() and list(tmp_path.glob(".e.*")) == []
    assert f"alphapulse: no file written to {out}: the capture held no frames\n" in err


def test_decode_to_counts_in_words(capsys, tmp_path):
    capture = tmp_path / "one.bin"
    capture.write_bytes(zeroed(ap.Trade, price=2).to_bytes())
    out = tmp_path / "one.npz"
    code, _, err = run(capsys, "decode", str(capture), "--to", str(out))
    assert code == 0 and err == f"1 frame written to {out}\n"
    code, _, err = run(capsys, "decode", str(VECTORS), "--to", str(tmp_path / "v.npz"))
    assert code == 0 and err == f"600 frames written to {tmp_path / 'v.npz'}\n"


def test_a_one_byte_stretch_is_one_byte(capsys, tmp_path):
    capture = tmp_path / "one.bin"
    capture.write_bytes(zeroed(ap.Trade, price=2).to_bytes() + b"\x00")
    code, _, err = run(capsys, "decode", str(capture))
    assert code == 1 and "bad stretch: 1 byte at byte " in err
