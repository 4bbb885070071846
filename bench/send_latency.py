"""`ao send` latency: wall time of a real send to a live demo agent, against a bare interpreter.

Agents run `ao send` all day, so its start-up must stay close to the interpreter's own. One run
applies a one-worker project (the demo agent, no orchestrator) with the real `ao` executable, then
times, interleaved, N runs each of:

  (a) python -c pass                      the bare interpreter (the floor)
  (b) ao send WORKER MESSAGE              a real delivery, pause before Enter included
  (c) ao send ... with AO_SEND_PAUSE=0    the same without the deliberate pause
  (d) ao --version                        the full typer CLI start-up, for reference

    python bench/send_latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import kill_server, percentile, scratch_repo, tmux_version_or_exit

from reconciler.paths import DataDir

AO = str(Path(sys.executable).parent / "ao")
TARGET_MS = 100.0
MESSAGE = "bench: please report your status"


def manifest(repo: Path) -> str:
    return (
        "apiVersion: ao/v1\nkind: Project\nmetadata: {name: bench}\nspec:\n"
        f"  repo: {repo}\n  agent: {{preset: demo}}\n  orchestrator: {{enabled: false}}\n"
        "  workers:\n    - name: w\n      prompt: wait for messages\n"
    )


def poll(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def timed(argv: list[str], env: dict[str, str], check: Callable[[subprocess.CompletedProcess[str]], bool]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or not check(result):
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return elapsed * 1000


def measure(runs: int) -> dict[str, list[float]]:
    root = Path(tempfile.mkdtemp(prefix="ao-bench-", dir="/tmp"))
    data_dir = DataDir.resolve(root / "d").ensure()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AO_") and k not in ("TMUX", "TMUX_PANE")}
    env["AO_DATA_DIR"] = str(data_dir.root)
    try:
        repo = scratch_repo(root / "repo")
        path = root / "bench.yaml"
        path.write_text(manifest(repo))
        applied = subprocess.run([AO, "apply", "-f", str(path)], env=env, capture_output=True, text=True)
        if applied.returncode != 0:
            raise SystemExit(f"ao apply failed: {applied.stdout}{applied.stderr}")
        listed = subprocess.run([AO, "get", "sessions", "-p", "bench", "-o", "json"], env=env,
                                capture_output=True, text=True, check=True)
        [worker] = [s["id"] for s in json.loads(listed.stdout) if s["kind"] == "worker"]

        def prompt_shown() -> bool:
            out = subprocess.run([AO, "logs", worker, "-n", "5"], env=env, capture_output=True, text=True)
            return out.returncode == 0 and out.stdout.rstrip().endswith(">")

        poll(prompt_shown, 30, f"{worker} to show its input prompt")

        def delivered(result: subprocess.CompletedProcess[str]) -> bool:
            return f"message/{worker} delivered" in result.stdout

        cases: dict[str, tuple[list[str], dict[str, str], Callable[[subprocess.CompletedProcess[str]], bool]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env, lambda r: True),
            "ao send": ([AO, "send", worker, MESSAGE], env, delivered),
            "ao send, AO_SEND_PAUSE=0": ([AO, "send", worker, MESSAGE], {**env, "AO_SEND_PAUSE": "0"}, delivered),
            "ao --version": ([AO, "--version"], env, lambda r: r.stdout.startswith("ao ")),
        }
        for argv, case_env, check in cases.values():  # warm the page cache once
            timed(argv, case_env, check)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):  # interleaved, so drift hits every case alike
            for name, (argv, case_env, check) in cases.items():
                times[name].append(timed(argv, case_env, check))
        return times
    finally:
        kill_server(data_dir.tmux_socket)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each command")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    version = tmux_version_or_exit()
    print(f"# ao send latency ({version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs); "
          f"{args.runs} runs; wall times in ms; target: overhead above the bare interpreter, "
          f"excluding the pause, <= {TARGET_MS:.0f} ms")
    times = measure(args.runs)
    header = f"{'command':<26} {'p50':>8} {'p95':>8} {'min':>8}"
    print(header)
    print("-" * len(header))
    for name, values in times.items():
        print(f"{name:<26} {statistics.median(values):>8.1f} {percentile(values, 95):>8.1f} {min(values):>8.1f}")
    overhead = statistics.median(times["ao send, AO_SEND_PAUSE=0"]) - statistics.median(times["python -c pass"])
    verdict = "ok" if overhead <= TARGET_MS else "OVER TARGET"
    print(f"\noverhead above the bare interpreter, excluding the pause (p50 c - p50 a): "
          f"{overhead:.1f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
