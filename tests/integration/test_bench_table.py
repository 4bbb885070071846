"""The speed table (bench/table.py) still runs: its quick mode on two cheap figures prints one row
each in the table's shape and leaves no temp dir behind. Times are not checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import needs_tmux

pytestmark = needs_tmux

TABLE = Path(__file__).resolve().parents[2] / "bench" / "table.py"
HEADER = "| # | Figure | ao (min / median) | baseline (min / median) | ao vs baseline | target | met? |"


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temp dir with a short path: tmux sockets inside must stay under the 108-byte limit of a
    socket path, which pytest's own tmp_path can exceed."""
    path = Path(tempfile.mkdtemp(prefix="aob-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_table(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The bench makes its temp dirs under TMPDIR: the test's own, to see they are all removed.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    return subprocess.run([sys.executable, str(TABLE), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_quick_table_has_one_row_per_chosen_figure_and_cleans_up(short_tmp):
    tmp_path = short_tmp
    result = run_table(tmp_path, "--quick", "--repeat", "1", "--only", "3,4", "--markdown")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == HEADER
    rows = [line for line in lines[2:] if line.startswith("| ")]
    cells_of = {row: [cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows}
    assert [cells[0] for cells in cells_of.values()] == ["3", "4"]
    for row, cells in cells_of.items():
        assert len(cells) == 7, row
        assert cells[2].endswith(("ms", " s")) and " / " in cells[2], row  # ao: min / median
        assert cells[3] != "—" and cells[4].endswith("×"), row  # a baseline, and ao over it
        assert cells[6] == "— (quick)", row  # full-size targets are not judged on small fleets
    assert "Quick mode" in result.stdout
    assert "figure 4" in result.stderr  # progress goes to stderr
    assert not list(tmp_path.glob("ao-bench-*"))


def test_unknown_figure_is_refused_in_one_line(tmp_path):
    result = run_table(tmp_path, "--only", "9")
    assert result.returncode == 2
    assert "no figure '9'" in result.stderr.strip().splitlines()[-1]
    assert not result.stdout
