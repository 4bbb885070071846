"""Where ao keeps its state: one data dir holds the registry, the lock, prompts and worktrees."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = "~/.ao"
# The data dir holds messages, prompts and agent environments (API keys): for its owner only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# Unix socket paths longer than this fail to bind (108 bytes on Linux, 104 on macOS).
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class DataDir:
    """Where one ao keeps everything: the registry, its tmux server, prompts and worktrees."""

    root: Path

    @classmethod
    def resolve(cls, value: str | os.PathLike[str] | None = None) -> DataDir:
        """The explicit value, else $AO_DATA_DIR, else ~/.ao; always absolute."""
        raw = value or os.environ.get("AO_DATA_DIR") or DEFAULT_DATA_DIR
        return cls(Path(raw).expanduser().resolve())

    def ensure(self) -> DataDir:
        private_dir(self.root)
        return self

    @property
    def db_path(self) -> Path:
        return self.root / "ao.db"

    @property
    def lock_path(self) -> Path:
        return self.root / "ao.lock"

    @cached_property  # asked of every session in every pass
    def owner_id(self) -> str:
        """Stamp put on every session ao creates from this data dir."""
        import hashlib  # its OpenSSL load costs a read command more than the hash itself

        return "ao-" + hashlib.sha256(str(self.root).encode()).hexdigest()[:12]

    def session_dir(self, session_id: str) -> Path:
        return self.root / "sessions" / session_id

    def worktree_dir(self, project: str, session_id: str) -> Path:
        return self.root / "worktrees" / project / session_id

    @property
    def zellij_socket_dir(self) -> Path:
        """Short on purpose: zellij puts session names in socket paths limited to about 100 bytes."""
        import tempfile

        return Path(tempfile.gettempdir()) / f"ao-zj-{os.getuid()}" / self.owner_id.removeprefix("ao-")[:8]

    @property
    def zellij_state_dir(self) -> Path:
        return self.root / "zellij"

    @property
    def tmux_config(self) -> Path:
        return self.root / "tmux.conf"

    @property
    def tmux_socket(self) -> Path:
        """A private tmux server per data dir; short enough for the socket path limit."""
        preferred = self.root / "tmux.sock"
        if len(str(preferred)) <= _MAX_SOCKET_PATH:
            return preferred
        import tempfile

        short = Path(tempfile.gettempdir()) / f"ao-{os.getuid()}" / f"{self.owner_id}.sock"
        return short


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable by its owner only; an existing one is left as is
    (`ao doctor` warns when it is wider)."""
    if not path.is_dir():
        if not path.parent.exists():
            private_dir(path.parent)
        try:
            path.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            return path
        path.chmod(PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and owner-only if it does not exist (before SQLite or a lock opens it).
    An existing file is never opened: closing any descriptor of a file drops every POSIX lock this
    process holds on it, SQLite's included, and another process could then reset the WAL under a
    connection of this one (its commits lost)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    return path


def read_json_object(path: Path) -> dict[str, Any] | None:
    """One of the data dir's small JSON files as a dict; None when it is missing, unreadable or not
    a JSON object (a hand-edited settings file never stops ao: the defaults apply)."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, owner-only from the first byte. The temporary name is
    this process's and thread's own: several launches of one pass write the same files at once."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as out:
            out.write(text)
    finally:
        os.close(fd)
    tmp.replace(path)


def too_open(path: Path) -> str | None:
    """`path`'s mode when group or others may access it, else None."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    return f"{mode:04o}" if mode & 0o077 else None
