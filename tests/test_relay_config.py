"""The relays' and the dashboard's configuration files: the design's examples load as written,
defaults are the design's values, and every bad or hostile file is refused with the file, the
line and the key at fault; ``alphapulse config check`` reports the same in one line, exit 2."""
from __future__ import annotations

import grp
import os
import pickle
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import alphapulse_codec as ap
from alphapulse_codec.relay import (
    DOMAINS,
    ConfigError,
    DomainPolicy,
    Subscription,
    default_policy,
    ensure_runtime_dir,
    load_config,
    load_dashboard_config,
)
from alphapulse_codec.relay.runtime_dir import MAX_SOCKET_PATH_BYTES
from alphapulse_codec.relay.yamlfile import MAX_DEPTH, MAX_FILE_BYTES
from alphapulse_codec.wire.errors import ParseError

ROOT = Path(__file__).resolve().parent.parent
DESIGN = Path(__file__).parent / "data" / "design"
EXAMPLES = ROOT / "examples"
MY_GROUP = grp.getgrgid(os.getegid()).gr_name
DESIGN_DIR = Path("/tmp/alphapulse")


@pytest.fixture
def rundir():
    """A short directory of this user's: socket paths must fit in a Unix socket address."""
    directory = Path(tempfile.mkdtemp(prefix="apc-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def write(directory: Path, text: str | bytes, name: str = "relays.yml") -> Path:
    path = directory / name
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


def refused(source, **keywords) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        if keywords.pop("dashboard", False):
            load_dashboard_config(source, **keywords)
        else:
            load_config(source, **keywords)
    return caught.value


# ---- defaults and the design's examples ------------------------------------------------------

DESIGN_VALUES = {  # domain: max_queue_size, circuit_breaker, checksums, sequence, overflow
    "market_data": (1_000_000, 800_000, False, False, "shed"),
    "signals": (100_000, 80_000, True, False, "shed"),
    "execution": (10_000, 8_000, True, True, "block"),
    "system": (10_000, 8_000, True, False, "shed"),
}


def values(policy: DomainPolicy) -> tuple:
    return (policy.max_queue_size, policy.circuit_breaker, policy.validate_checksums,
            policy.require_sequence, policy.overflow)


def test_the_defaults_are_the_design_values(rundir):
    config = load_config({}, runtime_dir=rundir)
    assert list(config.policies) == list(DOMAINS) == ["market_data", "signals", "execution",
                                                      "system"]
    for domain, policy in config.policies.items():
        assert values(policy) == DESIGN_VALUES[domain]
        assert policy.path == rundir / f"{domain}.sock" and policy.domain == domain
        assert policy.socket_mode == 0o600 and policy.socket_group is None
        assert policy.stuck_timeout == 5.0
        assert policy.busy_poll_us == 0  # sleep at once: no core is spent by default
        assert policy == default_policy(domain, rundir)
    assert config.runtime_dir == rundir and config.socket_group is None


def test_a_config_pickles_for_the_relay_processes(rundir):
    config = load_config(EXAMPLES / "relays.yml", runtime_dir=rundir)
    assert pickle.loads(pickle.dumps(config)) == config


def test_the_domains_carry_the_design_type_ranges():
    assert {d: (r.start, r.stop - 1) for d, r in DOMAINS.items()} == {
        "market_data": (1, 19), "signals": (20, 39), "execution": (40, 59), "system": (100, 109)}
    for message_type in ap.MessageType:
        owners = [d for d, r in DOMAINS.items() if message_type in r]
        assert len(owners) == (0 if message_type >= 200 else 1), message_type


def test_the_relays_example_is_the_defaults_written_out(rundir):
    written = load_config(EXAMPLES / "relays.yml", runtime_dir=rundir)
    assert written == load_config({}, runtime_dir=rundir)


def test_the_dashboard_example_is_the_design_block_verbatim():
    assert (EXAMPLES / "dashboard_config.yml").read_bytes() == \
        (DESIGN / "dashboard_config.yml").read_bytes()
    subscriptions = load_dashboard_config(EXAMPLES / "dashboard_config.yml")
    assert subscriptions == (
        Subscription("market_data", DESIGN_DIR / "market_data.sock", (1, 2, 3)),
        Subscription("signals", DESIGN_DIR / "signals.sock", (21, 22, 25)),
        Subscription("execution", DESIGN_DIR / "execution.sock", (41, 42, 45)))


@pytest.mark.parametrize("name", ["single_machine.yml", "stage1_unix_sockets.yml"])
def test_the_design_unix_socket_examples_load(name, rundir):
    config = load_config(DESIGN / name, runtime_dir=rundir)
    assert config.policies["market_data"].path == DESIGN_DIR / "market_data.sock"
    written = 1 if name == "single_machine.yml" else 3
    for domain, policy in config.policies.items():
        assert values(policy) == DESIGN_VALUES[domain]
        expected_dir = DESIGN_DIR if list(DOMAINS).index(domain) < written else rundir
        assert policy.path == expected_dir / f"{domain}.sock"


@pytest.mark.parametrize("name, line, key, transport", [
    ("multi_machine.yml", 3, "alphapulse.deployment", "'distributed'"),
    ("stage2_mixed.yml", 3, "alphapulse.transport", "'mixed'"),
    ("stage3_message_bus.yml", 3, "alphapulse.transport", "'message_bus'"),
    ("transport_per_domain.yml", 8, "alphapulse.signals.transport", "'channel'"),
])
def test_the_relays_alone_refuse_other_transports_by_name(name, line, key, transport, rundir):
    # the relays' own reading of a file: the transport layer reads these (test_transport_config)
    error = refused(DESIGN / name, runtime_dir=rundir)
    assert (error.key, error.line, error.source) == (key, line, str(DESIGN / name))
    assert str(error).startswith(f"{DESIGN / name}, line {line}: {key}: ")
    assert transport in str(error)
    assert str(error).endswith("read by alphapulse_codec.transport.load_config")


@pytest.mark.parametrize("transport", ["tcp", "nats", "shared_memory", "channels"])
def test_every_other_transport_is_named_as_such(transport):
    error = refused({"alphapulse": {"execution": {"transport": transport}}})
    assert str(error).startswith(f"alphapulse.execution.transport: the text '{transport}' is"
                                 " not a relay transport: the relays run on Unix sockets")


def test_the_docs_examples_load():
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "relays.md").read_text(), re.DOTALL)
    relays, dashboard = (yaml.safe_load(block) for block in blocks)
    policy = load_config(relays).policies["execution"]
    assert policy.path == DESIGN_DIR / "execution.sock" and values(policy) == \
        DESIGN_VALUES["execution"]
    assert load_dashboard_config(dashboard) == (
        Subscription("market_data", DESIGN_DIR / "market_data.sock", (1, 2, 3)),)


