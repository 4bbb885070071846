"""Property tests of the whole reconcile loop: the real service, planner, executor and SQLite
registry, with the in-memory runtime and a clock the test controls.

A random manifest is applied, then the world is perturbed at random (agents exit or are killed by
signals or crash-loop, registry rows vanish, orphan and foreign sessions appear, workers come and
go or change, orchestrators are switched on and off, projects are suspended or deleted, time
passes), and after each round of perturbations the loop must converge within
a few passes to a world that matches the manifest exactly, without ever touching a foreign
session or handing out a worker ID twice.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import reconciler.messaging.typing
from reconciler.manifest.loader import load_text
from reconciler.paths import DataDir
from reconciler.reconcile.desired import desired_projects
from reconciler.reconcile.plan import Action, Verb, converged
from reconciler.reconcile.service import PassReport, Service
from reconciler.registry.records import Kind, Phase
from reconciler.runtime.base import Observed, Stamp
from reconciler.runtime.memory import MemoryRuntime

MAX_PASSES = 6
PASS_SECONDS = 400.0  # more than the backoff cap (300 s, jitter included), so every back-off is due
START = 1_700_000_000.0
# Each example gets a fresh data dir (registry, lock, prompt files); memory-backed when available.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

PROJECTS = {"alpha": "alpha", "beta": "b"}  # name -> session prefix
WORKER_NAMES = [f"w{i}" for i in range(8)]
POLICIES = [None, "Always", "OnFailure", "Never"]
PROMPTS = ["fix the login bug", "write the tests", "refactor the parser"]


@pytest.fixture(autouse=True, scope="module")
def _no_typing_pause() -> Any:
    """ao types lifecycle notices into orchestrators with a real pause before Enter; the in-memory
    terminal needs none, and these tests must not spend their time asleep."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reconciler.messaging.typing, "PAUSE_BEFORE_ENTER", 0.0)
        yield


# ---------------------------------------------------------------- the manifest model


@dataclass
class WorkerModel:
    policy: str | None
    prompt: str


@dataclass
class ProjectModel:
    name: str
    prefix: str
    orchestrator: bool
    orchestrator_policy: str | None
    policy: str | None
    workers: dict[str, WorkerModel] = field(default_factory=dict)
    present: bool = True  # False once deleted with `ao delete project`
    suspended_since: int | None = None  # len(runtime.calls) when the project was suspended

    def worker_policy(self, name: str) -> str:
        return self.workers[name].policy or self.policy or "OnFailure"

    @property
    def orch_policy(self) -> str:
        return self.orchestrator_policy or "Always"

    def document(self, repo: Path) -> dict[str, Any]:
        orchestrator: dict[str, Any] = {"enabled": self.orchestrator}
        if self.orchestrator_policy:
            orchestrator["restartPolicy"] = self.orchestrator_policy
        spec: dict[str, Any] = {"repo": str(repo), "workspace": "none", "agent": {"command": ["true"]},
                                "orchestrator": orchestrator}
        if self.prefix != self.name:
            spec["sessionPrefix"] = self.prefix
        if self.policy:
            spec["restartPolicy"] = self.policy
        spec["workers"] = [
            {"name": name, "prompt": w.prompt, **({"restartPolicy": w.policy} if w.policy else {})}
            for name, w in self.workers.items()
        ]
        return {"apiVersion": "ao/v1", "kind": "Project", "metadata": {"name": self.name}, "spec": spec}


@st.composite
def project_models(draw: st.DrawFn) -> dict[str, ProjectModel]:
    names = draw(st.lists(st.sampled_from(sorted(PROJECTS)), min_size=1, max_size=2, unique=True))
    models = {}
    for name in sorted(names):
        workers = draw(st.lists(st.sampled_from(WORKER_NAMES), max_size=6, unique=True))
        models[name] = ProjectModel(
            name=name,
            prefix=PROJECTS[name],
            orchestrator=draw(st.booleans()),
            orchestrator_policy=draw(st.sampled_from(POLICIES)),
            policy=draw(st.sampled_from(POLICIES)),
            workers={w: WorkerModel(draw(st.sampled_from(POLICIES)), draw(st.sampled_from(PROMPTS))) for w in workers},
        )
    return models


index = st.integers(0, 40)
exits = st.tuples(st.just("exit"), index, st.sampled_from([0, 0, 1, 2, 137, None]),
                  st.sampled_from([None, None, None, 9, 15]), st.booleans())
