"""Reconcile at scale, each figure beside its baseline measured in the same run:

- converge: N declared sessions from empty, in the repository itself (`workspace: none`: ao and tmux,
  not git), against a plain shell loop of the same N `tmux new-session -d` calls on a fresh server;
  then the no-op pass and one observation of the converged fleet;
- worktrees: N sessions each in its own git worktree, against a shell loop of `git worktree add` +
  `tmux new-session` for the same N;
- relaunch: every agent of the converged fleet is killed; the one pass that relaunches them all.

Every case is repeated; min and median are shown, and the ratio is the median of the paired ratios.

    python bench/reconcile_scale.py [--sizes 10 100 1000] [--worktrees 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import kill_server, scratch_repo, tmux_version_or_exit

from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile import limits
from reconciler.reconcile.plan import Verb
from reconciler.reconcile.service import Service

AGENT = ["sleep", "1000000"]
# Nothing runs yet to learn an agent's size from, so the memory rule would guess 256 MiB per agent and
# hold most of a big fleet back: these figures are about starting sessions, not that rule.
limits.machine = lambda settings: None
TARGETS = {"converge": "<= 0.8x raw", "worktrees": "<= 1.0x raw", "relaunch": "<= 6 s at 1000"}


def manifest(n: int, repo: Path, *, worktrees: bool = False) -> str:
    workers = "\n".join(f"    - name: w{i}" for i in range(n))
    return (
        "apiVersion: ao/v1\nkind: Project\nmetadata: {name: bench}\nspec:\n"
        f"  repo: {repo}\n  agent: {{command: {AGENT!r}}}\n".replace("'", '"')
        + ("" if worktrees else "  workspace: none\n")
        + "  orchestrator: {enabled: false}\n  workers:\n" + workers + "\n"
    )


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def raw_loop(n: int, root: Path) -> float:
    """The same N creations as a bare shell loop of tmux calls: the physical limit."""
    socket = root / "raw.sock"
    script = (
        f'for i in $(seq 1 {n}); do tmux -S "{socket}" -f /dev/null new-session -d -s "raw-$i" '
        f'-- {" ".join(AGENT)}; done'
    )
    elapsed = timed(lambda: subprocess.run(["bash", "-c", script], check=True))
    kill_server(socket)
    return elapsed


def raw_worktree_loop(n: int, root: Path) -> float:
    """N worktrees and N sessions by hand, one after the other, as a shell loop would."""
    repo = scratch_repo(root / "raw-repo")
    socket = root / "raw-wt.sock"
    script = (
        f'for i in $(seq 1 {n}); do git -C "{repo}" worktree add -q -b "raw/$i" "{root}/raw-wt/$i" main && '
        f'tmux -S "{socket}" -f /dev/null new-session -d -s "raw-$i" -c "{root}/raw-wt/$i" '
        f'-- {" ".join(AGENT)}; done'
    )
    elapsed = timed(lambda: subprocess.run(["bash", "-c", script], check=True))
    kill_server(socket)
    return elapsed


def converged(root: Path, n: int, repo: Path, *, worktrees: bool = False) -> tuple[Service, DataDir, float]:
    data_dir = DataDir.resolve(root / "d").ensure()
    ao = Service(data_dir)
    loaded, issues = load_text(manifest(n, repo, worktrees=worktrees), str(root / "bench.yaml"), root)
    assert not issues, issues
    start = time.perf_counter()
    report = ao.apply(loaded)
    elapsed = time.perf_counter() - start
    failed = [o.detail for o in report.reconcile.outcomes if not o.ok]
    assert not failed and len(ao.observe()) == n, f"did not converge ({len(failed)} failed): {failed[:1]}"
    return ao, data_dir, elapsed


def relaunch_all(ao: Service, n: int) -> float:
    """Kill every agent, wait until tmux shows them all dead, then time the pass that relaunches them."""
    for live in ao.observe().values():
        if live.pid:
            os.kill(live.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while any(live.alive for live in ao.observe().values()):
        assert time.monotonic() < deadline, "agents did not die"
        time.sleep(0.1)
    start = time.perf_counter()
    report = ao.reconcile()
    elapsed = time.perf_counter() - start
    relaunched = [a for a in report.actions if a.verb == Verb.RELAUNCH]
    assert report.ok and len(relaunched) == n, f"relaunched {len(relaunched)} of {n}"
    return elapsed


def measure_converge(n: int, repeat: int, *, relaunch: bool) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"converge": [], "raw": [], "noop": [], "observe": [], "relaunch": []}
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="ao-bench-", dir="/tmp"))
        try:
            ao, data_dir, elapsed = converged(root, n, root)
            figures["converge"].append(elapsed)
            figures["noop"].append(timed(ao.reconcile))
            figures["observe"].append(timed(ao.observe))
            if relaunch:
                figures["relaunch"].append(relaunch_all(ao, n))
            kill_server(data_dir.tmux_socket)
            figures["raw"].append(raw_loop(n, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return figures


def measure_worktrees(n: int, repeat: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"converge": [], "raw": []}
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="ao-bench-", dir="/tmp"))
        try:
            ao, data_dir, elapsed = converged(root, n, scratch_repo(root / "repo"), worktrees=True)
            figures["converge"].append(elapsed)
            kill_server(data_dir.tmux_socket)
            figures["raw"].append(raw_worktree_loop(n, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return figures


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}/{statistics.median(values):.3f}" if values else "-"


def ratio(figures: dict[str, list[float]]) -> float:
    return statistics.median(a / b for a, b in zip(figures["converge"], figures["raw"], strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], help="converge sizes")
    parser.add_argument("--worktrees", type=int, nargs="*", default=[100], help="worktree sizes")
    parser.add_argument("--relaunch", type=int, nargs="*", default=[1000],
                        help="sizes (among --sizes) at which to measure the relaunch pass")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case (min/median shown)")
    args = parser.parse_args()
    version = tmux_version_or_exit()
    print(f"# reconcile scale ({version}, {os.cpu_count()} CPUs); seconds as min/median of {args.repeat} runs; "
          f"targets: {', '.join(f'{k} {v}' for k, v in TARGETS.items())}")
    header = (f"{'case':>9} {'sessions':>8} {'ao':>13} {'baseline':>13} {'ratio':>6} {'no-op pass':>13} "
              f"{'observe':>13} {'relaunch':>13}")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        r = measure_converge(n, args.repeat, relaunch=n in args.relaunch)
        print(f"{'converge':>9} {n:>8} {spread(r['converge']):>13} {spread(r['raw']):>13} {ratio(r):>6.2f} "
              f"{spread(r['noop']):>13} {spread(r['observe']):>13} {spread(r['relaunch']):>13}", flush=True)
    for n in args.worktrees:
        r = measure_worktrees(n, args.repeat)
        print(f"{'worktrees':>9} {n:>8} {spread(r['converge']):>13} {spread(r['raw']):>13} {ratio(r):>6.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