# ---- runtime directory and socket paths ------------------------------------------------------

def test_the_argument_wins_over_the_file_and_the_file_over_the_environment(rundir, monkeypatch):
    (rundir / "arg").mkdir()
    (rundir / "xdg").mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(rundir / "xdg"))
    from_file = {"alphapulse": {"runtime_dir": str(rundir / "file")}}
    assert load_config(from_file, runtime_dir=rundir / "arg").runtime_dir == rundir / "arg"
    assert load_config(from_file).runtime_dir == rundir / "file"
    config = load_config({})
    assert config.runtime_dir == rundir / "xdg" / "alphapulse"
    assert config.policies["signals"].path == rundir / "xdg" / "alphapulse" / "signals.sock"


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_without_a_usable_xdg_runtime_dir_the_design_directory_is_used(xdg, monkeypatch):
    if xdg is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", xdg)
    try:
        config = load_config({})
    except ConfigError as error:  # another user's /tmp/alphapulse on a shared machine
        assert "runtime directory /tmp/alphapulse (the default" in str(error)
        return
    assert config.runtime_dir == DESIGN_DIR
    assert config.policies["execution"].path == DESIGN_DIR / "execution.sock"


def test_a_path_of_its_own_overrides_the_runtime_dir(rundir):
    config = load_config({"execution": {"path": str(rundir / "orders.sock")}},
                         runtime_dir=rundir / "run")
    assert config.policies["execution"].path == rundir / "orders.sock"
    assert config.policies["signals"].path == rundir / "run" / "signals.sock"


def test_a_socket_group_makes_the_sockets_0660_in_that_group(rundir):
    config = load_config({"alphapulse": {"socket_group": MY_GROUP}}, runtime_dir=rundir)
    assert config.socket_group == MY_GROUP
    assert {(p.socket_mode, p.socket_group) for p in config.policies.values()} == {
        (0o660, MY_GROUP)}


def test_an_existing_socket_at_the_path_is_accepted(rundir):
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(rundir / "market_data.sock"))
        assert load_config({}, runtime_dir=rundir).policies["market_data"].path.is_socket()