perturbations = st.one_of(
    exits,
    exits,
    st.tuples(st.just("crash_loop"), index, st.integers(1, 12)),
    st.tuples(st.just("delete_row"), index, st.booleans()),
    st.tuples(st.just("orphan"), index, st.sampled_from(["ghost", "orchestrator", "stray-project", "duplicate"]),
              st.booleans()),
    st.tuples(st.just("foreign"), index, st.sampled_from(["orchestrator", "next", "after-next", "scratch"]),
              st.booleans()),
    st.tuples(st.just("remove_worker"), index, index),
    st.tuples(st.just("add_worker"), index, st.sampled_from(WORKER_NAMES), st.sampled_from(POLICIES),
              st.sampled_from(PROMPTS)),
    st.tuples(st.just("edit_prompt"), index, index, st.sampled_from(PROMPTS)),
    st.tuples(st.just("toggle_orchestrator"), index),
    st.tuples(st.just("delete_project"), index),
    st.tuples(st.just("suspend"), index),
    st.tuples(st.just("advance"), st.sampled_from([1.0, 5.0, 30.0, 300.0, 700.0, 5000.0])),
    st.tuples(st.just("reconcile")),
)


# names a user's own session may have on ao's server before the first apply
squatters = st.tuples(
    st.sampled_from([f"{prefix}-{suffix}" for prefix in PROJECTS.values() for suffix in ("orchestrator", "1", "2")]
                    + ["scratch"]),
    st.booleans(),
)


def event(text: str) -> None:
    """Statistics for `--hypothesis-show-statistics`; a no-op outside a hypothesis test."""
    try:
        _event(text)
    except InvalidArgument:
        pass


def pairs(actions: list[Action]) -> list[tuple[str, str, str]]:
    return [(a.verb.value, a.session_id, a.reason) for a in actions]


# ---------------------------------------------------------------- the harness


