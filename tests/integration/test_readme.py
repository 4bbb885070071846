"""The README's console examples are real: each marked block is run and its output compared.

A block marked with the comment MARK runs, in order, in one scratch folder and data dir: the tour's
`shop.yaml` (with the demo agent instead of claude-code and codex, since no AI agent is installed
here) next to a scratch repository `../shop`. Ages are the only thing normalised.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import needs_tmux

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MARK = "<!-- console example checked against real output by tests/integration/test_readme.py -->"
AGE = re.compile(r"\b\d+[smhd]\b")  # an age or a duration anywhere in a line (AGE, "starting 2s")


def console_blocks() -> list[list[tuple[str, str]]]:
    """Each marked block as (command, expected output) pairs."""
    blocks = []
    for body in re.findall(re.escape(MARK) + r"\n```console\n(.*?)```", README, flags=re.S):
        pairs: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                pairs.append((line[2:], []))
            else:
                pairs[-1][1].append(line)
        blocks.append([(command, "\n".join(out)) for command, out in pairs])
    return blocks


def normalise(text: str) -> str:
    """Ages become <age> and runs of spaces one space: columns widen with the values in them."""
    return "\n".join(re.sub(r" {2,}", "  ", AGE.sub("<age>", line.rstrip())) for line in text.strip("\n").splitlines())


def shop_yaml() -> str:
    text = re.search(r"```yaml\n(# shop\.yaml\n.*?)```", README, flags=re.S).group(1)
    assert "preset: claude-code" in text and "{preset: codex}" in text
    return text.replace("preset: claude-code", "preset: demo").replace("{preset: codex}", "{preset: demo}")


def test_the_readme_marks_its_runnable_console_examples():
    assert len(console_blocks()) >= 3


@needs_tmux
def test_readme_console_examples_match_real_output(data_dir, tmp_path):
    shop = tmp_path / "shop"
    shop.mkdir()
    for args in (["init", "-q", "-b", "main"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                                 "--allow-empty", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=shop, check=True)
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    (fleet / "shop.yaml").write_text(shop_yaml())
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for block in console_blocks():
        for command, expected in block:
            # Our own documentation, run as a reader would paste it.
            result = subprocess.run(["bash", "-c", command], cwd=fleet, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
            assert normalise(result.stdout) == normalise(expected), f"$ {command}\n{result.stdout}"


def test_the_api_token_line_honours_the_data_dir(tmp_path):
    line = next(line for line in README.splitlines() if line.startswith("TOKEN="))
    from reconciler.api.auth import load_or_create_token
    from reconciler.paths import DataDir

    token = load_or_create_token(DataDir.resolve(tmp_path / "elsewhere").ensure())
    env = {**os.environ, "AO_DATA_DIR": str(tmp_path / "elsewhere"), "HOME": str(tmp_path / "home")}
    result = subprocess.run(["bash", "-c", f'{line}\nprintf %s "$TOKEN"'], env=env, capture_output=True,
                            text=True, check=False)
    assert result.stdout == token, result.stderr


def test_the_demo_hint_names_a_path_that_works_from_where_it_is_run(data_dir, tmp_path):
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    result = subprocess.run([str(Path(sys.executable).parent / "ao"), "get", "projects"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    if "from ao's source checkout" in result.stderr:  # ao installed without its checkout: it says where
        return
    path = re.search(r"ao apply -f (\S+)", result.stderr).group(1)
    assert (tmp_path / path).resolve() == ROOT / "examples" / "demo.yaml", result.stderr
