"""Install real agent CLIs from their registries into a cache shared by test runs.

Each package version gets its own folder under the cache (`$AO_AGENT_CACHE`, default
`~/.cache/ao-test-agents`), so an install happens once per machine and xdist workers wait for
each other on a lock file instead of installing twice.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path


class InstallFailed(RuntimeError):
    """The registry could not be reached or the package did not install."""


def cache_root() -> Path:
    return Path(os.environ.get("AO_AGENT_CACHE") or Path.home() / ".cache" / "ao-test-agents")


def _locked_install(folder: Path, binary: Path, install: list[list[str]], timeout: float) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for argv in install:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
            if done.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                raise InstallFailed(f"{' '.join(argv[:4])} failed: {(done.stderr or done.stdout)[-500:]}")
        if not binary.exists():
            raise InstallFailed(f"{binary} missing after install")
        return binary


def npm_binary(package: str, version: str, binary: str, *, timeout: float = 600) -> Path:
    """Path of `binary` from `package@version`, installed with npm into the cache when missing."""
    npm = shutil.which("npm")
    if npm is None:
        raise InstallFailed("npm is not installed")
    folder = cache_root() / "npm" / f"{package.replace('/', '+')}@{version}"
    target = folder / "node_modules" / ".bin" / binary
    return _locked_install(
        folder, target,
        [[npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error",
          f"{package}@{version}"]],
        timeout,
    )


def pip_binary(package: str, version: str, binary: str, *, timeout: float = 900) -> Path:
    """Path of `binary` from `package==version`, installed into its own venv in the cache when missing."""
    folder = cache_root() / "pip" / f"{package}=={version}"
    target = folder / "bin" / binary
    return _locked_install(
        folder, target,
        [[sys.executable, "-m", "venv", str(folder)],
         [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{package}=={version}"]],
        timeout,
    )
