"""Where the relays' sockets live: the runtime directory, checked before a relay binds in it.

A socket's directory must belong to the relays' user and be writable by no one else: whoever
can write there can replace a socket and read every frame sent to it.
"""
from __future__ import annotations

import grp
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from ..wire.errors import ConfigError

# sun_path holds 108 bytes on Linux, 104 on the BSDs and macOS, the terminating NUL included
MAX_SOCKET_PATH_BYTES = (104 if sys.platform == "darwin" or "bsd" in sys.platform else 108) - 1
DIRECTORY_MODE = 0o700
GROUP_DIRECTORY_MODE = 0o710  # members may reach a socket they know the name of, not list


def default_runtime_dir(environ: Mapping[str, str] = os.environ) -> tuple[Path, str]:
    """The runtime directory when none is given, and why it is that one."""
    xdg = environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "alphapulse", "$XDG_RUNTIME_DIR/alphapulse"
    # the XDG base directory specification has a relative value ignored
    return Path("/tmp/alphapulse"), "the default, $XDG_RUNTIME_DIR being unset"


def runtime_dir_of(explicit: str | os.PathLike[str] | None = None,
                   configured: str | os.PathLike[str] | None = None) -> Path:
    """The runtime directory: `explicit` (--runtime-dir), else `configured` (a configuration
    file's), else ``$XDG_RUNTIME_DIR/alphapulse``, else ``/tmp/alphapulse``."""
    for given in (explicit, configured):
        if given is not None:
            return Path(given)
    return default_runtime_dir()[0]


def socket_path_problem(text: str) -> str | None:
    """Why `text` cannot be a Unix socket's address, or None."""
    path = Path(text)
    if "\0" in text:
        return "contains a NUL character"
    if not path.is_absolute():
        return f"{text}: not an absolute path"
    if text.endswith(("/", "/.", "/..")) or path.name in ("", ".", ".."):
        return f"{text}: names a directory, not a socket"
    return socket_path_length_problem(text)


def socket_path_length_problem(path: str | os.PathLike[str]) -> str | None:
    """Why no socket can be bound or reached at `path` for its length, or None."""
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        return (f"{os.fspath(path)}: {size} bytes long, more than the {MAX_SOCKET_PATH_BYTES}"
                " a Unix socket address holds")
    return None


def directory_problem(directory: Path) -> str | None:
    """Why `directory` cannot hold the relays' sockets, or None. A directory that does not
    exist yet is fine when it can be created."""
    try:
        info = directory.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return _creation_problem(directory)
    except OSError as error:
        return f"{directory}: {error.strerror}"
    if stat.S_ISLNK(info.st_mode):
        return f"{directory} is a symbolic link: give the directory it points to"
    if not stat.S_ISDIR(info.st_mode):
        return f"{directory} is not a directory"
    if info.st_uid != os.geteuid():
        return (f"{directory} belongs to uid {info.st_uid}, not to this user (uid"
                f" {os.geteuid()}): another user could replace the sockets in it")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"{directory} is writable by {_writers(info.st_mode)} (mode"
                f" {stat.S_IMODE(info.st_mode):04o}): they could replace the sockets in it;"
                " use a directory of its own")
    return None


def _writers(mode: int) -> str:
    return {stat.S_IWGRP: "its group", stat.S_IWOTH: "others"}.get(
        mode & (stat.S_IWGRP | stat.S_IWOTH), "its group and others")


def _creation_problem(directory: Path) -> str | None:
    ancestor = directory.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{directory} cannot be created: {ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{directory} cannot be created: {ancestor} is not writable by this user"
    return None


def group_problem(name: str) -> str | None:
    """Why the relays cannot give their sockets to group `name`, or None."""
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        return f"no group named {name!r} on this machine"
    if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
        return f"this user is not a member of group {name!r}, so cannot give it the sockets"
    return None


def ensure_runtime_dir(path: str | os.PathLike[str], group: str | None = None) -> Path:
    """Create the directory of the relays' sockets (mode 0700; 0710 in `group` when a group is
    granted, so that its members can reach the sockets), or check the one already there.
    Refuses, with ConfigError, a directory of another user or writable by others."""
    directory = Path(path)
    if not directory.is_absolute():
        raise ConfigError(f"runtime directory {directory}: not an absolute path")
    problem = group_problem(group) if group is not None else None
    if problem:
        raise ConfigError(f"socket_group: {problem}")
    problem = directory_problem(directory)
    if problem:
        raise ConfigError(f"runtime directory {problem}")
    try:
        directory.mkdir(mode=DIRECTORY_MODE, parents=True)
        created = True
    except FileExistsError:
        created = False
    except OSError as error:
        raise ConfigError(f"cannot create runtime directory {directory}: {error.strerror}"
                          ) from None
    problem = directory_problem(directory)  # again: another process may have been first
    if problem:
        raise ConfigError(f"runtime directory {problem}")
    if created:
        os.chmod(directory, DIRECTORY_MODE)  # exactly, whatever the umask took away
    if group is not None:
        os.chown(directory, -1, grp.getgrnam(group).gr_gid)
        os.chmod(directory, stat.S_IMODE(directory.stat().st_mode) | GROUP_DIRECTORY_MODE)
    return directory
