"""The speed table of issue 11: each figure measured beside its baseline in the same run, repeated,
as min/median, with its target and whether the median meets it.

    python bench/table.py [--repeat 3] [--quick] [--only 1,4] [--markdown] [--write-readme README.md]

Progress goes to stderr; the table to stdout (`--markdown`: only the table and its notes, ready
to paste; `--write-readme FILE`: also put them between FILE's speed-table markers). Every figure runs in its own temp dir with its own tmux server, both
removed afterwards, even on an error or Ctrl-C. --quick shrinks every fleet (and the targets,
made for full size, are then not judged): a check that the harness works, not a measurement.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import at_rest
import converge
import relaunch
from common import tmux_version_or_exit
from harness import BenchError, Row, Sizes, Target, forget_enclosing_session, progress

Figure = Callable[[Sizes, int], list[Row]]

# number -> (short title for progress and errors, how it is measured, its unit and target in an error row)
FIGURES: dict[int, tuple[str, Figure, str, Target]] = {
    1: ("read commands, whole process", at_rest.commands, "ms", Target("delta", 0.080)),
    2: ("`ao reconcile` with nothing to do, whole process", at_rest.reconcile_noop, "ms", Target("ao", 0.120)),
    3: ("in-process no-op pass", at_rest.noop_pass, "ms", Target("ao", 0.025)),
    4: ("converge from empty, `workspace: none`", converge.empty_to_n, "s", Target("ratio", 0.8)),
    5: ("converge in worktrees", converge.worktrees, "s", Target("ratio", 1.0)),
    6: ("relaunch pass after every agent died", relaunch.after_every_agent_died, "s", Target("ao", 6.0)),
    7: ("tmux server killed under the controller", relaunch.server_killed, "s", Target("ao", 3.0)),
    8: ("idle controller CPU", at_rest.idle_controller, "%", Target("ao", 1.0)),
}


def _amount(seconds: float, unit: str) -> str:
    if unit == "ms":
        return f"{seconds * 1000:.0f} ms"
    if unit == "%":
        return f"{seconds:.2f} %"
    return f"{seconds:.2f} s"


def _spread(values: list[float], unit: str) -> str:
    if not values:
        return "—"
    low, mid = min(values), statistics.median(values)
    return f"{_amount(low, unit)} / {_amount(mid, unit)}".replace(f" {unit} /", " /", 1)  # "210 / 230 ms"


def _compare(row: Row) -> str:
    value = row.compare()
    if value is None:
        return "—"
    if row.compare_kind == "delta":
        return ("+" if value >= 0 else "−") + _amount(abs(value), row.unit)
    return f"{value:.2f}×"


def _target(target: Target, unit: str) -> str:
    if target.kind == "ratio":
        return f"≤ {target.limit:g}×"
    prefix = "+" if target.kind == "delta" else ""
    amount = f"{target.limit * 1000:g} ms" if unit == "ms" else f"{target.limit:g} {unit}"
    return f"≤ {prefix}{amount}"


def render(rows: list[Row], *, quick: bool) -> list[str]:
    lines = ["| # | Figure | ao (min / median) | baseline (min / median) | ao vs baseline | target | met? |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.error:
            lines.append(f"| {row.figure} | {row.what} | error: {row.error} | | | {_target(row.target, row.unit)} | — |")
            continue
        met = row.met()
        verdict = "— (quick)" if quick else {True: "yes", False: "**no**", None: "—"}[met]
        baseline = f"{_spread(row.baseline, row.unit)} ({row.baseline_what})" if row.baseline else "—"
        lines.append(f"| {row.figure} | {row.what} | {_spread(row.ao, row.unit)} | {baseline} | {_compare(row)} | "
                     f"{_target(row.target, row.unit)} | {verdict} |")
    return lines


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _machine(load_at_start: float) -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=False)
    commit = git.stdout.strip() or "unknown"
    return (f"{os.cpu_count()} CPUs ({cpu}), load average {load_at_start:.1f} at the start and {_load():.1f} at "
            f"the end, Python {platform.python_version()}, "
            f"{tmux_version_or_exit()}, ao at {commit}")


def notes(repeat: int, sizes: Sizes, quick: bool, wall: float, load_at_start: float) -> list[str]:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {_machine(load_at_start)}; `--repeat {repeat}`, {wall:.0f} s in all.",
        f"Sub-second figures (1–3) take {sizes.cheap_per_repeat * repeat} interleaved samples, the others {repeat}; "
        f"idle CPU is sampled over {repeat} window{'s' if repeat > 1 else ''} of {sizes.cpu_window:g} s.",
        "Met? judges the median: ao's own for an absolute target, ao minus or over its baseline otherwise.",
    ]
    if quick:
        lines.insert(0, "**Quick mode: small fleets; the targets are for the full sizes and are not judged.**")
    return [part for line in lines for part in ("", line)]  # one paragraph each


def parse_only(values: list[str]) -> list[int]:
    chosen: list[int] = []
    for value in values:
        for part in value.replace(",", " ").split():
            if not part.isdigit() or int(part) not in FIGURES:
                raise argparse.ArgumentTypeError(f"no figure {part!r}: choose among {', '.join(map(str, FIGURES))}")
            if int(part) not in chosen:
                chosen.append(int(part))
    return sorted(chosen) or list(FIGURES)


README_START = "<!-- speed table: generated by `make bench-readme` (bench/table.py --write-readme) -->"
README_END = "<!-- end of speed table -->"


def write_readme(path: Path, lines: list[str]) -> None:
    """Replace what lies between the README's speed-table markers with the table."""
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"error: {path} has no speed-table markers ({README_START} ... {README_END})")
    head = text[:start + len(README_START)]
    path.write_text(head + "\n\n" + "\n".join(lines) + "\n\n" + text[end:])