class World:
    """One data dir, one registry, one in-memory runtime, one clock, and what the test has seen."""

    def __init__(self, root: Path, models: dict[str, ProjectModel]) -> None:
        self.root = root
        self.repo = root / "repo"
        self.repo.mkdir()
        self.models = models
        self.now = START
        self.runtime = MemoryRuntime()
        self.ao = Service(DataDir.resolve(root / "data"), runtime=self.runtime, clock=lambda: self.now,
                     on_wait=lambda message: None)
        self.owner = self.ao.data_dir.owner_id
        self.registry_id = self.ao.registry.identity  # the orphans made below are this registry's own
        self.foreign: dict[str, tuple[Observed, int]] = {}  # id -> (what was added, len(calls) at the time)
        self.bound: dict[str, tuple[str, str]] = {}  # worker session id -> (project, worker), forever
        self.retired: set[str] = set()  # worker session ids that were reaped or killed
        self.ids: dict[tuple[str, str], str] = {}  # declared worker -> its session id while it stays declared
        self.ambiguous: set[tuple[str, str]] = set()  # workers given a second session of ours on purpose
        self.calls_seen = 0
        self.orphan_numbers = iter(range(500, 10_000))
        self.log: list[Any] = []

    # ------------------------------------------------------------ driving

    @property
    def registry(self):  # type: ignore[no-untyped-def]
        return self.ao.registry

    def apply(self) -> None:
        text = yaml.safe_dump_all([m.document(self.repo) for m in self.models.values() if m.present], sort_keys=False)
        loaded, issues = load_text(text, "<test>", self.root)
        assert not issues, issues
        if loaded:
            self.check_outcomes(self.ao.apply(loaded).reconcile)
        self.track()

    def reconcile(self) -> PassReport:
        report = self.ao.reconcile()
        self.check_outcomes(report)
        self.track()
        return report

    def converge(self) -> int:
        history = []
        for n in range(1, MAX_PASSES + 1):
            self.now += PASS_SECONDS
            report = self.reconcile()
            history.append(pairs(report.actions))
            if converged(report.actions):
                event(f"converged after {n} passes")
                return n
        raise AssertionError(f"not converged after {MAX_PASSES} passes; log {self.log}; passes {history}")

    def owned(self) -> dict[str, Observed]:
        return {sid: s.live for sid, s in self.runtime.sessions.items() if s.live.owned_by(self.owner)}

    def model(self, i: int) -> ProjectModel:
        models = list(self.models.values())
        return models[i % len(models)]

    def perform(self, op: tuple) -> None:  # noqa: C901 - one branch per perturbation
        kind, *args = op
        if kind == "exit":
            i, status, signal, stamped_death = args
            alive = sorted(sid for sid, live in self.owned().items() if live.alive)
            if alive:
                sid = alive[i % len(alive)]
                self.runtime.exit(sid, status, signal=signal, at=self.now if stamped_death else None)
                self.log.append((kind, sid, status, signal))
        elif kind == "crash_loop":  # the agent dies a few seconds after every start
            i, times = args
            for _ in range(times):
                alive = sorted(sid for sid, live in self.owned().items() if live.alive)
                if not alive:
                    return
                sid = alive[i % len(alive)]
                self.now += 2
                self.runtime.exit(sid, 1, at=self.now)
                self.log.append(("crash", sid))
                self.reconcile()  # relaunch at once, or back off
                row = self.registry.session(sid)
                if row is not None and row.next_retry_at is not None:
                    self.now = max(self.now, row.next_retry_at)
                    self.reconcile()
        elif kind == "delete_row":
            i, active_only = args
            rows = sorted(r.id for r in self.registry.sessions(include_terminated=not active_only))
            if rows:
                sid = rows[i % len(rows)]
                self.registry.db.execute("delete from sessions where id = ?", [sid])
                self.registry.db.conn.commit()
                self.log.append((kind, sid))
        elif kind == "orphan":
            i, what, alive = args
            m = self.model(i)
            number = next(n for n in self.orphan_numbers if f"{m.prefix}-{n}" not in self.bound)
            ours = {"spec_hash": "v1-old", "registry": self.registry_id}
            if what == "ghost":  # a worker of ours that nothing declares any more
                sid, stamp = f"{m.prefix}-{number}", Stamp(self.owner, m.name, Kind.WORKER, f"ghost{number}", **ours)
            elif what == "orchestrator":
                sid, stamp = f"{m.prefix}-orchestrator", Stamp(self.owner, m.name, Kind.ORCHESTRATOR, "", **ours)
            elif what == "stray-project":  # of a project this data dir no longer knows
                sid, stamp = f"stray-{number}", Stamp(self.owner, "stray", Kind.WORKER, "w0", **ours)
            else:  # a second session of a declared worker (e.g. left behind by a crash)
                if not m.workers:
                    return
                name = sorted(m.workers)[i % len(m.workers)]
                sid, stamp = f"{m.prefix}-{number}", Stamp(self.owner, m.name, Kind.WORKER, name, **ours)
                self.ambiguous.add((m.name, name))
            if sid in self.runtime.sessions or sid in self.retired:
                return
            self.runtime.add_foreign(Observed(sid, alive=alive, pid=99, exit_status=None if alive else 1, stamp=stamp))
            self.log.append((kind, sid, stamp.worker, alive))
        elif kind == "foreign":
            i, where, other_owner = args
            m = self.model(i)
            following = self.registry.next_number(m.prefix)
            sid = {"orchestrator": f"{m.prefix}-orchestrator", "next": f"{m.prefix}-{following}",
                   "after-next": f"{m.prefix}-{following + 1}", "scratch": f"scratch-{len(self.foreign)}"}[where]
            self.add_foreign(sid, other_owner, m.name)
        elif kind == "remove_worker":
            m = self.model(args[0])
            if m.present and m.workers:
                name = sorted(m.workers)[args[1] % len(m.workers)]
                del m.workers[name]
                self.forget(m.name, name)
                self.log.append((kind, m.name, name))
                self.apply()
        elif kind == "add_worker":
            i, name, policy, prompt = args
            m = self.model(i)
            if name in m.workers and m.present:
                m.workers[name].policy = policy  # declared again with another restart policy
            m.workers.setdefault(name, WorkerModel(policy, prompt))
            if not m.present:
                m.present, m.suspended_since = True, None
            self.log.append((kind, m.name, name, policy))
            self.apply()
        elif kind == "edit_prompt":
            m = self.model(args[0])
            if m.present and m.workers:
                name = sorted(m.workers)[args[1] % len(m.workers)]
                m.workers[name].prompt = args[2]
                self.log.append((kind, m.name, name, args[2]))
                self.apply()
        elif kind == "toggle_orchestrator":
            m = self.model(args[0])
            m.orchestrator = not m.orchestrator
            if not m.present:
                m.present, m.suspended_since = True, None
            self.log.append((kind, m.name, m.orchestrator))
            self.apply()
        elif kind == "delete_project":
            m = self.model(args[0])
            if not m.present:
                m.present = True  # declared again: a new generation of the same project
                self.log.append(("recreate_project", m.name))
                self.apply()
            else:
                self.check_outcomes(self.ao.delete_projects([m.name]).reconcile)
                m.present, m.suspended_since = False, None
                self.forget(m.name)
                self.log.append((kind, m.name))
                self.track()
        elif kind == "suspend":  # no CLI verb yet: flip the registry's flag, as `ao suspend` would
            m = self.model(args[0])
            if m.present:
                suspend = m.suspended_since is None
                self.registry.update_project(m.name, suspended=int(suspend))
                self.registry.db.conn.commit()
                m.suspended_since = len(self.runtime.calls) if suspend else None
                self.log.append((kind, m.name, suspend))
        elif kind == "advance":
            self.now += args[0]
        elif kind == "reconcile":
            self.reconcile()
        else:  # pragma: no cover
            raise AssertionError(op)

    def add_foreign(self, sid: str, other_owner: bool, project: str) -> None:
        if sid in self.runtime.sessions:
            return
        stamp = Stamp("ao-someoneelse", project, Kind.ORCHESTRATOR if sid.endswith("-orchestrator") else Kind.WORKER,
                      "" if sid.endswith("-orchestrator") else "w0", "v1-x") if other_owner else None
        live = Observed(sid, alive=True, pid=4321, stamp=stamp)
        self.runtime.add_foreign(live)
        self.foreign[sid] = (live, len(self.runtime.calls))
        self.log.append(("foreign", sid, other_owner))

    def forget(self, project: str, worker: str | None = None) -> None:
        """The worker (or every worker of the project) is no longer declared: a new ID is fine later."""
        for key in [k for k in self.ids if k[0] == project and (worker is None or k[1] == worker)]:
            del self.ids[key]

    # ------------------------------------------------------------ invariants checked after every step

    def check_outcomes(self, report: PassReport) -> None:
        for action in report.actions:
            event(f"verb {action.verb.value}" + (f" ({action.phase})" if action.phase else ""))
        for outcome in report.outcomes:
            if outcome.action.verb != Verb.BLOCKED:
                assert outcome.ok, (outcome.summary, outcome.detail, self.log)

    def track(self) -> None:
        """IDs: a worker ID names one worker forever, and a reaped worker's ID never comes back."""
        def bind(sid: str, who: tuple[str, str]) -> None:
            assert self.bound.setdefault(sid, who) == who, f"{sid} was {self.bound[sid]}, now {who}; {self.log}"

        rows = self.registry.sessions(include_terminated=True)
        for row in rows:
            if row.kind == Kind.WORKER:
                bind(row.id, (row.project, row.worker or ""))
        for sid, live in self.owned().items():
            if live.stamp and live.stamp.kind == Kind.WORKER:
                bind(sid, (live.stamp.project, live.stamp.worker))
        for call, sid in self.runtime.calls[self.calls_seen:]:
            if call == "kill" and sid in self.bound:
                self.retired.add(sid)
        self.calls_seen = len(self.runtime.calls)
        self.retired.update(r.id for r in rows if r.kind == Kind.WORKER and r.phase == Phase.TERMINATED)
        revived = {r.id for r in rows if r.active and r.kind == Kind.WORKER} & self.retired
        revived |= {sid for sid, live in self.owned().items() if live.stamp and live.stamp.kind == Kind.WORKER} \
            & self.retired
        assert not revived, f"worker IDs used again after being reaped: {revived}; {self.log}"
        declared = {(m.name, name) for m in self.models.values() if m.present for name in m.workers}
        for row in rows:  # a declared worker keeps its ID (through relaunches, lost rows, suspension)
            if not row.active or row.kind != Kind.WORKER or (row.project, row.worker) not in declared:
                continue
            key = (row.project, row.worker or "")
            known = self.ids.setdefault(key, row.id)
            assert known == row.id or key in self.ambiguous, \
                f"declared worker {key} moved from {known} to {row.id}; {self.log}"
            self.ids[key] = row.id
        for row in rows:  # the registry records the spec of what ao itself started
            live = self.runtime.sessions.get(row.id)
            if row.active and row.reason == "Started" and live is not None and live.live.owned_by(self.owner):
                assert live.live.stamp is not None and live.live.stamp.spec_hash == row.spec_hash, \
                    f"{row.id}: registry says {row.spec_hash}, the session runs {live.live.stamp}; {self.log}"
        self.check_foreign()
        self.check_suspended()

    def check_suspended(self) -> None:
        for m in self.models.values():
            if m.present and m.suspended_since is not None:
                touched = [c for c in self.runtime.calls[m.suspended_since:]
                           if c[0] != "observe" and c[1].rpartition("-")[0] == m.prefix]
                assert not touched, f"suspended project {m.name} was touched: {touched}; {self.log}"

    def check_foreign(self) -> None:
        for sid, (live, since) in self.foreign.items():
            assert sid in self.runtime.sessions, f"foreign session {sid} was removed; {self.log}"
            assert self.runtime.sessions[sid].live is live, f"foreign session {sid} was changed"
            touched = [c for c in self.runtime.calls[since:] if c[1] == sid]
            assert not touched, f"ao touched foreign session {sid}: {touched}; {self.log}"

    # ------------------------------------------------------------ invariants of a converged world

    def check_converged(self) -> None:
        # (b) a second plan has nothing to do, except waiting on names a foreign session holds
        again = self.ao.reconcile(dry_run=True).actions
        for action in again:
            assert action.verb == Verb.WAIT and action.session_id in self.foreign, pairs(again)
            assert action.record is not None and action.record.reason == "NameTaken"

        # (c) the world matches the declaration
        # a worker stays ambiguous while two sessions of ours carry its stamp (e.g. in a suspended project)
        stamps = [(l.stamp.project, l.stamp.worker) for l in self.owned().values()
                  if l.stamp is not None and l.stamp.kind == Kind.WORKER]
        self.ambiguous = {key for key in self.ambiguous if stamps.count(key) > 1}
        declared: dict[tuple[str, str, str], str] = {}  # (project, kind, worker) -> restart policy
        suspended = {m.name for m in self.models.values() if m.present and m.suspended_since is not None}
        for m in self.models.values():
            if not m.present or m.name in suspended:
                continue
            if m.orchestrator:
                declared[(m.name, Kind.ORCHESTRATOR, "")] = m.orch_policy
            for name in m.workers:
                declared[(m.name, Kind.WORKER, name)] = m.worker_policy(name)
        hashes = {(d.project, d.kind, d.worker or ""): d.spec_hash
                  for p in desired_projects(self.registry.projects(), self.registry.workers()) for d in p.sessions
                  if p.name not in suspended}
        assert set(hashes) == set(declared)

        rows = [r for r in self.registry.sessions() if r.project not in suspended]
        owned = {sid: live for sid, live in self.owned().items()
                 if live.stamp is not None and live.stamp.project not in suspended}
        by_key: dict[tuple[str, str, str], list] = {}
        for row in rows:
            by_key.setdefault((row.project, row.kind, row.worker or ""), []).append(row)
        assert set(by_key) == set(declared), (sorted(by_key), sorted(declared), self.log)
        live_by_key: dict[tuple[str, str, str], list[str]] = {}
        for sid, live in owned.items():
            assert live.stamp is not None
            live_by_key.setdefault((live.stamp.project, live.stamp.kind, live.stamp.worker), []).append(sid)
        ids = [r.id for r in rows]
        assert len(ids) == len(set(ids))

        for key, policy in declared.items():
            (row,) = by_key[key]
            if row.id in self.foreign:  # a foreign session holds the name: ao waits for the user
                assert key[1] == Kind.ORCHESTRATOR, (key, row.id)
                assert (row.phase, row.reason) == (Phase.PENDING, "NameTaken")
                assert key not in live_by_key
                continue
            sessions = live_by_key.get(key, [])
            assert sessions == [row.id], (key, sessions, row.id, self.log)
            live = owned[row.id]
            assert live.stamp is not None and live.stamp.spec_hash == row.spec_hash == hashes[key], (
                key, row.phase, row.reason, live, self.log)
            if live.alive:
                assert row.phase == Phase.RUNNING, (key, row.phase)
            elif policy == "Always":
                raise AssertionError(f"{row.id} ({key}) is dead although its restartPolicy is Always; {self.log}")
            elif policy == "OnFailure":
                assert (live.exit_status, live.exit_signal) == (0, None), (key, live, self.log)
                assert row.phase == Phase.SUCCEEDED
            else:
                clean = live.exit_status == 0 and not live.exit_signal
                assert row.phase == (Phase.SUCCEEDED if clean else Phase.FAILED), (key, row.phase, live)
        stray = set(live_by_key) - set(declared)
        assert not stray, f"live sessions with ao's stamp that nothing declares: {stray}; {self.log}"
        self.check_foreign()
        self.check_suspended()