def test_max_queue_size_alone_moves_the_breaker_to_80_percent(rundir):
    policy = load_config({"execution": {"max_queue_size": 5000}},
                         runtime_dir=rundir).policies["execution"]
    assert (policy.max_queue_size, policy.circuit_breaker) == (5000, 4000)


def test_every_key_can_be_set(rundir):
    document = {"alphapulse": {"signals": {
        "path": str(rundir / "s.sock"), "max_queue_size": 50, "circuit_breaker": 50,
        "validate_checksums": False, "require_sequence": True, "overflow": "block",
        "stuck_timeout": 0.25, "busy_poll_us": 200, "transport": "unix_socket"}}}
    policy = load_config(document, runtime_dir=rundir).policies["signals"]
    assert policy == DomainPolicy("signals", rundir / "s.sock", 50, 50, False, True, "block",
                                  0.25, busy_poll_us=200)


# ---- bad values: refused at load, naming the key ---------------------------------------------

BAD = [
    ("alphapulse:\n  execution:\n    circuit_breaker: 20000\n",
     "alphapulse.execution.circuit_breaker", 3,
     "must be <= max_queue_size (10000), got 20000"),
    ("alphapulse:\n  signals:\n    max_queue_size: 10\n    circuit_breaker: 11\n",
     "alphapulse.signals.circuit_breaker", 4, "must be <= max_queue_size (10), got 11"),
    ("alphapulse:\n  market_data:\n    max_queue_size: -5\n",
     "alphapulse.market_data.max_queue_size", 3, "must be between 1 and 100,000,000, got -5"),
    ("market_data:\n  max_queue_size: 0\n", "market_data.max_queue_size", 2, "got 0"),
    ("market_data:\n  max_queue_size: 10_000_000_000_000_000_000\n",
     "market_data.max_queue_size", 2, "must be between 1 and 100,000,000"),
    ("market_data:\n  circuit_breaker: -1\n", "market_data.circuit_breaker", 2,
     "must be between 1 and"),
    ("market_data:\n  max_queue_size: big\n", "market_data.max_queue_size", 2,
     "expected a whole number, got the text 'big'"),
    ("market_data:\n  max_queue_size: true\n", "market_data.max_queue_size", 2,
     "expected a whole number, got true (a boolean)"),
    ("market_data:\n  max_queue_size: 1000.0\n", "market_data.max_queue_size", 2,
     "expected a whole number, got 1000.0 (a float)"),
    ("market_data:\n  max_queue_size: [1]\n", "market_data.max_queue_size", 2,
     "expected a whole number, got a list"),
    ("signals:\n  validate_checksums: 'yes'\n", "signals.validate_checksums", 2,
     "expected true or false, got the text 'yes'"),
    ("signals:\n  require_sequence: 1\n", "signals.require_sequence", 2,
     "expected true or false, got 1 (a whole number)"),
    ("signals:\n  overflow: drop\n", "signals.overflow", 2,
     "expected shed or block, got the text 'drop'"),
    ("execution:\n  stuck_timeout: 0\n", "execution.stuck_timeout", 2,
     "must be more than 0 and at most 86,400 seconds, got 0"),
    ("execution:\n  stuck_timeout: -2.5\n", "execution.stuck_timeout", 2, "got -2.5"),
    ("execution:\n  stuck_timeout: .nan\n", "execution.stuck_timeout", 2, "got nan"),
    ("execution:\n  stuck_timeout: .inf\n", "execution.stuck_timeout", 2, "got inf"),
    ("execution:\n  stuck_timeout: 5s\n", "execution.stuck_timeout", 2,
     "expected a number of seconds, got the text '5s'"),
    ("market_data:\n  busy_poll_us: -1\n", "market_data.busy_poll_us", 2,
     "must be between 0 and 1,000,000, got -1"),
    ("market_data:\n  busy_poll_us: 1000001\n", "market_data.busy_poll_us", 2,
     "must be between 0 and 1,000,000, got 1,000,001"),
    ("market_data:\n  busy_poll_us: 50.5\n", "market_data.busy_poll_us", 2,
     "expected a whole number, got 50.5 (a float)"),
    ("execution:\n  path: orders.sock\n", "execution.path", 2,
     "orders.sock: not an absolute path"),
    ("execution:\n  path: ''\n", "execution.path", 2, "expected a text, got the text ''"),
    ("execution:\n  path: !!binary AAEC\n", "execution.path", 2, "expected a text, got b'"),
    ("execution:\n  path: /" + "x" * 120 + ".sock\n", "execution.path", 2,
     f"126 bytes long, more than the {MAX_SOCKET_PATH_BYTES} a Unix socket address holds"),
    ("execution:\n  path: /tmp/\n", "execution.path", 2, "names a directory, not a socket"),
    ("alphapulse:\n  signal:\n    path: /tmp/x.sock\n", "alphapulse.signal", 2,
     ("unknown key (did you mean signals?); the keys here are runtime_dir, socket_group,"
      " transport, deployment, market_data, signals, execution, system")),
    ("alphapulse:\n  execution:\n    max_queue: 5\n", "alphapulse.execution.max_queue", 3,
     "unknown key (did you mean max_queue_size?)"),
    ("alphapulse:\n  execution:\n    capacity: 10000\n", "alphapulse.execution.capacity", 3,
     "unknown key"),
    ("alphapulse:\n  execution:\n    7: x\n", "alphapulse.execution.7", 3, "unknown key"),
    ("alphapulse:\n  execution: [path]\n", "alphapulse.execution", 2,
     "expected a mapping of keys, got a list"),
    ("alphapulse:\n  execution: fast\n", "alphapulse.execution", 2,
     "expected a mapping of keys, got the text 'fast'"),
    ("alphapulse: 3\n", "alphapulse", 1, "expected a mapping of keys, got 3 (a whole number)"),
    ("alphapulse: {}\nrelays: {}\n", "relays", 2, "unknown key; the keys here are alphapulse"),
    ("alphapulse:\n  runtime_dir: run/alphapulse\n", "alphapulse.runtime_dir", 2,
     "not an absolute path"),
    ("alphapulse:\n  runtime_dir: 7\n", "alphapulse.runtime_dir", 2,
     "expected a text, got 7 (a whole number)"),
    ("alphapulse:\n  socket_group: no-such-group-here\n", "alphapulse.socket_group", 2,
     "no group named 'no-such-group-here' on this machine"),
    ("alphapulse:\n  socket_group: 0\n", "alphapulse.socket_group", 2,
     "expected a text, got 0 (a whole number)"),
    ("alphapulse:\n  transport: carrier_pigeon\n", "alphapulse.transport", 2,
     "the text 'carrier_pigeon' is not a relay transport"),
    ("alphapulse:\n  deployment: cloud\n", "alphapulse.deployment", 2,
     "expected single-machine, got the text 'cloud'"),
    ("# a dashboard's file given to the relays\ndashboard:\n  subscriptions: {}\n", "dashboard", 2,
     "this is a dashboard's file (alphapulse top --config), not one of alphapulse: ..."),
]


