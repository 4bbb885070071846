"""The controller outlives any error in one pass or one file, backs off, and reports its health."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import pytest

from reconciler.paths import DataDir
from reconciler.reconcile import controller as controller_module
from reconciler.reconcile import health
from reconciler.reconcile.controller import Controller, Settings
from reconciler.reconcile.service import Service
from reconciler.runtime.memory import MemoryRuntime
from tests.conftest import retry_until

MANIFEST = ("apiVersion: ao/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec:\n  repo: {repo}\n"
            "  orchestrator: {{enabled: false}}\n  workers: []\n")


class FlakyService(Service):
    """A service whose passes fail like a full disk while `disk_full` is set."""

    disk_full = False

    def reconcile(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.disk_full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().reconcile(*args, **kwargs)


@pytest.fixture
def running(tmp_path: Path):
    started: list[tuple[Controller, threading.Thread]] = []

    def start(ao: Service, watch: list[Path]) -> Controller:
        loop = Controller(ao, Settings(watch=watch, resync=0.1), log=lambda entry: None)
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        started.append((loop, thread))
        return loop

    yield start
    for loop, thread in started:
        loop.request_stop()
        thread.join(timeout=10)


def healthy(data_dir: DataDir) -> bool:
    record = health.read(data_dir)
    return bool(record and record["healthy"])


def test_a_full_disk_does_not_kill_the_controller(tmp_path: Path, running) -> None:
    data_dir = DataDir.resolve(tmp_path / "data")
    ao = FlakyService(data_dir, runtime=MemoryRuntime(), on_wait=lambda _: None)
    ao.disk_full = True
    loop = running(ao, [])

    record = retry_until(lambda: (r := health.read(data_dir)) and not r["healthy"] and r)
    assert "No space left on device" in record["error"]
    assert loop.failures >= 1

    ao.disk_full = False
    loop.wake.set()
    retry_until(lambda: healthy(data_dir), message="recovered after space was freed")
    assert loop.failures == 0 and loop._last_ok is not None


def test_one_file_that_crashes_the_loader_is_marked_broken_and_retried(
    tmp_path: Path, repo: Path, running, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "good.yaml").write_text(MANIFEST.format(name="good", repo=repo))
    bad = folder / "bad.yaml"
    bad.write_text(MANIFEST.format(name="bad", repo=repo))
    real_load = controller_module.load_paths
    broken = {"on": True}

    def load(paths):  # type: ignore[no-untyped-def]
        if broken["on"] and any(p.endswith("bad.yaml") for p in paths):
            raise RuntimeError("unexpected loader failure")
        return real_load(paths)

    monkeypatch.setattr(controller_module, "load_paths", load)
    data_dir = DataDir.resolve(tmp_path / "data")
    ao = Service(data_dir, runtime=MemoryRuntime(), on_wait=lambda _: None)
    loop = running(ao, [folder])

    record = retry_until(lambda: (r := health.read(data_dir)) and not r["healthy"] and r)
    assert "bad.yaml: RuntimeError: unexpected loader failure" in record["error"]
    check = Service(data_dir, runtime=MemoryRuntime())
    assert check.registry.project("good") is not None
    source = next(check.registry.db.query("select * from sources where path like '%bad.yaml'"))
    assert "unexpected loader failure" in source["error"]

    broken["on"] = False
    loop.wake.set()
    retry_until(lambda: check.registry.project("bad") is not None, message="the broken file is retried")
    retry_until(lambda: healthy(data_dir))


def test_a_stale_record_is_unhealthy(tmp_path: Path) -> None:
    data_dir = DataDir.resolve(tmp_path / "data").ensure()
    health.write(data_dir, {"state": "running", "at": 1000.0, "ok": True, "resync": 2.0})

    assert health.read(data_dir, now=1010.0)["healthy"]
    record = health.read(data_dir, now=1000.0 + health.MIN_STALE_SECONDS + 1)
    assert not record["healthy"] and "stuck or killed" in record["summary"]
    health.write(data_dir, {"state": "stopped", "at": 1000.0})
    assert health.read(data_dir, now=99999.0)["healthy"]


def test_healthz_and_doctor_report_an_unhealthy_controller(tmp_path: Path, ao_cli) -> None:
    from fastapi.testclient import TestClient

    from reconciler.api.app import create_app

    data_dir = DataDir.resolve(tmp_path / "data").ensure()
    with TestClient(create_app(data_dir, "token")) as client:
        assert client.get("/api/v1/healthz").status_code == 200
        health.write(data_dir, {"state": "running", "at": time.time(), "ok": False, "error": "pass failed: disk full",
                                "failures": 3, "resync": 2.0})
        reply = client.get("/api/v1/healthz")
    assert reply.status_code == 503 and reply.json()["ok"] is False
    assert "disk full" in reply.json()["controller"]["summary"]
    doctor = ao_cli(data_dir, "doctor")
    assert doctor.returncode == 1
    assert any(line.split()[:2] == ["FAIL", "controller"] and "disk full" in line for line in doctor.stdout.splitlines())


@pytest.fixture
def ao_cli():
    import os
    import subprocess

    from tests.conftest import AO

    def run(data_dir: DataDir, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
        return subprocess.run([AO, *args], capture_output=True, text=True, env=env, timeout=60, check=False)

    return run
