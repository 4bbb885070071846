"""Retention with the real `ao`, tmux and git: `ao retention`, `ao doctor`'s lines, and the controller's hourly prune."""

from __future__ import annotations

import json
import sqlite3
import time

from tests.conftest import CART, LOGIN_BUG, demo_manifest, needs_tmux, retry_until
from tests.integration.test_controller import ControllerProcess

pytestmark = needs_tmux
DAY = 86400


def age_rows(data_dir, sql: str, *params) -> None:
    """Arrange: make rows look old (the one thing a test cannot wait for)."""
    with sqlite3.connect(data_dir.db_path) as conn:
        conn.execute(sql, params)


def test_a_terminated_session_goes_with_its_folder_after_the_age_and_live_ones_stay(ao, data_dir, write_manifest,
                                                                                     repo):
    both = write_manifest(demo_manifest(repo, [LOGIN_BUG, CART]), "shop.yaml")
    assert ao("apply", "-f", str(both)).returncode == 0
    one = write_manifest(demo_manifest(repo, [LOGIN_BUG]), "shop.yaml")
    assert ao("apply", "-f", str(one)).returncode == 0
    sessions = {s["id"]: s for s in json.loads(ao("get", "sessions", "--all", "-o", "json").stdout)}
    assert sessions["shop-2"]["phase"] == "Terminated"
    folders = {sid: data_dir.session_dir(sid) for sid in ("shop-orchestrator", "shop-1", "shop-2")}
    assert all(folder.is_dir() for folder in folders.values())

    # Ended six days ago: kept.
    age_rows(data_dir, "update sessions set terminated_at = ? where id = 'shop-2'", time.time() - 6 * DAY)
    kept = json.loads(ao("retention", "--prune-now", "-o", "json").stdout)
    assert kept["pruned"]["sessions"] == 0 and folders["shop-2"].is_dir()

    age_rows(data_dir, "update sessions set terminated_at = ? where id = 'shop-2'", time.time() - 8 * DAY)
    result = ao("retention", "--prune-now", "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pruned"]["sessions"] == 1 and report["pruned"]["folders"] == 1
    assert report["held"]["terminatedSessions"] == 0 and report["lastPrune"]["sessions"] == 1
    assert not folders["shop-2"].exists()
    assert folders["shop-orchestrator"].is_dir() and folders["shop-1"].is_dir()
    left = {s["id"]: s["phase"] for s in json.loads(ao("get", "sessions", "--all", "-o", "json").stdout)}
    assert left == {"shop-orchestrator": "Running", "shop-1": "Running"}


def test_retention_settings_are_kept_validated_and_shown_by_doctor(ao, data_dir):
    result = ao("retention", "--events", "30d", "--max-events", "5000", "--sessions", "36h")
    assert result.returncode == 0, result.stderr
    assert "events kept 30d, at most the newest 5000" in result.stdout
    bad = ao("retention", "--messages", "soon", "--events", "1d")
    assert bad.returncode == 2 and "retention age 'soon' is not a duration" in bad.stderr
    policy = json.loads(ao("retention", "-o", "json").stdout)["policy"]
    assert policy == {"events": "30d", "maxEvents": 5000, "messages": "14d", "sessions": "36h"}

    doctor = {c["check"]: c for c in json.loads(ao("doctor", "-o", "json").stdout)["checks"]}
    assert "terminated sessions and their folders kept 36h after they ended" in doctor["retention"]["detail"]
    assert doctor["data held"]["detail"].startswith("0 events, 0 messages (0 finished), 0 terminated sessions")


def test_the_controller_prunes_without_being_asked(data_dir, ao):
    assert ao("retention", "--max-events", "10").returncode == 0
    assert ao("events").returncode == 0  # creates the registry
    with sqlite3.connect(data_dir.db_path) as conn:
        conn.executemany("insert into events (at, type, reason, message) values (?, 'Normal', 'Old', 'old')",
                         [(time.time() - 20 * DAY,)] * 50)
    controller = ControllerProcess(data_dir, "--resync", "0.2")
    try:
        controller.wait_started()

        def count() -> int:
            with sqlite3.connect(data_dir.db_path) as conn:
                return conn.execute("select count(*) from events where reason = 'Old'").fetchone()[0]

        retry_until(lambda: count() <= 1, message="old events pruned by the controller")
        retry_until(lambda: "pruned: removed" in controller.output(), message="the prune is logged")
    finally:
        controller.stop()