@pytest.mark.parametrize("text, key, line, words", BAD, ids=[b[1] + ":" + b[3][:30] for b in BAD])
def test_a_bad_value_is_refused_with_file_line_and_key(text, key, line, words, rundir):
    path = write(rundir, text)
    error = refused(path, runtime_dir=rundir)
    assert isinstance(error, ValueError) and not isinstance(error, ParseError)
    assert (error.key, error.line, error.source) == (key, line, str(path))
    assert str(error).startswith(f"{path}, line {line}: {key}: ")
    assert words in str(error)


def test_a_mapping_is_refused_with_the_key_alone(rundir):
    error = refused({"alphapulse": {"execution": {"circuit_breaker": 20000}}},
                    runtime_dir=rundir)
    assert str(error) == ("alphapulse.execution.circuit_breaker: must be <= max_queue_size"
                          " (10000), got 20000")
    assert (error.key, error.line, error.source) == ("alphapulse.execution.circuit_breaker",
                                                     None, None)


@pytest.mark.parametrize("document, words", [
    (None, "empty: expected a mapping (alphapulse: ...)"),
    ([1, 2], "the document is a list: expected a mapping (alphapulse: ...)"),
    ("alphapulse", "the document is the text 'alphapulse': expected a mapping (alphapulse: ...)"),
])
def test_a_root_that_is_not_a_mapping_is_refused(document, words, rundir):
    path = write(rundir, "" if document is None else yaml.safe_dump(document))
    assert str(refused(path)) == f"{path}: {words}"