def _check_idempotent(w: World) -> None:
    """A real pass over a converged world changes nothing: no runtime call, no registry write."""
    def snapshot() -> list[dict]:
        return [{k: v for k, v in dataclasses.asdict(r).items() if k != "updated_at"}
                for r in w.registry.sessions(include_terminated=True)]

    before, calls, events = snapshot(), len(w.runtime.calls), len(w.registry.events())
    w.now += PASS_SECONDS
    report = w.reconcile()
    assert converged(report.actions)
    assert snapshot() == before
    assert [c for c in w.runtime.calls[calls:] if c[0] != "observe"] == []
    assert len(w.registry.events()) == events


# ---------------------------------------------------------------- the property


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(models=project_models(), squatters=st.lists(squatters, max_size=3),
       rounds=st.lists(st.lists(perturbations, min_size=1, max_size=8), min_size=1, max_size=4))
def test_reconcile_converges_and_matches_the_manifest_after_any_perturbation(
        models: dict[str, ProjectModel], squatters: list[tuple[str, bool]], rounds: list[list[tuple]]) -> None:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        w = World(Path(tmp), copy.deepcopy(models))  # hypothesis reports the models as drawn
        for sid, other_owner in squatters:  # sessions on ao's server before ao ever ran
            w.add_foreign(sid, other_owner, sid.rpartition("-")[0])
        w.apply()
        w.converge()
        w.check_converged()
        for ops in rounds:
            for op in ops:
                w.perform(op)
            w.converge()
            w.check_converged()
            _check_idempotent(w)


