"""Runtime adapters: the multiplexers that host sessions (tmux; zellij later) behind one protocol."""

from .base import Launch, Live, Runtime, Stamp

__all__ = ["Launch", "Live", "Runtime", "Stamp"]
