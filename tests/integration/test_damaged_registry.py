"""A damaged registry or a read-only data dir: one clean error naming the file, exit 1."""

from __future__ import annotations

import os
import shutil

import pytest


def damage(path, how: str) -> None:
    if how == "random bytes":
        path.write_bytes(bytes(range(256)) * 64)
    elif how == "half truncated":
        os.truncate(path, path.stat().st_size // 2)
    else:
        path.unlink()
        path.mkdir()


@pytest.mark.parametrize("how", ["random bytes", "half truncated", "a directory"])
def test_damaged_registry_is_a_clean_error(ao, data_dir, how: str) -> None:
    assert ao("get", "sessions").returncode == 0  # creates the registry
    assert data_dir.db_path.stat().st_size > 8192
    damage(data_dir.db_path, how)

    for command in (["get", "sessions"], ["reconcile"], ["send", "shop-1", "hi"]):
        result = ao(*command)
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert str(data_dir.db_path) in result.stderr and "move it aside" in result.stderr
        assert "no session" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_data_dir_is_a_clean_error(ao, data_dir) -> None:
    assert ao("get", "sessions").returncode == 0
    shutil.rmtree(data_dir.root)
    data_dir.root.mkdir(mode=0o500)
    try:
        result = ao("get", "sessions")
    finally:
        data_dir.root.chmod(0o700)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(data_dir.db_path) in result.stderr