# ---------------------------------------------------------------- deterministic scenarios


def _manifest(repo: Path, *, orchestrator: bool = True, prompt: str = "fix it", policy: str | None = None,
              extra_workers: int = 0) -> str:
    worker = {"name": "a", "prompt": prompt, **({"restartPolicy": policy} if policy else {})}
    workers = [worker] + [{"name": f"x{i}"} for i in range(extra_workers)]
    return yaml.safe_dump({
        "apiVersion": "ao/v1", "kind": "Project", "metadata": {"name": "shop"},
        "spec": {"repo": str(repo), "workspace": "none", "agent": {"command": ["true"]},
                 "orchestrator": {"enabled": orchestrator},
                 "workers": workers},
    })


@pytest.fixture
def shop(tmp_path: Path) -> World:
    models = {"shop": ProjectModel("shop", "shop", True, None, None, {"a": WorkerModel(None, "fix it")})}
    w = World(tmp_path, models)
    return w


def _apply_text(w: World, text: str) -> PassReport:
    loaded, issues = load_text(text, "<test>", w.root)
    assert not issues
    return w.ao.apply(loaded).reconcile


def test_quick_crashes_go_through_backoff_into_crash_loop_and_recover(shop: World) -> None:
    w = shop
    _apply_text(w, _manifest(w.repo, orchestrator=False))
    seen = []
    for _ in range(4):
        w.now += 2
        w.runtime.exit("shop-1", 1, at=w.now)
        w.now += 1
        report = w.ao.reconcile()  # relaunch at once the first time, back off afterwards
        seen.append([a.verb.value for a in report.actions])
        row = w.registry.session("shop-1")
        if row.next_retry_at is not None:
            assert [a.verb.value for a in w.ao.reconcile().actions] == ["wait"]
            w.now = row.next_retry_at
            assert [a.verb.value for a in w.ao.reconcile().actions] == ["relaunch"]
    assert seen == [["relaunch"], ["backoff"], ["backoff"], ["backoff"]]
    row = w.registry.session("shop-1")
    assert row.restarts == 4 and row.quick_failures == 4 and row.phase == Phase.RUNNING
    reasons = [e.reason for e in w.registry.events(session="shop-1")]
    assert reasons.count("BackOff") == 1 and reasons.count("CrashLoopBackOff") == 2
    # a long healthy run forgets the failures: the next crash is relaunched at once
    w.now += 3600
    w.runtime.exit("shop-1", 1)
    assert [a.verb.value for a in w.ao.reconcile().actions] == ["relaunch"]
    assert w.registry.session("shop-1").quick_failures == 0


