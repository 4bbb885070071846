"""Converging from empty (figures 4 and 5), each repeat on a fresh data dir, against the same
sessions created by hand in a shell loop in the same run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from common import kill_server, scratch_repo
from fleet import apply, data_dir
from harness import SLEEPER, Row, Scratch, Sizes, Target, clean_env, progress, ticking
from reconcile_scale import raw_loop

from reconciler.reconcile.service import Service


def _ao_converge(scratch: Scratch, name: str, n: int, repo: Path, **options: object) -> float:
    path = data_dir(scratch, name)
    ao = Service(path)
    try:
        with ticking(f"ao converging {n}"):
            return apply(ao, n, repo, **options)
    finally:
        ao.close()
        kill_server(path.tmux_socket)


def empty_to_n(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 4: N workers, `workspace: none`, against N `tmux new-session -d` in a shell loop."""
    n = sizes.converge
    ao_times: list[float] = []
    by_hand: list[float] = []
    with Scratch("fig4") as scratch:
        for r in range(repeat):
            progress(f"  converge {n} (workspace none): repeat {r + 1}/{repeat}: ao")
            ao_times.append(_ao_converge(scratch, f"d{r}", n, scratch.root))
            progress(f"  converge {n} (workspace none): repeat {r + 1}/{repeat}: shell loop")
            loop_root = scratch.root / f"raw{r}"
            loop_root.mkdir()
            scratch.socket(loop_root / "raw.sock")
            with ticking(f"shell loop creating {n}"):
                by_hand.append(raw_loop(n, loop_root))
    return [Row("4", f"Converge from empty, {n} workers, `workspace: none`", "s", Target("ratio", 0.8),
                ao=ao_times, baseline=by_hand, baseline_what=f"{n}× `tmux new-session -d`, shell loop")]


def _worktree_loop(n: int, repo: Path, root: Path, socket: Path) -> float:
    """`git worktree add` (new branch) then `tmux new-session -d` in it, for each of N, in one shell loop."""
    script = (
        'for i in $(seq 1 "$N"); do '
        'git -C "$REPO" worktree add --quiet -b "bench/w$i" "$ROOT/w$i" main && '
        'tmux -S "$SOCKET" -f /dev/null new-session -d -s "w$i" -c "$ROOT/w$i" -- "$@" || exit 1; done'
    )
    env = clean_env(N=str(n), REPO=str(repo), ROOT=str(root), SOCKET=str(socket))
    start = time.perf_counter()
    subprocess.run(["bash", "-c", script, "loop", *SLEEPER], env=env, check=True)
    elapsed = time.perf_counter() - start
    kill_server(socket)
    return elapsed


def worktrees(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 5: N workers each in its own worktree, against the same worktrees and sessions by hand."""
    n = sizes.worktrees
    ao_times: list[float] = []
    by_hand: list[float] = []
    with Scratch("fig5") as scratch:
        for r in range(repeat):
            progress(f"  converge {n} in worktrees: repeat {r + 1}/{repeat}: ao")
            ao_times.append(_ao_converge(scratch, f"d{r}", n, scratch_repo(scratch.root / f"repo{r}"),
                                         workspace="worktree"))
            progress(f"  converge {n} in worktrees: repeat {r + 1}/{repeat}: shell loop")
            socket = scratch.socket(scratch.root / f"raw{r}.sock")
            with ticking(f"shell loop creating {n} worktrees"):
                by_hand.append(_worktree_loop(n, scratch_repo(scratch.root / f"raw-repo{r}"),
                                              scratch.root / f"raw-wt{r}", socket))
    return [Row("5", f"Converge {n} workers in their own worktrees", "s", Target("ratio", 1.0),
                ao=ao_times, baseline=by_hand,
                baseline_what=f"{n}× `git worktree add` + `tmux new-session -d`, one shell loop")]