def test_a_path_in_a_directory_others_can_write_is_refused(rundir):
    shared = rundir / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    error = refused({"signals": {"path": str(shared / "signals.sock")}})
    assert error.key == "signals.path"
    assert f"{shared} is writable by its group and others (mode 0777)" in str(error)
    shared.chmod(0o1775)
    assert "writable by its group (mode 1775)" in str(refused(
        {"signals": {"path": str(shared / "signals.sock")}}))


def test_a_runtime_dir_others_can_write_is_refused_at_its_key(rundir):
    rundir.chmod(0o757)
    error = refused({"alphapulse": {"runtime_dir": str(rundir)}})
    assert error.key == "alphapulse.runtime_dir" and "writable by others (mode 0757)" in str(error)
    error = refused({}, runtime_dir=rundir)
    assert error.key is None and str(error).startswith(f"runtime_dir argument {rundir}: ")


def test_a_path_under_a_file_or_a_symlink_or_at_a_file_is_refused(rundir):
    (rundir / "file").write_text("")
    (rundir / "real").mkdir(mode=0o700)
    (rundir / "link").symlink_to(rundir / "real")
    deeper = f"{rundir / 'file/deeper'} cannot be created: {rundir / 'file'} is not a directory"
    for path, words in ((rundir / "file" / "x.sock", f"{rundir / 'file'} is not a directory"),
                        (rundir / "file" / "deeper" / "x.sock", deeper),
                        (rundir / "link" / "x.sock", f"{rundir / 'link'} is a symbolic link"),
                        (rundir / "file", f"{rundir / 'file'} exists and is not a socket")):
        error = refused({"market_data": {"path": str(path)}})
        assert error.key == "market_data.path" and words in str(error), str(error)


def test_two_domains_on_one_socket_are_refused(rundir):
    error = refused({"signals": {"path": str(rundir / "market_data.sock")}}, runtime_dir=rundir)
    assert error.key == "signals.path"
    assert f"{rundir / 'market_data.sock'} is the market_data relay's socket too" in str(error)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_directory_of_another_user_is_refused(rundir):
    (rundir / "theirs").mkdir(mode=0o700)
    os.chown(rundir / "theirs", 65534, -1)
    error = refused({"execution": {"path": str(rundir / "theirs" / "execution.sock")}})
    assert f"{rundir / 'theirs'} belongs to uid 65534, not to this user (uid 0)" in str(error)
    with pytest.raises(ConfigError, match="belongs to uid 65534"):
        ensure_runtime_dir(rundir / "theirs")


# ---- ensure_runtime_dir ----------------------------------------------------------------------

def test_ensure_runtime_dir_creates_it_0700_whatever_the_umask(rundir):
    target = rundir / "a" / "alphapulse"
    previous = os.umask(0)
    try:
        assert ensure_runtime_dir(target) == target
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700 and target.stat().st_uid == os.geteuid()
    assert ensure_runtime_dir(target) == target  # an existing one of its own is kept


def test_ensure_runtime_dir_with_a_group_lets_its_members_reach_the_sockets(rundir):
    target = ensure_runtime_dir(rundir / "alphapulse", group=MY_GROUP)
    assert stat.S_IMODE(target.stat().st_mode) == 0o710 and target.stat().st_gid == os.getegid()
    with pytest.raises(ConfigError, match="socket_group: no group named 'no-such-group-here'"):
        ensure_runtime_dir(rundir / "other", group="no-such-group-here")


def test_ensure_runtime_dir_refuses_what_is_not_safe(rundir):
    (rundir / "open").mkdir()
    (rundir / "open").chmod(0o777)
    with pytest.raises(ConfigError, match=r"runtime directory .*/open is writable by its group"
                                          r" and others \(mode 0777\)"):
        ensure_runtime_dir(rundir / "open")
    (rundir / "link").symlink_to(rundir / "open")
    with pytest.raises(ConfigError, match="is a symbolic link"):
        ensure_runtime_dir(rundir / "link")
    (rundir / "file").write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        ensure_runtime_dir(rundir / "file")
    with pytest.raises(ConfigError, match="below cannot be created: .*/file is not a directory"):
        ensure_runtime_dir(rundir / "file" / "below")
    with pytest.raises(ConfigError, match="not an absolute path"):
        ensure_runtime_dir("relative/alphapulse")
    assert stat.S_IMODE((rundir / "open").stat().st_mode) == 0o777  # refused, left as it was


# ---- hostile files ---------------------------------------------------------------------------

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

