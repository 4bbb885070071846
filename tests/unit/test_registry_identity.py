"""The registry's identity: created once, kept across opens, new for a new registry; the controller
leaves running sessions of another registry alone and says so once."""

from __future__ import annotations

from pathlib import Path

from reconciler.paths import DataDir
from reconciler.reconcile.controller import Controller, Settings
from reconciler.reconcile.service import Service
from reconciler.registry.store import Registry
from reconciler.runtime.base import Observed, Stamp
from reconciler.runtime.memory import MemoryRuntime


def test_the_identity_is_created_once_and_a_new_registry_gets_another(tmp_path: Path) -> None:
    first = Registry.open(tmp_path / "ao.db")
    identity = first.identity
    first.close()
    again = Registry.open(tmp_path / "ao.db")
    assert again.identity == identity and len(identity) == 16
    again.close()
    (tmp_path / "ao.db").rename(tmp_path / "ao.db.lost")
    assert Registry.open(tmp_path / "ao.db").identity != identity


def test_the_controller_leaves_another_registrys_sessions_running_and_says_so_once(tmp_path: Path) -> None:
    data_dir = DataDir.resolve(tmp_path / "data")
    runtime = MemoryRuntime()
    ao = Service(data_dir, runtime=runtime, on_wait=lambda _: None)
    stamp = Stamp(data_dir.owner_id, "shop", "worker", "login-bug", "v1-x", registry="a-lost-registry")
    runtime.add_foreign(Observed("shop-1", alive=True, pid=4242, stamp=stamp))
    logged: list[dict] = []
    controller = Controller(ao, Settings(), log=logged.append)
    for _ in range(3):
        controller._pass()
    assert runtime.observe()["shop-1"].alive  # never reaped as an orphan
    assert logged == []  # nothing happened, so nothing to log on every pass
    said = [e for e in ao.events() if e.session == "shop-1"]
    assert [(e.reason, e.type) for e in said] == [("LeftAlone", "Warning")]
    assert "created by another registry" in said[0].message
