"""The transports' configuration: the design's stage examples read as written there, every
transport's keys and defaults, and every bad file refused at its key's path and line."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from alphapulse_codec.relay.policy import DOMAINS
from alphapulse_codec.transport import Endpoint, TransportsConfig, load_config
from alphapulse_codec.transport.shm import ring_path
from alphapulse_codec.wire.errors import ConfigError

DESIGN = Path(__file__).parent / "data" / "design"
DESIGN_DIR = Path("/tmp/alphapulse")


def transports(config: TransportsConfig) -> dict[str, str]:
    return {domain: endpoint.transport for domain, endpoint in config.endpoints.items()}


def refused(source, **keywords) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(source, **keywords)
    return caught.value


def write(directory: Path, text: str) -> Path:
    path = directory / "transports.yml"
    path.write_text(text)
    return path


# ---- the design's examples, as written -------------------------------------------------------

def test_stage_1_every_domain_on_its_unix_socket(runtime_dir):
    config = load_config(DESIGN / "stage1_unix_sockets.yml", runtime_dir=runtime_dir)
    assert transports(config) == dict.fromkeys(DOMAINS, "unix_socket")
    assert config.endpoints["signals"].options["path"] == DESIGN_DIR / "signals.sock"
    assert config.endpoints["system"].options["path"] == runtime_dir / "system.sock"
    assert config.endpoints["signals"].where() == str(DESIGN_DIR / "signals.sock")


def test_stage_2_mixed_names_each_domain_type(runtime_dir):
    config = load_config(DESIGN / "stage2_mixed.yml", runtime_dir=runtime_dir)
    assert transports(config) == {"market_data": "channel", "signals": "unix_socket",
                                  "execution": "unix_socket", "system": "unix_socket"}
    market = config.endpoints["market_data"]
    assert dict(market.options) == {"capacity": 1_000_000}  # `type: channels`, as written
    assert market.where() == "in-process, capacity 1,000,000 frames"
    assert config.endpoints["execution"].policy.path == DESIGN_DIR / "execution.sock"


def test_stage_3_message_bus_puts_every_domain_on_nats(runtime_dir):
    config = load_config(DESIGN / "stage3_message_bus.yml", runtime_dir=runtime_dir)
    assert transports(config) == dict.fromkeys(DOMAINS, "nats")
    execution = config.endpoints["execution"]
    assert dict(execution.options) == {"servers": ["nats://127.0.0.1:4222"],
                                       "subject_prefix": "alphapulse", "jetstream": False,
                                       "capacity": 10_000}
    assert execution.where() == ("nats://127.0.0.1:4222, subjects alphapulse.execution.*,"
                                 " capacity 10,000 (unused: core NATS keeps nothing,"
                                 " JetStream would)")
    assert "capacity" not in config.endpoints["system"].options


def test_the_per_domain_form(runtime_dir):
    config = load_config(DESIGN / "transport_per_domain.yml", runtime_dir=runtime_dir)
    assert transports(config) == {"market_data": "unix_socket", "signals": "channel",
                                  "execution": "shared_memory", "system": "unix_socket"}
    execution = config.endpoints["execution"]
    # the execution domain never drops: its ring makes producers wait
    assert dict(execution.options) == {"path": ring_path("execution"), "size_mb": 64,
                                       "policy": "backpressure"}
    assert config.endpoints["signals"].options["capacity"] == 100_000


def test_the_distributed_form(runtime_dir):
    config = load_config(DESIGN / "multi_machine.yml", runtime_dir=runtime_dir)
    market = config.endpoints["market_data"]
    assert market.transport == "nats"
    assert market.options["servers"] == ["nats://trading1:4222", "nats://trading2:4222"]
    assert market.where() == ("nats://trading1:4222, nats://trading2:4222, subjects"
                              " alphapulse.market.market_data.*")
    assert transports(config)["signals"] == "unix_socket"


def test_single_machine_and_no_file_are_unix_sockets(runtime_dir):
    config = load_config(DESIGN / "single_machine.yml", runtime_dir=runtime_dir)
    assert transports(config) == dict.fromkeys(DOMAINS, "unix_socket")
    assert config.endpoints["market_data"].where() == str(DESIGN_DIR / "market_data.sock")
    nothing = load_config({}, runtime_dir=runtime_dir)
    assert transports(nothing) == dict.fromkeys(DOMAINS, "unix_socket")
    assert nothing.endpoints["execution"].where() == str(runtime_dir / "execution.sock")


def test_every_transport_with_its_keys(runtime_dir, tmp_path):
    cert, key = certificate(tmp_path)
    document = {"alphapulse": {
        "runtime_dir": str(runtime_dir),
        "market_data": {"transport": "shared_memory", "path": str(runtime_dir / "md.ring"),
                        "size_mb": 0.0625, "wait": "spin"},
        "signals": {"transport": "redis", "url": "redis://10.0.0.5:6380/2",
                    "stream_prefix": "desk1", "capacity": 5000, "max_queue_size": 7000},
        "execution": {"transport": "tcp", "host": "10.0.0.9", "port": 7400,
                      "certfile": str(cert), "keyfile": str(key), "cafile": str(cert)},
        "system": {"transport": "nats", "servers": "tls://bus:4222", "jetstream": True,
                   "subject_prefix": "desk1.ap"}}}
    config = load_config(document)
    endpoints = config.endpoints
    assert dict(endpoints["market_data"].options) == {
        "path": runtime_dir / "md.ring", "size_mb": 0.0625, "policy": "lossy", "wait": "spin"}
    assert endpoints["market_data"].where() == f"ring {runtime_dir / 'md.ring'}, 0.0625 MiB, lossy"
    assert dict(endpoints["signals"].options) == {"url": "redis://10.0.0.5:6380/2",
                                                  "prefix": "desk1", "capacity": 5000}
    assert endpoints["signals"].policy.max_queue_size == 7000  # the relay's key, read there
    assert endpoints["signals"].where() == ("redis://10.0.0.5:6380/2, stream desk1:signals,"
                                            " capacity 5,000 frames")
    assert dict(endpoints["execution"].options) == {"host": "10.0.0.9", "port": 7400,
                                                    "certfile": cert, "keyfile": key,
                                                    "cafile": cert}
    assert endpoints["execution"].where() == "10.0.0.9:7400 (TLS)"
    assert endpoints["system"].options["servers"] == ["tls://bus:4222"]
    assert endpoints["system"].where() == "tls://bus:4222, subjects desk1.ap.system.* (JetStream)"
    assert isinstance(endpoints["system"], Endpoint)


def test_a_bus_domain_sets_its_producers_batching(runtime_dir):
    config = load_config({"market_data": {"transport": "nats", "batch_frames": 256,
                                          "batch_bytes": 65536},
                          "signals": {"transport": "redis", "batch_bytes": 100_000}},
                         runtime_dir=runtime_dir)
    market_data, signals = config.endpoints["market_data"], config.endpoints["signals"]
    assert (market_data.options["batch_frames"], market_data.options["batch_bytes"]) == \
        (256, 65536)
    assert market_data.where().endswith("batch_frames 256, batch_bytes 65,536")
    assert signals.options["batch_bytes"] == 100_000 and "batch_frames" not in signals.options
    assert signals.where() == ("redis://127.0.0.1:6379, stream alphapulse:signals,"
                               " batch_bytes 100,000")
    kept = load_config({"execution": {"transport": "nats", "jetstream": True,
                                      "capacity": 500}}, runtime_dir=runtime_dir)
    assert kept.endpoints["execution"].where().endswith("(JetStream), capacity 500 messages")


def test_defaults_of_each_transport(runtime_dir):
    config = load_config({"transport": "redis", "execution": {"transport": "tcp", "port": 9000},
                          "market_data": {"transport": "shared_memory"}},
                         runtime_dir=runtime_dir)
    assert dict(config.endpoints["signals"].options) == {"url": "redis://127.0.0.1:6379",
                                                         "prefix": "alphapulse"}
    assert dict(config.endpoints["execution"].options) == {"host": "127.0.0.1", "port": 9000}
    assert config.endpoints["execution"].where() == "127.0.0.1:9000"
    assert dict(config.endpoints["market_data"].options) == {
        "path": ring_path("market_data"), "size_mb": 16, "policy": "lossy"}


def test_message_bus_on_redis_with_shared_servers(runtime_dir):
    config = load_config({"alphapulse": {"transport": "message_bus", "bus": "redis",
                                         "url": "redis://bus:6379", "stream_prefix": "ap",
                                         "execution": {"capacity": 10}}},
                         runtime_dir=runtime_dir)
    assert transports(config) == dict.fromkeys(DOMAINS, "redis")
    assert config.endpoints["execution"].where() == ("redis://bus:6379, stream ap:execution,"
                                                     " capacity 10 frames")


def test_a_domain_overrides_the_top_transport(runtime_dir):
    config = load_config({"alphapulse": {"transport": "message_bus",
                                         "servers": ["nats://a:4222", "nats://b:4222"],
                                         "execution": {"transport": "unix_socket"}}},
                         runtime_dir=runtime_dir)
    assert transports(config) == {"market_data": "nats", "signals": "nats",
                                  "execution": "unix_socket", "system": "nats"}
    assert config.endpoints["signals"].options["servers"] == ["nats://a:4222", "nats://b:4222"]


def test_the_docs_examples_load(runtime_dir):
    text = (Path(__file__).parent.parent / "docs" / "transports.md").read_text()
    blocks = text.split("```yaml\n")[1:]
    assert len(blocks) >= 5
    for block in blocks:
        load_config(yaml.safe_load(block.split("```")[0]), runtime_dir=runtime_dir)


def test_the_example_file_loads(runtime_dir):
    config = load_config(Path(__file__).parent.parent / "examples" / "transports.yml",
                         runtime_dir=runtime_dir)
    assert transports(config)["market_data"] == "shared_memory"


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key, made by openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


# ---- refusals --------------------------------------------------------------------------------

BAD = [
    ("alphapulse:\n  transport: carrier_pigeon\n", "alphapulse.transport", 2,
     "unknown transport 'carrier_pigeon'; expected one of unix_socket, tcp, channel,"
     " shared_memory, nats, redis, mixed, message_bus"),
    ("alphapulse:\n  transport: 3\n", "alphapulse.transport", 2,
     "expected a transport, one of unix_socket, tcp, channel,"),
    ("alphapulse:\n  transport: mixed\n  signals:\n    type: message_bus\n",
     "alphapulse.signals.type", 4, "unknown transport 'message_bus'"),
    ("alphapulse:\n  signals:\n    type: nats\n    transport: nats\n",
     "alphapulse.signals.type", 3, "type and transport both name the domain's transport"),
    ("alphapulse:\n  deployment: cloud\n", "alphapulse.deployment", 2,
     "expected single-machine or distributed, got the text 'cloud'"),
    ("alphapulse:\n  bus: nats\n", "alphapulse.bus", 2,
     "chooses the bus of transport: message_bus, and the transport here is unix_socket"),
    ("alphapulse:\n  transport: message_bus\n  bus: kafka\n", "alphapulse.bus", 3,
     "expected nats or redis, got the text 'kafka'"),
    ("alphapulse:\n  servers: [nats://a:4222]\n", "alphapulse.servers", 2,
     "a setting of the domains on nats, and no domain is on nats"),
    ("alphapulse:\n  transport: nats\n  url: redis://a\n", "alphapulse.url", 3,
     "no domain is on redis"),
    ("alphapulse:\n  transprt: nats\n", "alphapulse.transprt", 2,
     "unknown key (did you mean transport?)"),
    ("alphapulse:\n  execution:\n    size_mb: 64\n", "alphapulse.execution.size_mb", 3,
     "a key of shared_memory, and this domain's transport is unix_socket"),
    ("alphapulse:\n  execution:\n    transport: nats\n    path: /tmp/x.sock\n",
     "alphapulse.execution.path", 4, "a key of unix_socket and shared_memory, and this"
     " domain's transport is nats"),
    ("alphapulse:\n  execution:\n    capacity: 10\n", "alphapulse.execution.capacity", 3,
     "a key of channel and nats and redis, and this domain's transport is unix_socket"),
    ("alphapulse:\n  execution:\n    transport: nats\n    server: [nats://a]\n",
     "alphapulse.execution.server", 4, "unknown key (did you mean servers?)"),
    ("alphapulse:\n  execution:\n    transport: nats\n    bogus: 1\n",
     "alphapulse.execution.bogus", 4, "unknown key; the keys here are max_queue_size,"
     " circuit_breaker, validate_checksums, require_sequence, overflow, stuck_timeout,"
     " busy_poll_us, transport, type, servers, subject_prefix, jetstream, capacity,"
     " batch_frames, batch_bytes"),
    ("alphapulse:\n  execution:\n    transport: redis\n    bogus: 1\n",
     "alphapulse.execution.bogus", 4, "the keys here are max_queue_size, circuit_breaker,"
     " validate_checksums, require_sequence, overflow, stuck_timeout, busy_poll_us, transport,"
     " type, url, stream_prefix, capacity, batch_frames, batch_bytes"),
    ("alphapulse:\n  transport: message_bus\n  execution:\n    pth: /tmp/x\n",
     "alphapulse.execution.pth", 4, "unknown key; the keys here are max_queue_size,"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    bogus: 1\n",
     "alphapulse.execution.bogus", 4, "unknown key; the keys here are path, max_queue_size,"),
    ("alphapulse:\n  execution:\n    transport: nats\n    max_queue: 5\n",
     "alphapulse.execution.max_queue", 4, "unknown key (did you mean max_queue_size?)"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    size_mb: 3\n",
     "alphapulse.execution.size_mb", 4, "expected a power of two of bytes between 64 KiB"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    size_mb: '64'\n",
     "alphapulse.execution.size_mb", 4, "expected a number of MiB, got the text '64'"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    size_mb: true\n",
     "alphapulse.execution.size_mb", 4, "expected a number of MiB, got true (a boolean)"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    wait: nap\n",
     "alphapulse.execution.wait", 4, "expected one of spin, yield, sleep, got the text 'nap'"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    path: rings/x.ring\n",
     "alphapulse.execution.path", 4, "rings/x.ring: not an absolute path"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    path: /tmp\n",
     "alphapulse.execution.path", 4, "/tmp names a directory, not a ring file"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    path: /no/such/dir/x.ring\n",
     "alphapulse.execution.path", 4, "/no/such/dir: no such directory"),
    ("alphapulse:\n  execution:\n    transport: channel\n    capacity: 0\n",
     "alphapulse.execution.capacity", 4, "must be between 1 and 100,000,000, got 0"),
    ("alphapulse:\n  execution:\n    transport: channel\n    capacity: lots\n",
     "alphapulse.execution.capacity", 4, "expected a whole number, got the text 'lots'"),
    ("alphapulse:\n  execution:\n    transport: nats\n    servers: []\n",
     "alphapulse.execution.servers", 4, "expected a URL or a list of URLs, got an empty list"),
    ("alphapulse:\n  execution:\n    transport: nats\n    servers: [nats://a:4222, http://b]\n",
     "alphapulse.execution.servers[1]", 4, "expected a URL starting nats:// or tls:// or ws://"
     " or wss://, got the text 'http://b'"),
    ("alphapulse:\n  execution:\n    transport: nats\n    servers: 'nats://'\n",
     "alphapulse.execution.servers", 4, "expected a URL starting nats://"),
    ("alphapulse:\n  execution:\n    transport: nats\n    servers: [nats://a:4222, nats://b:notaport]\n",
     "alphapulse.execution.servers[1]", 4, "expected a URL whose port, if given, is a number from"
     " 1 to 65535, got the text 'nats://b:notaport'"),
    ("alphapulse:\n  execution:\n    transport: nats\n    servers: ['nats://host:70000']\n",
     "alphapulse.execution.servers[0]", 4, "a number from 1 to 65535, got the text"
     " 'nats://host:70000'"),
    ("alphapulse:\n  transport: message_bus\n  servers: nats://host:0\n",
     "alphapulse.servers", 3, "a number from 1 to 65535, got the text 'nats://host:0'"),
    ("alphapulse:\n  execution:\n    transport: redis\n    url: redis://host:redis\n",
     "alphapulse.execution.url", 4, "a number from 1 to 65535, got the text 'redis://host:redis'"),
    ("alphapulse:\n  execution:\n    transport: redis\n    url: 'redis://[::1:6379'\n",
     "alphapulse.execution.url", 4, "a number from 1 to 65535, got the text 'redis://[::1:6379'"),
    ("alphapulse:\n  execution:\n    transport: nats\n    subject_prefix: 'a..b'\n",
     "alphapulse.execution.subject_prefix", 4, "expected dot-separated subject tokens"),
    ("alphapulse:\n  transport: message_bus\n  subject_prefix: 'a b'\n",
     "alphapulse.subject_prefix", 3, "expected dot-separated subject tokens"),
    ("alphapulse:\n  execution:\n    transport: nats\n    jetstream: yes please\n",
     "alphapulse.execution.jetstream", 4, "expected true or false, got the text 'yes please'"),
    ("alphapulse:\n  execution:\n    transport: redis\n    url: [redis://a, redis://b]\n",
     "alphapulse.execution.url", 4, "expected a URL, got a list"),
    ("alphapulse:\n  execution:\n    transport: redis\n    url: nats://a\n",
     "alphapulse.execution.url", 4, "expected a URL starting redis:// or rediss:// or unix://"),
    ("alphapulse:\n  execution:\n    transport: redis\n    stream_prefix: 'a b'\n",
     "alphapulse.execution.stream_prefix", 4, "expected a name without spaces"),
    ("alphapulse:\n  execution:\n    transport: tcp\n", "alphapulse.execution.port", None,
     "missing: a tcp domain needs its port (1-65535)"),
    ("alphapulse:\n  execution:\n    transport: tcp\n    port: 70000\n",
     "alphapulse.execution.port", 4, "must be between 1 and 65,535, got 70,000"),
    ("alphapulse:\n  execution:\n    transport: tcp\n    port: 80\n    host: ''\n",
     "alphapulse.execution.host", 5, "expected a text, got the text ''"),
    ("alphapulse:\n  execution:\n    transport: tcp\n    port: 80\n    cafile: /no/ca.pem\n",
     "alphapulse.execution.cafile", 5, "/no/ca.pem: no such file"),
    ("alphapulse:\n  execution:\n    transport: nats\n    max_queue_size: 0\n",
     "alphapulse.execution.max_queue_size", 4, "must be between 1 and 100,000,000"),
    ("alphapulse:\n  market_data: [shared_memory]\n", "alphapulse.market_data", 2,
     "expected a mapping of keys, got a list"),
    ("alphapulse:\n  execution:\n    transport: nats\n    batch_frames: 0\n",
     "alphapulse.execution.batch_frames", 4, "must be between 1 and 100,000,000, got 0"),
    ("alphapulse:\n  execution:\n    transport: redis\n    batch_bytes: 64 KiB\n",
     "alphapulse.execution.batch_bytes", 4, "expected a whole number, got the text '64 KiB'"),
    ("alphapulse:\n  execution:\n    transport: shared_memory\n    batch_frames: 64\n",
     "alphapulse.execution.batch_frames", 4, "a key of nats and redis, and this domain's"
     " transport is shared_memory"),
    ("alphapulse:\n  market_data:\n    transport: shared_memory\n    size_mb: .inf\n",
     "alphapulse.market_data.size_mb", 4, "inf, expected a power of two of bytes"),
    ("alphapulse:\n  market_data:\n    transport: shared_memory\n    size_mb: .nan\n",
     "alphapulse.market_data.size_mb", 4, "nan, expected a power of two of bytes"),
    ("alphapulse:\n  signals:\n    transport: shared_memory\n    path: /tmp/one.ring\n"
     "  execution:\n    transport: shared_memory\n    path: /tmp/one.ring\n",
     "alphapulse.execution.path", 7, "/tmp/one.ring is the signals ring too"),
    ("alphapulse:\n  market_data:\n    transport: shared_memory\n"
     f"    path: {ring_path('signals')}\n  signals:\n    transport: shared_memory\n",
     "alphapulse.market_data.path", 4, f"{ring_path('signals')} is the signals ring too"),
    ("alphapulse:\n  signals:\n    transport: tcp\n    port: 7400\n"
     "  execution:\n    transport: tcp\n    port: 7400\n    host: 127.0.0.1\n",
     "alphapulse.execution.port", 7, "127.0.0.1:7400 is the signals relay's address too"),
]


@pytest.mark.parametrize("text, key, line, words", BAD, ids=[b[1] + ":" + b[3][:28] for b in BAD])
def test_a_bad_file_is_refused_at_its_key(text, key, line, words, runtime_dir):
    path = write(runtime_dir, text)
    error = refused(path, runtime_dir=runtime_dir)
    assert (error.key, error.line, error.source) == (key, line, str(path))
    where = f"{path}, line {line}" if line else str(path)
    assert str(error).startswith(f"{where}: {key}: ")
    assert words in str(error)


def test_a_keyfile_without_its_certfile(runtime_dir, tmp_path):
    _, key = certificate(tmp_path)
    error = refused({"execution": {"transport": "tcp", "port": 80, "keyfile": str(key)}})
    assert error.key == "execution.keyfile"
    assert "a keyfile goes with its certfile: certfile is missing" in str(error)


def test_a_certificate_that_does_not_load(runtime_dir, tmp_path):
    cert, key = certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = certificate(other)
    error = refused({"execution": {"transport": "tcp", "port": 80, "certfile": str(cert),
                                   "keyfile": str(other_key)}})
    assert error.key == "execution.keyfile"
    assert "the certificate and key do not load" in str(error)
    error = refused({"execution": {"transport": "tcp", "port": 80, "certfile": str(key)}})
    assert error.key == "execution.certfile"


def test_an_unreadable_file_is_refused(runtime_dir, tmp_path):
    cert, _ = certificate(tmp_path)
    cert.chmod(0)
    try:
        if cert.open("rb").readable():  # the superuser reads every file
            pytest.skip("running as a user that reads unreadable files")
    except PermissionError:
        pass
    error = refused({"execution": {"transport": "tcp", "port": 80, "cafile": str(cert)}})
    assert error.key == "execution.cafile" and "not readable" in str(error)


def test_the_relay_still_checks_the_socket_of_a_unix_domain(runtime_dir):
    occupied = runtime_dir / "file"
    occupied.write_text("")
    error = refused({"execution": {"transport": "unix_socket", "path": str(occupied)}})
    assert error.key == "execution.path" and "exists and is not a socket" in str(error)
    # a ring file is not a socket, and need not be
    config = load_config({"execution": {"transport": "shared_memory", "path": str(occupied)}},
                         runtime_dir=runtime_dir)
    assert config.endpoints["execution"].options["path"] == occupied