def test_a_worker_id_is_never_reused_after_reap_and_redeclaration(shop: World) -> None:
    w = shop
    _apply_text(w, _manifest(w.repo, orchestrator=False, extra_workers=1))
    assert sorted(w.runtime.sessions) == ["shop-1", "shop-2"]
    _apply_text(w, yaml.safe_dump({"apiVersion": "ao/v1", "kind": "Project", "metadata": {"name": "shop"},
                                   "spec": {"repo": str(w.repo), "workspace": "none", "agent": {"command": ["true"]},
                                            "orchestrator": {"enabled": False}, "workers": [{"name": "x0"}]}}))
    assert sorted(w.runtime.sessions) == ["shop-2"]
    w.registry.db.execute("delete from sessions where id = 'shop-1'")  # even with its row gone
    w.registry.db.conn.commit()
    report = _apply_text(w, _manifest(w.repo, orchestrator=False, extra_workers=1))
    assert [(a.verb.value, a.session_id, a.worker) for a in report.actions] == [("create", "shop-3", "a")]


# Regressions: the next three failed against 8081fd3 (found while writing these tests) and pass
# since 76d3a2b.


@pytest.mark.parametrize("how", ["orchestrator disabled", "project deleted"])
def test_reaping_a_blocked_orchestrator_never_kills_the_foreign_squatter(shop: World, how: str) -> None:
    w = shop
    _apply_text(w, _manifest(w.repo, orchestrator=False))
    squatter = Observed("shop-orchestrator", alive=True, pid=1)
    w.runtime.add_foreign(squatter)
    assert [a.verb.value for a in _apply_text(w, _manifest(w.repo)).actions] == ["blocked"]
    assert [a.verb.value for a in w.ao.reconcile().actions] == ["wait"]
    if how == "orchestrator disabled":
        _apply_text(w, _manifest(w.repo, orchestrator=False))
    else:
        w.ao.delete_projects(["shop"])
    assert ("kill", "shop-orchestrator") not in w.runtime.calls
    assert w.runtime.sessions.get("shop-orchestrator") is not None


