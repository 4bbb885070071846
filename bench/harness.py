"""What every figure of the speed table shares: a scratch area that always cleans up, timing,
progress on stderr, polling with a deadline, and one row of the table with its verdict."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common import kill_server

from reconciler import polling

AO = str(Path(sys.executable).parent / "ao")
SLEEPER = ["sleep", "1000000"]  # an agent that costs nothing and lives until killed


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# Not the caller's: an enclosing ao or tmux session's identity, and PYTHONDONTWRITEBYTECODE (set in
# some CI images), which makes every ao process compile its modules again: users' do not.
NOT_INHERITED = ("TMUX", "TMUX_PANE", "PYTHONDONTWRITEBYTECODE")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a user's ao runs in: the bench's own, less what `NOT_INHERITED` names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AO_") and k not in NOT_INHERITED}
    return {**env, **extra}


def forget_enclosing_session() -> None:
    """In-process services must not take the identity of the ao or tmux session the bench runs in."""
    for key in [k for k in os.environ if k.startswith("AO_") or k in ("TMUX", "TMUX_PANE")]:
        del os.environ[key]


def poll(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    """ao's own polling loop; a condition that never holds fails the figure, naming `what`."""
    value = polling.poll(lambda: condition() or None, timeout=timeout, interval=interval)
    if value is None:
        raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
    return value


class BenchError(Exception):
    """A figure could not be measured (its setup failed); the table shows the reason instead."""


@contextlib.contextmanager
def ticking(what: str, every: float = 5.0) -> Iterator[None]:
    """Say on stderr that a long operation is still going, every few seconds, without touching it."""
    done = threading.Event()
    start = time.monotonic()

    def tick() -> None:
        while not done.wait(every):
            progress(f"  ... {what}: {time.monotonic() - start:.0f} s")

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def timed_call(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def timed_process(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of a whole process, in seconds; it must succeed."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise BenchError(f"{' '.join(argv[:4])} failed ({result.returncode}): {(result.stderr or result.stdout)[-300:]}")
    return elapsed


class Scratch:
    """A figure's private temp dir, tmux servers and child processes, all removed on exit, even on
    an error or Ctrl-C."""

    def __init__(self, name: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"ao-bench-{name}-"))
        self.sockets: list[Path] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def socket(self, path: Path) -> Path:
        """Register a tmux server socket to kill at the end."""
        self.sockets.append(path)
        return path

    def spawn(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            # Its own process group: a Ctrl-C reaches the bench, which then stops it in order.
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            stop(process)
        for socket in self.sockets:
            kill_server(socket)
        shutil.rmtree(self.root, ignore_errors=True)


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ------------------------------------------------------------------ rows of the table

@dataclass(frozen=True)
class Target:
    """What the figure must meet: `kind` is "ao" (ao's median itself), "delta" (ao minus the
    baseline, medians) or "ratio" (ao over the baseline, medians); at most `limit`."""

    kind: str
    limit: float


@dataclass
class Row:
    figure: str
    what: str
    unit: str  # "ms", "s" or "%"; samples are in seconds, or percent for "%"
    target: Target
    ao: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    baseline_what: str = ""
    compare_kind: str = "ratio"  # how ao is set against its baseline: "delta", "ratio" or "" (not at all)
    error: str | None = None

    def compare(self) -> float | None:
        """ao against its baseline (medians): ao minus baseline, or ao over baseline."""
        if not self.ao or not self.baseline or not self.compare_kind:
            return None
        ao, base = statistics.median(self.ao), statistics.median(self.baseline)
        if self.compare_kind == "delta":
            return ao - base
        return ao / base if base > 0 else None

    def met(self) -> bool | None:
        if not self.ao:
            return None
        if self.target.kind == "ao":
            value: float | None = statistics.median(self.ao)
        else:
            assert self.target.kind == self.compare_kind, (self.figure, self.target.kind, self.compare_kind)
            value = self.compare()
            if value is not None and self.compare_kind == "ratio":
                value = round(value, 2)  # as the table shows it: "1.00×" meets "≤ 1×"
        return None if value is None else value <= self.target.limit


@dataclass(frozen=True)
class Sizes:
    """Fleet sizes of each figure; --quick shrinks them for a fast check of the harness."""

    commands: int = 100  # figures 1 and 2: sessions in the registry
    passes: int = 1000  # figure 3
    converge: int = 1000  # figure 4
    worktrees: int = 100  # figure 5
    relaunch: int = 1000  # figure 6
    server_kill: int = 100  # figure 7
    idle: int = 1000  # figure 8
    cpu_window: float = 10.0  # seconds of one idle-CPU sample
    cheap_per_repeat: int = 5  # samples of a sub-second figure per --repeat

    @classmethod
    def quick(cls) -> Sizes:
        return cls(commands=10, passes=50, converge=50, worktrees=10, relaunch=50, server_kill=10, idle=50,
                   cpu_window=2.0, cheap_per_repeat=2)
