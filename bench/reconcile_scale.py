"""Reconcile at scale: converge N declared sessions from empty, then a no-op pass.

Sessions run in the repository itself (`workspace: none`): this measures ao and tmux, not git.

Compares ao against the physical limit measured in the same run: a plain shell loop of
`tmux new-session -d` calls creating the same number of sessions on a fresh server.

    python bench/reconcile_scale.py [--sizes 10 100 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import kill_server, tmux_version_or_exit

from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile.service import Service

AGENT = ["sleep", "1000000"]


def manifest(n: int, repo: Path) -> str:
    workers = "\n".join(f"    - name: w{i}" for i in range(n))
    return (
        "apiVersion: ao/v1\nkind: Project\nmetadata: {name: bench}\nspec:\n"
        f"  repo: {repo}\n  agent: {{command: {AGENT!r}}}\n".replace("'", '"')
        + "  workspace: none\n  orchestrator: {enabled: false}\n  workers:\n" + workers + "\n"
    )


def raw_loop(n: int, root: Path) -> float:
    """The same N creations as a bare shell loop of tmux calls: the physical limit."""
    socket = root / "raw.sock"
    script = (
        f'for i in $(seq 1 {n}); do tmux -S "{socket}" -f /dev/null new-session -d -s "raw-$i" '
        f'-- {" ".join(AGENT)}; done'
    )
    start = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True)
    elapsed = time.perf_counter() - start
    kill_server(socket)
    return elapsed


def measure(n: int, repeat: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="ao-bench-", dir="/tmp"))
    try:
        data_dir = DataDir.resolve(root / "d").ensure()
        ao = Service(data_dir)
        (loaded, issues) = load_text(manifest(n, root), str(root / "bench.yaml"), root)
        assert not issues, issues
        start = time.perf_counter()
        report = ao.apply(loaded)
        converge = time.perf_counter() - start
        assert report.reconcile.ok and len(ao.observe()) == n, "did not converge"
        noop = []
        for _ in range(repeat):
            start = time.perf_counter()
            report = ao.reconcile()
            noop.append(time.perf_counter() - start)
            assert not report.actions, report.actions[:3]
        observe = []
        for _ in range(repeat):
            start = time.perf_counter()
            ao.observe()
            observe.append(time.perf_counter() - start)
        kill_server(data_dir.tmux_socket)
        raw = raw_loop(n, root)
        return {
            "converge": converge,
            "raw": raw,
            "noop": statistics.median(noop),
            "observe": statistics.median(observe),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5, help="no-op passes to take the median of")
    args = parser.parse_args()
    version = tmux_version_or_exit()
    print(f"# reconcile scale ({version}, {os.cpu_count()} CPUs); times in seconds; targets: "
          "no-op pass at 1000 < 0.100 s, converge <= 1.5x raw")
    header = f"{'sessions':>8} {'converge':>9} {'raw tmux':>9} {'ratio':>6} {'no-op pass':>11} {'observe':>8}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        r = measure(n, args.repeat)
        print(f"{n:>8} {r['converge']:>9.3f} {r['raw']:>9.3f} {r['converge'] / r['raw']:>6.2f} "
              f"{r['noop']:>11.4f} {r['observe']:>8.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
