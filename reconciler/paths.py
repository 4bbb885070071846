"""Where ao keeps its state: one data dir holds the registry, the lock, prompts and worktrees."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "~/.ao"
# Unix socket paths longer than this fail to bind (108 bytes on Linux, 104 on macOS).
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(cls, value: str | os.PathLike[str] | None = None) -> DataDir:
        """The explicit value, else $AO_DATA_DIR, else ~/.ao; always absolute."""
        raw = value or os.environ.get("AO_DATA_DIR") or DEFAULT_DATA_DIR
        return cls(Path(raw).expanduser().resolve())

    def ensure(self) -> DataDir:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def db_path(self) -> Path:
        return self.root / "ao.db"

    @property
    def lock_path(self) -> Path:
        return self.root / "ao.lock"

    @property
    def owner_id(self) -> str:
        """Stamp put on every session ao creates from this data dir."""
        return "ao-" + hashlib.sha256(str(self.root).encode()).hexdigest()[:12]

    def session_dir(self, session_id: str) -> Path:
        return self.root / "sessions" / session_id

    def worktree_dir(self, project: str, session_id: str) -> Path:
        return self.root / "worktrees" / project / session_id

    @property
    def zellij_socket_dir(self) -> Path:
        """Short on purpose: zellij puts session names in socket paths limited to about 100 bytes."""
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
        short = Path(tempfile.gettempdir()) / f"ao-{os.getuid()}" / f"{self.owner_id}.sock"
        return short