def _terminate_as_interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # so every figure's clean-up runs on `kill` too


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each figure (default 3)")
    parser.add_argument("--quick", action="store_true", help="small fleets: a fast check of the harness")
    parser.add_argument("--only", action="append", default=[], metavar="N[,N]",
                        help="only these figures (1-8; repeatable or comma-separated)")
    parser.add_argument("--markdown", action="store_true", help="print only the table and its notes (for the README)")
    parser.add_argument("--write-readme", type=Path, metavar="FILE",
                        help="also write the table between FILE's speed-table markers (not after an error)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.write_readme and (not args.write_readme.is_file() or README_START not in args.write_readme.read_text()):
        parser.error(f"{args.write_readme} is not a file with speed-table markers")
    try:
        chosen = parse_only(args.only)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    tmux_version_or_exit()
    forget_enclosing_session()
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    sizes = Sizes.quick() if args.quick else Sizes()
    started, load_at_start = time.monotonic(), _load()
    rows: list[Row] = []
    interrupted = False
    try:
        for number in chosen:
            title, measure, unit, target = FIGURES[number]
            progress(f"figure {number}: {title}{' (quick)' if args.quick else ''}")
            begun = time.monotonic()
            try:
                rows += measure(sizes, args.repeat)
            except (BenchError, subprocess.CalledProcessError, OSError) as exc:
                progress(f"figure {number} failed: {exc}")
                if not isinstance(exc, BenchError):
                    traceback.print_exc(file=sys.stderr)
                rows.append(replace(Row(str(number), title, unit, target), error=str(exc).splitlines()[0][:200]))
            progress(f"figure {number} done in {time.monotonic() - begun:.0f} s")
    except KeyboardInterrupt:
        progress("interrupted: the figures measured so far follow")
        interrupted = True
    lines = render(rows, quick=args.quick) + notes(args.repeat, sizes, args.quick, time.monotonic() - started,
                                                     load_at_start)
    failed = interrupted or any(row.error for row in rows)
    if args.write_readme and not failed:
        write_readme(args.write_readme, lines)
        progress(f"wrote the table into {args.write_readme}")
    if not args.markdown:
        lines.insert(0, "# ao speed table (issue 11)\n")
    print("\n".join(lines))
    return 130 if interrupted else 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
