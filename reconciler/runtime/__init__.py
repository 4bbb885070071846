"""Runtime adapters: the multiplexers that host sessions (tmux; zellij later) behind one protocol."""

from .base import Launch, Observed, Runtime, Stamp

__all__ = ["Launch", "Observed", "Runtime", "Stamp"]
