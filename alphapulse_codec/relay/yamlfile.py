"""Reading a configuration file that may be hostile: bounded in size and nesting, strict UTF-8,
no aliases, no duplicate keys, and every mapping remembers the line of each of its keys so
that an error can point at it."""
from __future__ import annotations

import functools
import os
import stat
from typing import Any

from ..wire.errors import ConfigError

MAX_FILE_BYTES = 256 * 1024  # a configuration of every domain is about 1 KiB
MAX_DEPTH = 16  # the deepest key of a configuration is at depth 4


class KeyedMapping(dict[Any, Any]):
    """A mapping read from YAML, with the 1-based line of each key."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


@functools.cache
def _strict_loader() -> Any:
    """The loader class, made on first use: PyYAML is imported only when a file is read."""
    import yaml
    from yaml.nodes import MappingNode, Node

    class _StrictLoader(yaml.SafeLoader):
        """safe_load's types, refusing what a configuration has no use for and an attacker does."""

        def __init__(self, stream: str, source: str) -> None:
            super().__init__(stream)
            self.source = source
            self.depth = 0

        def refuse(self, node_or_mark: Any, problem: str) -> ConfigError:
            mark = getattr(node_or_mark, "start_mark", node_or_mark)
            line = mark.line + 1
            return ConfigError(f"{self.source}, line {line}: {problem}", source=self.source,
                               line=line)

        def compose_node(self, parent: Node | None, index: Any) -> Node | None:
            if self.check_event(yaml.AliasEvent):
                # an alias can make a small file expand into a huge structure (a "billion laughs");
                # a configuration writes each value where it is used
                raise self.refuse(self.peek_event(), "aliases (*name) are not read in a"
                                  " configuration: write the value out")
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.refuse(self.peek_event(), f"nested more than {MAX_DEPTH} levels deep")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_keyed_mapping(self, node: Node) -> KeyedMapping:
            if not isinstance(node, MappingNode):
                raise self.refuse(node, "expected a mapping")
            mapping = KeyedMapping()
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.refuse(key_node, "merge keys (<<) are not read in a configuration")
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = key in mapping
                except TypeError:
                    raise self.refuse(key_node, "a key must be a name, not a list or mapping"
                                      ) from None
                if seen:
                    raise self.refuse(key_node, f"duplicate key {key!r} (first on line"
                                      f" {mapping.lines[key]})")
                mapping[key] = self.construct_object(value_node, deep=True)
                mapping.lines[key] = key_node.start_mark.line + 1
            return mapping

    _StrictLoader.add_constructor("tag:yaml.org,2002:map",
                                  _StrictLoader.construct_keyed_mapping)
    return _StrictLoader


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The document of a YAML file, or ConfigError naming the file and line at fault."""
    import yaml

    source = str(path)
    try:
        # not blocking: opening a FIFO would wait for a writer that may never come
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ConfigError(f"{source}: cannot read: {error.strerror}", source=source) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ConfigError(f"{source}: cannot read: {what}", source=source)
    with os.fdopen(descriptor, "rb") as stream:
        try:
            raw = stream.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"{source}: cannot read: {error.strerror}", source=source
                              ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_FILE_BYTES:,} bytes: not a"
                          " configuration", source=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ConfigError(f"{source}, line {line}: not UTF-8 (byte 0x{raw[error.start]:02x} at"
                          f" offset {error.start})", source=source, line=line) from None
    try:
        loader = _strict_loader()(text, source)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as error:  # a control character: its position, not a mark
        line = text.count("\n", 0, error.position) + 1
        raise ConfigError(f"{source}, line {line}: not valid YAML: character"
                          f" #x{error.character:04x} (character {error.position} of the file):"
                          f" {error.reason}",
                          source=source, line=line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = ", ".join(part for part in (error.context, error.problem) if part)
        if "'\\t'" in problem:  # as PyYAML shows the character
            problem += " (YAML indents with spaces, never tabs)"
        raise ConfigError(f"{source}{where}: not valid YAML: {problem}", source=source,
                          line=mark.line + 1 if mark else None) from None
    except ConfigError:
        raise
    except ValueError as error:  # a scalar Python refuses: an integer of 5,000 digits, 2024-13-45
        raise ConfigError(f"{source}: not valid YAML: {error}", source=source) from None