HOSTILE = [
    (ALIAS_BOMB, 2, "aliases (*name) are not read in a configuration"),
    ("base: &base {max_queue_size: 10}\nexecution: *base\n", 2, "aliases"),
    ("execution:\n  <<: {max_queue_size: 10}\n", 2, "merge keys (<<) are not read"),
    ("[" * 100_000 + "]" * 100_000, 1, f"nested more than {MAX_DEPTH} levels deep"),
    ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 40)), MAX_DEPTH, "nested more than"),
    ("alphapulse:\n\tmarket_data: {}\n", 2, "YAML indents with spaces, never tabs"),
    ("alphapulse:\n  market_data: {}\n  market_data: {}\n", 3,
     "duplicate key 'market_data' (first on line 2)"),
    ("execution:\n  max_queue_size: 10\n  circuit_breaker: 8\n  max_queue_size: 99\n", 4,
     "duplicate key 'max_queue_size' (first on line 2)"),
    ("execution:\n  ? [a, b]\n  : 1\n", 2, "a key must be a name, not a list or mapping"),
    ("execution: {}\n---\nsignals: {}\n", 2, "expected a single document"),
    ("execution: !!python/object:os.system {}\n", 1, "could not determine a constructor"),
    ("execution: [unclosed\n", 2, "not valid YAML"),
    ("alphapulse:\n  runtime_dir: /tmp/a\x00b\n", 2,
     ("not valid YAML: character #x0000 (character 33 of the file): special characters are"
      " not allowed")),
    ("alphapulse:\n  runtime_dir: /tmp/a\x1bb\n", 2, "character #x001b"),
]


@pytest.mark.parametrize("text, line, words", HOSTILE, ids=[h[2][:40] for h in HOSTILE])
def test_a_hostile_file_is_refused_with_its_line(text, line, words, rundir):
    path = write(rundir, text)
    error = refused(path)
    assert error.line == line and str(error).startswith(f"{path}, line {line}")
    assert words in str(error)


@pytest.mark.parametrize("text, words", [
    ("execution:\n  max_queue_size: " + "9" * 5000 + "\n", "Exceeds the limit (4300 digits)"),
    ("execution:\n  stuck_timeout: 2024-13-45\n", "month must be in 1..12"),
])
def test_a_scalar_python_refuses_is_a_config_error(text, words, rundir):
    path = write(rundir, text)
    error = refused(path)
    assert str(error).startswith(f"{path}: not valid YAML: ") and words in str(error)


def test_a_file_over_the_size_cap_is_refused_unread(rundir):
    path = write(rundir, "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert str(refused(path)) == f"{path}: larger than 262,144 bytes: not a configuration"


def test_a_file_that_is_not_utf8_is_refused_with_the_offset(rundir):
    path = write(rundir, b"alphapulse:\n  runtime_dir: /tmp/caf\xe9\n")
    assert str(refused(path)) == (f"{path}, line 2: not UTF-8 (byte 0xe9 at offset 35)")


def test_a_file_that_cannot_be_read_is_refused(rundir):
    assert str(refused(rundir / "missing.yml")) == \
        f"{rundir / 'missing.yml'}: cannot read: No such file or directory"
    assert str(refused(rundir)) == f"{rundir}: cannot read: a directory"
    os.mkfifo(rundir / "fifo")  # no writer: opening it must not wait for one
    assert str(refused(rundir / "fifo")) == f"{rundir / 'fifo'}: cannot read: not a regular file"
    with pytest.raises(TypeError, match="expected a file path or a mapping, got int"):
        load_config(0)  # a file descriptor is not a file name here


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 2_000_000), st.floats(),
                    st.text(max_size=12),
                    st.sampled_from(["shed", "block", "unix_socket", "/tmp/x.sock", "Trade",
                                     "Fill", "mixed"]))
KEYS = st.sampled_from([*DOMAINS, "alphapulse", "dashboard", "subscriptions", "path",
                        "max_queue_size", "circuit_breaker", "validate_checksums",
                        "require_sequence", "overflow", "stuck_timeout", "busy_poll_us",
                        "transport", "runtime_dir", "enabled", "message_types", "socket_group", "other"])


def _nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5)


DOCUMENTS = st.recursive(SCALARS, _nested, max_leaves=20)


@given(DOCUMENTS)
def test_any_document_is_loaded_or_refused_with_a_config_error(document):
    for load in (load_config, load_dashboard_config):
        try:
            load(document) if isinstance(document, dict) else load({"alphapulse": document})
        except ConfigError as error:
            assert str(error) and "\n" not in str(error)


