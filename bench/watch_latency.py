"""Watch latency: from saving a watched manifest to the change being live in tmux.

Starts the real `ao controller --watch DIR` (its own data dir and tmux server), then saves the
manifest N times adding one worker each time (save -> that worker's agent running), then N times
removing one (save -> its session gone from tmux). Saves are atomic, as editors do them: write a
temporary file next to the manifest, then rename it over the manifest.

    python bench/watch_latency.py [--edits 20]
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
from pathlib import Path

from common import kill_server, percentile, scratch_repo, tmux_version_or_exit

from reconciler.paths import DataDir
from reconciler.runtime.tmux import TmuxRuntime

AGENT = ["sleep", "1000000"]
TARGET_P95_MS = 1000.0
STEP_TIMEOUT = 30.0
AO = str(Path(sys.executable).parent / "ao")


def manifest(repo: Path, workers: list[str]) -> str:
    lines = "".join(f"    - name: {w}\n" for w in workers)
    return (
        "apiVersion: ao/v1\nkind: Project\nmetadata: {name: bench}\nspec:\n"
        f"  repo: {repo}\n  agent: {{command: {AGENT!r}}}\n".replace("'", '"')
        + "  orchestrator: {enabled: false}\n  workers:\n" + lines
    )


def save(path: Path, text: str) -> float:
    """Write like an editor (temp file, then rename over the target); returns the save time."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)
    return time.perf_counter()


def alive(runtime: TmuxRuntime) -> set[str]:
    return {sid for sid, live in runtime.observe().items() if live.alive}


def poll(condition, what: str, controller: subprocess.Popen, log: Path) -> float:  # type: ignore[no-untyped-def]
    """Tight loop until `condition()` holds; returns the time it first held."""
    deadline = time.perf_counter() + STEP_TIMEOUT
    while True:
        if condition():
            return time.perf_counter()
        now = time.perf_counter()
        if now > deadline or controller.poll() is not None:
            state = "exited" if controller.poll() is not None else "running"
            tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
            raise SystemExit(f"timed out waiting for {what} (controller {state}); its log ends:\n{tail}")


def run(edits: int) -> tuple[list[float], list[float]]:
    root = Path(tempfile.mkdtemp(prefix="ao-watch-", dir="/tmp"))
    data_dir = DataDir.resolve(root / "d").ensure()
    runtime = TmuxRuntime(data_dir.tmux_socket, data_dir.tmux_config)
    repo = scratch_repo(root / "repo")
    folder = root / "manifests"
    folder.mkdir()
    path = folder / "bench.yaml"
    workers = ["base"]
    save(path, manifest(repo, workers))
    log = root / "controller.log"
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    env.pop("AO_SESSION_ID", None)
    with log.open("w") as out:
        controller = subprocess.Popen([AO, "controller", "--watch", str(folder)], stdout=out, stderr=subprocess.STDOUT,
                                      env=env)
    try:
        # Ready: the controller has applied the folder once and the base worker's agent runs.
        poll(lambda: "bench-1" in alive(runtime), "the controller to start bench-1", controller, log)
        ids: dict[str, str] = {}
        running: list[float] = []
        for i in range(edits):
            before = alive(runtime)
            name = f"w{i}"
            workers.append(name)
            saved = save(path, manifest(repo, workers))
            seen = poll(lambda: bool(alive(runtime) - before), f"worker {name} to run", controller, log)
            [ids[name]] = alive(runtime) - before
            running.append((seen - saved) * 1000)
        reaped: list[float] = []
        for i in reversed(range(edits)):
            name = f"w{i}"
            workers.remove(name)
            sid = ids[name]
            saved = save(path, manifest(repo, workers))
            seen = poll(lambda: sid not in runtime.observe(), f"{sid} to be reaped", controller, log)
            reaped.append((seen - saved) * 1000)
        return running, reaped
    finally:
        if controller.poll() is None:
            controller.send_signal(signal.SIGTERM)
            try:
                controller.wait(timeout=15)
            except subprocess.TimeoutExpired:
                controller.kill()
                controller.wait()
        kill_server(data_dir.tmux_socket)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=20, help="saves that add a worker (and as many that remove one)")
    args = parser.parse_args()
    if args.edits < 1:
        print("--edits must be at least 1", file=sys.stderr)
        return 2
    version = tmux_version_or_exit()
    running, reaped = run(args.edits)
    print(f"# watch latency ({version}, {os.cpu_count()} CPUs, {args.edits} edits each way); "
          f"times in ms; target: p95 < {TARGET_P95_MS:.0f} ms")
    header = f"{'':<16} {'p50':>8} {'p95':>8} {'max':>8} {'mean':>8}  target"
    print(header)
    print("-" * len(header))
    for label, values in (("save -> running", running), ("save -> reaped", reaped)):
        p95 = percentile(values, 95)
        verdict = "ok" if p95 < TARGET_P95_MS else "MISSED"
        print(f"{label:<16} {statistics.median(values):>8.0f} {p95:>8.0f} {max(values):>8.0f} "
              f"{statistics.fmean(values):>8.0f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
