"""The dashboard's pure parts: who needs attention in which order, and how browser keys reach tmux."""

from __future__ import annotations

from reconciler.api.attention import attention_list
from reconciler.api.terminal import keys


def view(sid: str, phase: str = "Running", activity: str = "idle", **extra: object) -> dict:
    return {"id": sid, "project": "shop", "phase": phase, "reason": extra.pop("reason", ""), "message": "",
            "activity": activity, "activityReason": "", "activitySince": None, "startedAt": "2026-01-01T00:00:00Z",
            "lastTransitionAt": None, **extra}


def test_waiting_comes_first_then_crash_loops_failed_starts_and_blocked_sessions():
    views = [
        view("shop-1"),  # idle: nothing to do
        view("shop-2", "Pending", reason="NameTaken", activity=None),
        view("shop-3", "Failed", activity="exited", startedAt=None, message="git worktree failed"),
        view("shop-4", "CrashLoopBackOff", activity="exited"),
        view("shop-5", activity="waiting", activityReason="permission: Bash(rm -rf build)",
             activitySince="2026-01-01T00:00:05Z"),
        view("shop-6", activity="waiting", activityReason="trust dialog", activitySince="2026-01-01T00:00:01Z"),
        view("shop-7", "Succeeded", activity="exited", reason="Completed"),
    ]
    items = attention_list(views)
    assert [a.session for a in items] == ["shop-6", "shop-5", "shop-4", "shop-3", "shop-2"]
    assert items[1].what == "waiting: permission: Bash(rm -rf build)"
    assert items[3].what == "failed to start: git worktree failed"
    assert "foreign session" in items[4].what and "Relaunch" in items[4].todo


def test_browser_input_becomes_literal_text_and_named_keys_in_order():
    assert keys("ls -la\r") == [("text", "ls -la"), ("key", "Enter")]
    assert keys("\x1b[A\x1b[B\x7f\x03") == [("key", "Up"), ("key", "Down"), ("key", "BSpace"), ("key", "C-c")]
    assert keys("y") == [("text", "y")]
    assert keys("\x1b") == [("key", "Escape")]
    assert keys("héllo; rm -rf /\t") == [("text", "héllo; rm -rf /"), ("key", "Tab")]