@given(st.binary(max_size=400) | DOCUMENTS.map(lambda d: yaml.safe_dump(d).encode()))
def test_any_file_is_loaded_or_refused_with_a_config_error(content):
    directory = Path(tempfile.mkdtemp(prefix="apc-", dir="/tmp"))
    try:
        path = write(directory, content)
        for load in (load_config, load_dashboard_config):
            try:
                load(path)
            except ConfigError as error:
                assert str(error).startswith(str(path))
    finally:
        shutil.rmtree(directory)


# ---- the dashboard ---------------------------------------------------------------------------

DASHBOARD_BAD = [
    ("dashboard:\n  subscriptions:\n    signals:\n      message_types: [Trade]\n",
     "dashboard.subscriptions.signals.message_types[0]", 4,
     "Trade is a market_data type (1), not a signals type (20-39)"),
    ("dashboard:\n  subscriptions:\n    execution:\n      message_types: [Fill, Custom]\n",
     "dashboard.subscriptions.execution.message_types[1]", 4,
     "Custom is of no relay (200), not an execution type (40-59)"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      message_types: [Trades]\n",
     "dashboard.subscriptions.market_data.message_types[0]", 4,
     "unknown message type 'Trades' (did you mean Trade?)"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      message_types: [Trade, trade]\n",
     "dashboard.subscriptions.market_data.message_types[1]", 4, "Trade is named twice"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      message_types: [1]\n",
     "dashboard.subscriptions.market_data.message_types[0]", 4,
     "expected a message type name, got 1 (a whole number)"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      message_types: []\n",
     "dashboard.subscriptions.market_data.message_types", 4,
     "expected a list of message type names, got an empty list; leave the key out"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      message_types: Trade\n",
     "dashboard.subscriptions.market_data.message_types", 4,
     "got the text 'Trade'"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      enabled: 'true'\n",
     "dashboard.subscriptions.market_data.enabled", 4, "expected true or false"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      path: x.sock\n",
     "dashboard.subscriptions.market_data.path", 4, "x.sock: not an absolute path"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      types: [Trade]\n",
     "dashboard.subscriptions.market_data.types", 4, "unknown key"),
    ("dashboard:\n  subscriptions:\n    orders: {}\n", "dashboard.subscriptions.orders", 3,
     "unknown key; the keys here are market_data, signals, execution, system"),
    ("dashboard:\n  subscriptions:\n    market_data:\n      enabled: false\n",
     "dashboard.subscriptions", 2, "no subscription is enabled"),
    ("dashboard:\n  refresh: 1\n", "dashboard.refresh", 2, "unknown key"),
    ("dashboard:\n  subscriptions: [market_data]\n", "dashboard.subscriptions", 2,
     "expected a mapping of keys, got a list"),
    ("alphapulse:\n  execution:\n    overflow: block\n", "alphapulse", 1,
     "this is the relays' configuration (alphapulse relay --config), not one of dashboard: ..."),
]


@pytest.mark.parametrize("text, key, line, words", DASHBOARD_BAD,
                         ids=[b[1].rpartition(".")[2] + ":" + b[3][:30] for b in DASHBOARD_BAD])
def test_a_bad_dashboard_file_is_refused_with_line_and_key(text, key, line, words, rundir):
    path = write(rundir, text, "dashboard_config.yml")
    error = refused(path, dashboard=True)
    assert (error.key, error.line) == (key, line)
    assert str(error).startswith(f"{path}, line {line}: {key}: ") and words in str(error)


def test_dashboard_types_are_read_in_any_case_and_paths_default_to_the_runtime_dir(rundir):
    document = {"subscriptions": {
        "market_data": {"message_types": ["trade", "QUOTE"]},
        "signals": {"enabled": False, "message_types": ["PositionUpdate"]},
        "system": {"path": str(rundir / "sys.sock")}}}
    assert load_dashboard_config(document, runtime_dir=rundir) == (
        Subscription("market_data", rundir / "market_data.sock", (1, 2)),
        Subscription("system", rundir / "sys.sock", None))


def test_a_dashboard_runtime_dir_too_long_for_a_socket_is_refused():
    error = refused({"subscriptions": {"signals": {}}}, runtime_dir="/" + "r" * 100,
                    dashboard=True)
    assert str(error).startswith("the signals socket in the runtime directory: /rrr")
    assert f"more than the {MAX_SOCKET_PATH_BYTES} a Unix socket address holds" in str(error)
    assert "not an absolute path" in str(refused({"subscriptions": {"signals": {}}},
                                                 runtime_dir="run", dashboard=True))


