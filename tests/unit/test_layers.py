"""The import rule of docs/architecture.md: no module imports a layer above its own.

Imports are read with `ast` (nothing is imported), so a violation is reported even in a module
that is only imported lazily, inside a function.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"

# Layer of each top-level module or package of `reconciler`; see docs/architecture.md.
LAYERS = {
    "__init__": 0, "errors": 0, "locks": 0, "paths": 0, "polling": 0, "wording": 0,
    "manifest": 1, "registry": 1, "runtime": 1, "sessions": 1,
    "activity": 2, "messaging": 2,
    "reconcile": 3,
    "views": 4,
    "cli": 5, "api": 5,
}
# Same-layer imports that are not allowed.
FORBIDDEN_SIDEWAYS = {("api", "cli"), ("registry", "runtime"), ("runtime", "registry")}
# Front ends may start each other: `ao serve` runs the API server.
ALLOWED = {("reconciler.cli.serve", "reconciler.api")}
PLANNER = ("reconciler.reconcile.plan", "reconciler.reconcile.desired", "reconciler.reconcile.backoff",
           "reconciler.reconcile.capacity")
NOT_IN_THE_PLANNER = ("reconciler.registry.store", "reconciler.runtime.tmux", "reconciler.runtime.zellij",
                      "reconciler.runtime.fleet", "reconciler.cli", "reconciler.api", "sqlite_utils", "typer", "click")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Absolute names of everything `path` imports, at any depth of the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append(target)
            found += [f"{target}.{alias.name}" for alias in node.names]  # `from . import views`
    return found


def top(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "reconciler":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def violations(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        here = module_name(path)
        mine = top(here)
        for target in imports(path):
            theirs = top(target)
            if mine is None or theirs is None or theirs == mine or theirs not in LAYERS:
                continue
            if any(here.startswith(a) and target.startswith(b) for a, b in ALLOWED):
                continue
            if LAYERS[theirs] > LAYERS[mine] or (mine, theirs) in FORBIDDEN_SIDEWAYS:
                found.append(f"{here} imports {target}")
    return sorted(set(found))


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    tops = {top(module_name(p)) for p in all_modules()}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {tops - set(LAYERS)}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert violations(all_modules()) == []


def test_the_planner_stays_pure() -> None:
    bad = [f"{module_name(p)} imports {t}" for p in all_modules() if module_name(p) in PLANNER
           for t in imports(p) if t.startswith(NOT_IN_THE_PLANNER)]
    assert bad == []


@pytest.mark.parametrize(("where", "line", "expected"), [
    ("runtime/tmux.py", "from ..reconcile.plan import plan", "reconciler.runtime.tmux imports reconciler.reconcile.plan"),
    ("api/app.py", "from ..cli.output import emit", "reconciler.api.app imports reconciler.cli.output"),
    ("registry/store.py", "def f():\n    from ..views import iso", "reconciler.registry.store imports reconciler.views"),
])
def test_an_upward_import_is_caught(tmp_path: Path, where: str, line: str, expected: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "reconciler" / where
    fake.parent.mkdir(parents=True)
    fake.write_text(line + "\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "reconciler")
    assert expected in violations([fake])
