"""Recovery figures: the pass that relaunches every dead agent (6), and a whole fleet brought back
by a running controller after its tmux server was killed (7)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from common import kill_server
from fleet import (
    PROJECT,
    apply,
    data_dir,
    kill_every_agent,
    panes,
    ran_for_an_hour,
    session_ids,
    start_controller,
)
from harness import (
    SLEEPER,
    BenchError,
    Row,
    Scratch,
    Sizes,
    Target,
    clean_env,
    poll,
    progress,
    stop,
    ticking,
)
from reconcile_scale import raw_loop

from reconciler.reconcile.service import Service


def _alive(socket: Path) -> int:
    return sum(1 for _, _, dead in panes(socket) if not dead)


def _respawn_loop(socket: Path, ids: list[str]) -> float:
    """`respawn-pane -k` of each dead pane with the agent again, in one shell loop."""
    script = 'for s in $IDS; do tmux -S "$SOCKET" respawn-pane -k -t "=$s:" -- "$@" || exit 1; done'
    start = time.perf_counter()
    subprocess.run(["bash", "-c", script, "loop", *SLEEPER], env=clean_env(IDS=" ".join(ids), SOCKET=str(socket)),
                   check=True)
    return time.perf_counter() - start


def after_every_agent_died(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 6: every agent of N killed at once, then one in-process pass relaunches them all;
    against `respawn-pane -k` of the same dead panes in a shell loop."""
    n = sizes.relaunch
    ao_times: list[float] = []
    by_hand: list[float] = []
    with Scratch("fig6") as scratch:
        path = data_dir(scratch)
        socket = path.tmux_socket
        ao = Service(path)
        with ticking(f"converging {n} sessions"):
            apply(ao, n, scratch.root, policy="Always")
        ids = session_ids(ao)
        ao.close()
        for r in range(repeat):
            ran_for_an_hour(path)
            ao = Service(path)  # fresh after the registry was edited behind its back
            try:
                ao.reconcile()  # settles anything the last repeat left, untimed
                progress(f"  relaunch after all {n} died: repeat {r + 1}/{repeat}: ao")
                kill_every_agent(socket, n)
                with ticking(f"ao relaunching {n}"):
                    start = time.perf_counter()
                    report = ao.reconcile()
                    ao_times.append(time.perf_counter() - start)
            finally:
                ao.close()
            if not report.ok or _alive(socket) != n:
                raise BenchError(f"the relaunch pass left {n - _alive(socket)} of {n} agents dead")
            progress(f"  relaunch after all {n} died: repeat {r + 1}/{repeat}: shell loop")
            kill_every_agent(socket, n)
            with ticking(f"shell loop respawning {n}"):
                by_hand.append(_respawn_loop(socket, ids))
            if _alive(socket) != n:
                raise BenchError("the respawn loop left dead panes")
    return [Row("6", f"Relaunch pass after every agent of {n} died (SIGKILL)", "s", Target("ao", 6.0),
                ao=ao_times, baseline=by_hand, baseline_what=f"{n}× `tmux respawn-pane -k`, shell loop")]


def server_killed(sizes: Sizes, repeat: int) -> list[Row]:
    """Figure 7: the tmux server killed under a running `ao controller`; the time until every
    session runs again (tmux shows each pane alive and the registry says Running). Against
    re-creating as many sessions by hand in a shell loop."""
    n = sizes.server_kill
    total = n + 1  # and the orchestrator
    ao_times: list[float] = []
    by_hand: list[float] = []
    with Scratch("fig7") as scratch:
        for r in range(repeat):
            path = data_dir(scratch, f"d{r}")
            ao = Service(path)
            try:
                with ticking(f"converging {total} sessions"):
                    apply(ao, n, scratch.root, orchestrator=True, policy="Always")
                controller = start_controller(scratch, path)

                def all_running() -> bool:
                    if controller.poll() is not None:
                        raise BenchError(f"ao controller exited ({controller.returncode})")
                    return _alive(path.tmux_socket) == total and all(
                        s.phase == "Running" for s in ao.sessions(PROJECT))

                progress(f"  tmux server killed under the controller ({total} sessions): repeat {r + 1}/{repeat}")
                start = time.perf_counter()
                kill_server(path.tmux_socket)
                with ticking(f"controller bringing back {total}"):
                    poll(all_running, 120, f"all {total} sessions running again", interval=0.02)
                ao_times.append(time.perf_counter() - start)
            finally:
                ao.close()
            stop(controller)
            kill_server(path.tmux_socket)
            progress(f"  tmux server killed: repeat {r + 1}/{repeat}: shell loop creating {total}")
            loop_root = scratch.root / f"raw{r}"
            loop_root.mkdir()
            scratch.socket(loop_root / "raw.sock")
            by_hand.append(raw_loop(total, loop_root))
    return [Row("7", f"tmux server killed under `ao controller`, {n} sessions + orchestrator: all running again",
                "s", Target("ao", 3.0), ao=ao_times, baseline=by_hand,
                baseline_what=f"{total}× `tmux new-session -d`, shell loop")]
