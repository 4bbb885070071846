"""The `ao` executable. `ao send` and `ao hook` take a light path (agents run them all day), and so do
the read commands (`cli/light.py`: `ao get`, `ao describe`, `ao events`) and `ao --help`
(`cli/help.py`); everything else, and anything those do not understand, loads the full typer application."""

from __future__ import annotations

import sys


def _split_global(argv: list[str]) -> tuple[str | None, list[str]]:
    """Peel `--data-dir DIR` / `--data-dir=DIR` off the front of argv."""
    data_dir = None
    while argv:
        if argv[0] == "--data-dir" and len(argv) > 1:
            data_dir, argv = argv[1], argv[2:]
        elif argv[0].startswith("--data-dir="):
            data_dir, argv = argv[0].split("=", 1)[1], argv[1:]
        else:
            break
    return data_dir, argv


def main() -> None:
    data_dir, rest = _split_global(sys.argv[1:])
    if rest and rest[0] == "send":
        from ..messaging.cli import main as send

        sys.exit(send(rest[1:], data_dir))
    if rest and rest[0] == "hook":
        from ..activity.hook import main as hook

        sys.exit(hook(rest[1:], data_dir))
    from . import help, light

    code = help.run(rest)
    if code is None:
        code = light.run(data_dir, rest)
    if code is not None:
        sys.exit(code)
    from .main import main as full

    full()


if __name__ == "__main__":
    main()