def test_a_disabled_subscription_is_still_checked(rundir):
    error = refused({"subscriptions": {"market_data": {}, "signals": {
        "enabled": False, "message_types": ["Trade"]}}}, dashboard=True)
    assert error.key == "subscriptions.signals.message_types[0]"


# ---- the command line ------------------------------------------------------------------------

def config_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alphapulse_codec", "config", "check", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)


def test_config_check_prints_what_each_relay_will_use(rundir):
    run = config_check("examples/relays.yml", "--runtime-dir", str(rundir))
    assert run.returncode == 0 and run.stderr == ""
    assert f"runtime directory: {rundir}" in run.stdout
    assert "sockets: mode 0600, this user only" in run.stdout
    rows = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines()
            if line.split() and line.split()[0] in DOMAINS}
    assert rows == {
        "market_data": ["unix_socket", str(rundir / "market_data.sock"), "1,000,000", "800,000",
                        "no", "no", "shed", "sleeps"],
        "signals": ["unix_socket", str(rundir / "signals.sock"), "100,000", "80,000", "yes",
                    "no", "shed", "sleeps"],
        "execution": ["unix_socket", str(rundir / "execution.sock"), "10,000", "8,000", "yes",
                      "yes", "block,", "stuck", "after", "5", "s", "sleeps"],
        "system": ["unix_socket", str(rundir / "system.sock"), "10,000", "8,000", "yes", "no",
                   "shed", "sleeps"]}


def test_config_check_prints_a_relay_that_busy_polls(rundir, tmp_path):
    path = tmp_path / "polling.yml"
    path.write_text("alphapulse:\n  market_data:\n    busy_poll_us: 2500\n")
    run = config_check(str(path), "--runtime-dir", str(rundir))
    assert run.returncode == 0 and run.stderr == ""
    rows = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines()
            if line.split() and line.split()[0] in DOMAINS}
    assert rows["market_data"][-3:] == ["polls", "2,500", "us"]
    assert rows["signals"][-1] == "sleeps"


def test_config_check_prints_a_dashboard_subscriptions():
    run = config_check("examples/dashboard_config.yml")
    assert run.returncode == 0 and run.stderr == ""
    rows = [line.split() for line in run.stdout.splitlines()]
    assert rows[1:] == [
        ["market_data", "/tmp/alphapulse/market_data.sock", "Trade,", "Quote,", "OrderBook"],
        ["signals", "/tmp/alphapulse/signals.sock", "PositionUpdate,", "StrategyAlert,",
         "PerformanceUpdate"],
        ["execution", "/tmp/alphapulse/execution.sock", "OrderStatus,", "Fill,",
         "ExecutionReport"]]


def test_config_check_prints_the_granted_group(rundir):
    path = write(rundir, f"alphapulse:\n  socket_group: {MY_GROUP}\n")
    run = config_check(str(path), "--runtime-dir", str(rundir))
    assert run.returncode == 0 and f"sockets: mode 0660, group {MY_GROUP}" in run.stdout


@pytest.mark.parametrize("text, words", [
    ("alphapulse:\n  execution:\n    circuit_breaker: 20000\n",
     ("line 3: alphapulse.execution.circuit_breaker: must be <= max_queue_size (10000), got"
      " 20000")),
    (ALIAS_BOMB, "line 2: aliases (*name) are not read"),
    ("alphapulse:\n  transport: carrier_pigeon\n",
     "alphapulse.transport: unknown transport 'carrier_pigeon'"),
    ("dashboard:\n  subscriptions:\n    signals:\n      message_types: [Fill]\n",
     "Fill is an execution type (42), not a signals type (20-39)"),
    ("execution: [unclosed\n", "not valid YAML"),
])
def test_config_check_refuses_a_bad_file_in_one_line_exit_2(text, words, rundir):
    path = write(rundir, text)
    run = config_check(str(path), "--runtime-dir", str(rundir))
    assert run.returncode == 2 and run.stdout == ""
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith(f"alphapulse: error: {path}, ") and words in run.stderr


def test_config_check_of_a_missing_file_is_exit_2(rundir):
    run = config_check(str(rundir / "none.yml"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr == f"alphapulse: error: {rundir / 'none.yml'}: cannot read: No such file" \
                         " or directory\n"
