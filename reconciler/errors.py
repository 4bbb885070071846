"""One error base for everything ao reports to a user.

Each error carries the exit code the CLI uses (1 = the operation failed,
2 = usage or validation error) and a message that says what is wrong and what to do.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class AoError(Exception):
    """A failure that is reported to the user as one line, without a traceback."""

    exit_code = EXIT_FAILURE
    code = "ERROR"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(AoError):
    exit_code = EXIT_USAGE
    code = "USAGE"


class NotFound(AoError):
    code = "NOT_FOUND"


class RegistryUnreadable(AoError):
    """The registry file cannot be opened, read or written (damaged, a directory, read-only)."""

    code = "REGISTRY_UNREADABLE"

    def __init__(self, path: object, problem: object) -> None:
        super().__init__(
            f"cannot use the registry {path}: {problem}",
            hint=(f"if it is damaged, restore it from a backup or move it aside (mv {path} {path}.broken) "
                  "and apply your manifests again; if the data dir is read-only, make it writable"),
        )


class RuntimeMissing(AoError):
    """The multiplexer binary (tmux, zellij) is not installed."""

    code = "RUNTIME_MISSING"


class RuntimeFailure(AoError):
    """The multiplexer refused a command or could not be reached."""

    code = "RUNTIME_FAILURE"


class SessionProblem(Exception):
    """A session cannot be started as declared. Not a crash of the pass: the session is marked
    Failed, with `reason` (a short CamelCase word shown by `ao describe`) and `message`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