def test_relaunch_after_a_spec_change_records_the_new_spec(shop: World) -> None:
    w = shop
    _apply_text(w, _manifest(w.repo, orchestrator=False, prompt="one"))
    w.runtime.exit("shop-1", 1)
    assert [a.verb.value for a in w.ao.reconcile().actions] == ["relaunch"]
    w.runtime.exit("shop-1", 1)
    assert [a.verb.value for a in w.ao.reconcile().actions] == ["backoff"]
    w.runtime.sessions.pop("shop-1")  # the session vanished while backing off (server restart, user kill)
    assert [a.verb.value for a in _apply_text(w, _manifest(w.repo, orchestrator=False, prompt="two")).actions] \
        == ["wait"]
    w.now += PASS_SECONDS
    first = w.ao.reconcile().actions
    assert [a.verb.value for a in first] in (["relaunch"], ["recreate"])
    stamp = w.runtime.sessions["shop-1"].live.stamp
    assert stamp is not None and w.registry.session("shop-1").spec_hash == stamp.spec_hash
    assert w.ao.reconcile(dry_run=True).actions == []


def test_changing_the_restart_policy_to_always_restarts_a_finished_worker(shop: World) -> None:
    w = shop
    _apply_text(w, _manifest(w.repo, orchestrator=False, policy="Never"))
    w.runtime.exit("shop-1", 3)
    assert [a.verb.value for a in w.ao.reconcile().actions] == ["exited"]
    assert w.registry.session("shop-1").phase == Phase.FAILED
    report = _apply_text(w, _manifest(w.repo, orchestrator=False, policy="Always"))
    w.now += PASS_SECONDS
    report = w.ao.reconcile()
    assert w.runtime.sessions["shop-1"].live.alive, [a.verb.value for a in report.actions]
