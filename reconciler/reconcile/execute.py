"""The executor: carries out a plan against the runtime and writes the results to the registry.

Three steps per pass, so that a crash at any point leaves a state the next pass completes:
1. intent: one transaction records what is about to happen (new rows as Pending, reaps as
   Terminating), so nothing is created that the registry does not know of;
2. act: runtime calls. Launches are prepared several at once (worktrees, prompt files), then started
   a batch per multiplexer call (tmux slows as it holds more sessions: fewer calls is what counts);
   other actions run several at once (each is an independent tmux client);
3. results: one transaction records phases, pids and events.
A failing action never aborts the pass: it becomes a Failed or retried session with a reason.
"""

from __future__ import annotations

import queue as queues
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ..activity import store as activity_store
from ..errors import AoError, SessionProblem
from ..messaging.queue import queue
from ..paths import DataDir
from ..registry.records import Kind, Phase, SessionRecord
from ..registry.store import Registry
from ..runtime.base import Runtime, Started
from ..sessions.agents import PRESETS, display
from ..sessions.workspace import Removal, Repositories, find_worktree, remove_worktree
from ..wording import duration
from .desired import DesiredSession
from .launch import Prepared, Team, prepare
from .notices import SENDER, fold, notice_for, restart_events
from .plan import LAUNCHES, NO_OP, PAST_TENSE, Action, BlockReason, Verb, World
from .ratelimit import LaunchLimiter

LAST_LINES = 10
# Verbs that write a new session row when the session has none yet.
NEW_ROWS = frozenset({Verb.CREATE, Verb.ADOPT, Verb.BLOCKED, Verb.QUEUE})
PARALLEL_LAUNCHES = 4

LEFT_ALONE_REASON = "LeftAlone"


@dataclass(frozen=True)
class Outcome:
    """What carrying out one action did."""

    action: Action
    ok: bool
    summary: str  # e.g. "created", "relaunched", "failed"
    detail: str = ""


@dataclass
class Effect:
    """What one action's runtime step produced (row changes, an event), before it is written down."""

    changes: dict[str, Any] = field(default_factory=dict)
    event: tuple[str, str, bool] | None = None  # (reason, message, warning)
    outcome: str = ""
    ok: bool = True
    detail: str = ""


def _last_lines(runtime: Runtime, action: Action) -> str:
    if action.live is None:
        return ""
    try:
        return runtime.capture(action.session_id, LAST_LINES)
    except AoError:
        return ""


def _with_output(message: str, output: str) -> str:
    if not output.strip():
        return message
    return message + "; last output:\n" + "\n".join(f"  {line}" for line in output.splitlines())


class Executor:
    def __init__(
        self,
        registry: Registry,
        runtime: Runtime,
        data_dir: DataDir,
        *,
        clock: Callable[[], float] = time.time,
        parallel: int = PARALLEL_LAUNCHES,
        limiter: LaunchLimiter | None = None,
    ) -> None:
        self.registry = registry
        self.runtime = runtime
        self.data_dir = data_dir
        self.clock = clock
        self.parallel = parallel
        self.limiter = limiter

    # ------------------------------------------------------------ pass

    def execute(self, actions: Sequence[Action], world: World) -> list[Outcome]:
        work = [a for a in actions if a.verb not in NO_OP]
        self._say_left_alone([a for a in actions if a.verb == Verb.LEAVE])
        if not work:
            return [Outcome(a, True, PAST_TENSE[a.verb], a.reason) for a in actions]
        teams = self._teams(actions, world)
        self._write_intent(work)
        # Reaps first (they free names), then launches; each group runs concurrently.
        reaps = [a for a in work if a.verb == Verb.REAP]
        others = [a for a in work if a.verb != Verb.REAP]
        launches = [a for a in others if a.verb in LAUNCHES]
        results: dict[int, Effect] = {}
        for group in (reaps, [a for a in others if a.verb not in LAUNCHES]):
            with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
                for action, result in zip(group, pool.map(lambda a: self._act(a, teams), group), strict=True):
                    results[id(action)] = result
        results.update(self._launch_all(launches, teams))
        now = self.clock()
        orchestrators = {p.name: p.orchestrator.orchestrator_id for p in world.desired if p.orchestrator}
        with self.registry.transaction():
            news = []
            for action in work:
                result = results[id(action)]
                self._write_result(action, result, now)
                news.append(notice_for(action, result.outcome, result.detail, now, orchestrators.get(action.project)))
            for reason, message in restart_events(work):
                self.registry.add_event(reason, message, warning=True, at=now)
            # One message per orchestrator per pass, however many of its workers changed.
            for target, project, body in fold([n for n in news if n is not None]):
                queue(self.registry, target=target, project=project, body=body, sender=SENDER, at=now)
        outcomes = []
        for action in actions:
            result = results.get(id(action))
            if result is None:
                outcomes.append(Outcome(action, True, PAST_TENSE[action.verb], action.reason))
            else:
                outcomes.append(Outcome(action, result.ok, result.outcome, result.detail or action.reason))
        return outcomes

    def _say_left_alone(self, actions: Sequence[Action]) -> None:
        """A session left alone is said so once (one event), not on every pass."""
        if not actions:
            return
        now = self.clock()
        with self.registry.transaction():
            for action in actions:
                last = self.registry.events(session=action.session_id, limit=1)
                if last and last[0].reason == LEFT_ALONE_REASON:
                    continue
                self.registry.add_event(LEFT_ALONE_REASON, f"{action.session_id}: {action.reason}",
                                        project=action.project or None, session=action.session_id,
                                        warning=True, at=now)

    def _teams(self, actions: Sequence[Action], world: World) -> dict[str, Team]:
        """Per project: the orchestrator workers may talk to, and the worker list for its prompt."""
        ids = {(r.project, r.worker): r.id for r in world.records if r.kind == Kind.WORKER}
        ids.update({(a.project, a.worker): a.session_id for a in actions if a.kind == Kind.WORKER})
        teams = {}
        for project in world.desired:
            lines = []
            for worker in project.workers:
                sid = ids.get((project.name, worker.worker), "(starting)")
                task = (worker.spec.get("prompt") or "").strip().splitlines()
                issue = f"issue {worker.issue}; " if worker.issue else ""
                lines.append(f"`{sid}` ({worker.worker}): {issue}{task[0] if task else 'no task text'}")
            teams[project.name] = Team(
                orchestrator_id=project.orchestrator.orchestrator_id if project.orchestrator else None,
                workers=tuple(lines),
                max_workers=project.max_running_workers,
                max_workers_all=world.capacity.max_running,
            )
        return teams

    # ------------------------------------------------------------ 1. intent

    def _write_intent(self, work: Sequence[Action]) -> None:
        now = self.clock()
        new_rows: list[SessionRecord] = []
        with self.registry.transaction():
            for action in work:
                if action.verb in NEW_ROWS and action.record is None:
                    desired = action.desired
                    assert desired is not None
                    new_rows.append(
                        SessionRecord(
                            id=action.session_id,
                            project=action.project,
                            kind=action.kind,
                            worker=action.worker,
                            number=action.number,
                            phase=Phase.PENDING,
                            runtime=desired.spec["runtime"],
                            spec=dict(desired.spec),
                            spec_hash=desired.spec_hash,
                            restart_policy=desired.restart_policy,
                            reason="Creating",
                            message=action.reason,
                            branch=desired.spec.get("branch"),
                            created_at=now,
                            last_transition_at=now,
                            updated_at=now,
                        )
                    )
                    if action.number is not None:
                        self.registry.claim_number(desired.prefix, action.number)
                elif action.verb == Verb.REAP and action.record is not None:
                    self.registry.update_session(action.session_id, phase=Phase.TERMINATING, reason="Reaping",
                                                 message=action.reason, last_transition_at=now)
            self.registry.save_sessions(new_rows)

    # ------------------------------------------------------------ 2. act

    def _launch_all(self, actions: Sequence[Action], teams: dict[str, Team]) -> dict[int, Effect]:
        """Prepare the launches several at once, and start each as soon as it is ready: the starter
        hands the runtime all that is ready in one batch, so while preparation (or the launch limit)
        holds one back, what is ready is already starting."""
        if not actions:
            return {}
        effects: dict[int, Effect] = {}
        repositories = Repositories()  # what git says of each repository, asked once per pass
        pool = ThreadPoolExecutor(max_workers=max(1, self.parallel))
        with pool, _Starter(self.runtime, self.clock) as starter:
            ready = pool.map(lambda a: self._prepare(a, teams, repositories), actions)
            for action, prepared in zip(actions, ready, strict=True):
                if isinstance(prepared, Effect):
                    effects[id(action)] = prepared
                    continue
                if self.limiter is not None:
                    self.limiter.acquire(action.recovery)  # a server restart's relaunches are not a crash storm
                dead = action.live is not None and not action.live.alive
                starter.put(action, prepared, respawn=action.live is not None,
                            capture=LAST_LINES if action.verb == Verb.RELAUNCH and dead else 0)
        for action, prepared, started, at in starter.results:
            effects[id(action)] = self._launched(action, prepared, started, at)
        return effects

    def _prepare(self, action: Action, teams: dict[str, Team], repositories: Repositories) -> Prepared | Effect:
        """The launch ready to start (workspace, prompt files, argv), or why it cannot start."""
        desired = action.desired
        assert desired is not None
        resume = action.verb == Verb.RELAUNCH and _can_resume(action)
        try:
            return prepare(desired, action.session_id, self.data_dir, owner=self.data_dir.owner_id,
                           registry=self.registry.identity, resume=resume, team=teams.get(action.project, Team()),
                           repositories=repositories)
        except SessionProblem as exc:
            return self._launch_failed(action, exc.reason, exc.message)
        except AoError as exc:
            return self._launch_failed(action, "RuntimeError", str(exc))

    def _launched(self, action: Action, prepared: Prepared, started: Started, at: float) -> Effect:
        """What a started (or failed) launch writes down, worded for its verb; `at`: when it started."""
        desired = action.desired
        assert desired is not None
        if isinstance(started.error, SessionProblem):
            return self._launch_failed(action, started.error.reason, started.error.message)
        if started.error is not None:
            return self._launch_failed(action, "RuntimeError", str(started.error))
        result = Effect(changes=_running(prepared, started.pid, at))
        # The row always describes what runs now, whatever the verb that started it.
        result.changes.update(spec=dict(desired.spec), spec_hash=desired.spec_hash,
                              restart_policy=desired.restart_policy)
        sid = action.session_id
        if action.verb == Verb.CREATE:
            result.event = ("Created", f"started {sid}: {action.reason}", False)
            result.outcome = "created"
        elif action.verb == Verb.RECREATE:
            result.changes.update(backoff_step=0, quick_failures=0)
            result.event = ("Recreated", f"restarted {sid} with its new spec: {action.reason}", False)
            result.outcome = "recreated"
        else:
            restarts = (action.record.restarts if action.record else 0) + 1
            uptime = _uptime(action, self.clock())
            result.changes.update(restarts=restarts, backoff_step=action.backoff_step,
                                  quick_failures=action.quick_failures, **_exit_fields(action))
            message = f"relaunched {sid} (restart {restarts}): {action.reason}; it had run {duration(uptime)}"
            result.event = ("Relaunched", _with_output(message, started.last_output), True)
            result.outcome = "relaunched"
        return result

    def _launch_failed(self, action: Action, reason: str, message: str) -> Effect:
        retry = action.launch_retry
        assert retry is not None, "the planner sets launch_retry on every launching action"
        return Effect(
            changes={"phase": Phase.FAILED, "reason": reason, "message": message, "pid": None,
                     "next_retry_at": retry.at, "backoff_step": retry.step},
            event=(reason, f"cannot start {action.session_id}: {message}", True),
            outcome="failed", ok=False, detail=message,
        )

    def _act(self, action: Action, teams: dict[str, Team]) -> Effect:
        handler = self._handlers[action.verb]
        return handler(self, action, teams)

    def _backoff(self, action: Action, teams: dict[str, Team]) -> Effect:
        output = _last_lines(self.runtime, action)
        crash_loop = action.phase == Phase.CRASH_LOOP
        reason = "CrashLoopBackOff" if crash_loop else "BackOff"
        return Effect(
            changes={"phase": action.phase, "reason": reason, "message": action.reason,
                     "next_retry_at": action.retry_at, "backoff_step": action.backoff_step,
                     "quick_failures": action.quick_failures, **_exit_fields(action)},
            event=(reason, _with_output(f"{action.session_id}: {action.reason}", output), True),
            outcome="crash-looping" if crash_loop else "backing off", detail=action.reason,
        )

    def _exited(self, action: Action, teams: dict[str, Team]) -> Effect:
        output = _last_lines(self.runtime, action)
        succeeded = action.phase == Phase.SUCCEEDED
        return Effect(
            changes={"phase": action.phase, "reason": "Completed" if succeeded else "Error",
                     "message": action.reason, "next_retry_at": None, **_exit_fields(action)},
            event=("Completed" if succeeded else "Failed",
                   _with_output(f"{action.session_id}: {action.reason}", output), not succeeded),
            outcome="succeeded" if succeeded else "failed",
        )

    def _adopt(self, action: Action, teams: dict[str, Team]) -> Effect:
        live = action.live
        changes = {"phase": Phase.RUNNING, "reason": "Adopted", "message": action.reason,
                   "pid": live.pid if live else None, "next_retry_at": None}
        if action.desired is not None:
            # The hash of what runs (its stamp), so a spec changed while the row was lost is still applied.
            running = live.stamp.spec_hash if live is not None and live.stamp is not None else None
            changes.update(spec=dict(action.desired.spec), spec_hash=running or action.desired.spec_hash)
            if action.record is None or not action.record.workspace:
                # Lost with the row (or never written, when ao died mid-launch): found again on disk,
                # so that reaping it later preserves its work and removes its worktree.
                changes.update(_found_workspace(action.desired, action.session_id, self.data_dir))
        if action.record is None or action.record.started_at is None:
            changes["started_at"] = self.clock()
        return Effect(changes=changes, event=("Adopted", f"{action.session_id}: {action.reason}", False),
                       outcome="adopted")

    def _reap(self, action: Action, teams: dict[str, Team]) -> Effect:
        sid = action.session_id
        try:
            if action.live is not None:
                self.runtime.kill(sid)
            workspace = _release_workspace(action.record, self.data_dir)
        except (AoError, SessionProblem) as exc:
            return Effect(event=("ReapFailed", f"cannot stop {sid}: {exc}", True), outcome="failed",
                           ok=False, detail=str(exc))
        changes = {"phase": Phase.TERMINATED, "reason": "Reaped", "message": action.reason,
                   "pid": None, "next_retry_at": None, "terminated_at": self.clock()}
        message = f"stopped {sid}: {action.reason}" + (f"; {workspace.detail}" if workspace else "")
        preserved = workspace is not None and workspace.outcome == "preserved"
        return Effect(changes=changes if action.record else {}, event=("Reaped", message, preserved),
                       outcome="reaped", detail=f"{action.reason}; {workspace.detail}" if preserved else "")

    def _blocked(self, action: Action, teams: dict[str, Team]) -> Effect:
        reason = action.block or BlockReason.NAME_TAKEN
        return Effect(changes={"phase": Phase.PENDING, "reason": str(reason), "message": action.reason},
                       event=(str(reason), action.reason, True), outcome="blocked", ok=False,
                       detail=action.reason)

    def _queue(self, action: Action, teams: dict[str, Team]) -> Effect:
        # Announced once, when it starts waiting; later passes only keep the words current.
        event = None if action.quiet else (str(BlockReason.CAPACITY), f"{action.session_id} is {action.reason}",
                                           False)
        return Effect(changes={"phase": Phase.PENDING, "reason": str(BlockReason.CAPACITY),
                               "message": action.reason, "next_retry_at": None},
                      event=event, outcome="pending", detail=action.reason)

    # One handler per verb that does something and starts no agent (WAIT never reaches the act step).
    _handlers: ClassVar[dict[Verb, Callable[[Executor, Action, dict[str, Team]], Effect]]] = {
        Verb.BACKOFF: _backoff,
        Verb.EXITED: _exited,
        Verb.ADOPT: _adopt,
        Verb.REAP: _reap,
        Verb.BLOCKED: _blocked,
        Verb.QUEUE: _queue,
    }

    # ------------------------------------------------------------ 3. results

    def _write_result(self, action: Action, result: Effect, now: float) -> None:
        changes = dict(result.changes)
        has_row = action.record is not None or action.verb in NEW_ROWS
        if changes and has_row:
            before = action.record.phase if action.record else Phase.PENDING
            if changes.get("phase", before) != before:
                changes["last_transition_at"] = now
            self.registry.update_session(action.session_id, **changes)
            if "started_at" in changes:  # a new agent process: its activity starts over
                activity_store.restart(self.registry.conn, action.session_id, now)
        if result.event:
            reason, message, warning = result.event
            self.registry.add_event(reason, message, project=action.project or None,
                                    session=action.session_id, warning=warning, at=now)


class _Starter:
    """Starts prepared launches from its own thread: each runtime call takes every launch queued since
    the last one (of one kind: created, respawned, respawned with last lines read), as one batch."""

    def __init__(self, runtime: Runtime, clock: Callable[[], float]) -> None:
        self.runtime = runtime
        self.clock = clock
        self.results: list[tuple[Action, Prepared, Started, float]] = []
        self._queue: queues.Queue[tuple[Action, Prepared, bool, int] | None] = queues.Queue()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ao-starter", daemon=True)

    def __enter__(self) -> _Starter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._failure is not None and exc[0] is None:
            raise self._failure

    def put(self, action: Action, prepared: Prepared, *, respawn: bool, capture: int) -> None:
        self._queue.put((action, prepared, respawn, capture))

    def _run(self) -> None:
        held: tuple[Action, Prepared, bool, int] | None = None
        ended = False
        while True:
            first = held if held is not None else self._queue.get()
            held = None
            if first is None:
                return
            batch = [first]
            while True:  # everything already queued, while it is of the same kind
                try:
                    item = self._queue.get_nowait()
                except queues.Empty:
                    break
                if item is None:
                    ended = True
                    break
                if item[2:] != first[2:]:
                    held = item
                    break
                batch.append(item)
            if self._failure is None:
                self._start(batch)
            if ended:
                return

    def _start(self, batch: list[tuple[Action, Prepared, bool, int]]) -> None:
        launches = [prepared.launch for _, prepared, _, _ in batch]
        _, _, respawn, capture = batch[0]
        try:
            started = (self.runtime.respawn_many(launches, capture=capture) if respawn
                       else self.runtime.create_many(launches))
        except AoError as exc:  # the runtime cannot start anything (tmux not installed): each says why
            started = [Started(launch.session_id, error=exc) for launch in launches]
        except BaseException as exc:  # noqa: BLE001 - raised again in the pass's own thread
            self._failure = exc
            return
        at = self.clock()
        self.results += [(action, prepared, one, at)
                         for (action, prepared, _, _), one in zip(batch, started, strict=True)]


def _can_resume(action: Action) -> bool:
    """Continue the agent's previous conversation when its preset can, unless the last run was a
    quick failure: a resume that fails at once (no conversation to continue) falls back to a
    fresh start on the next relaunch instead of looping. An agent killed by a signal did not fail
    to resume, however soon it died."""
    agent = action.desired.spec["agent"] if action.desired else {}
    preset = PRESETS.get(agent.get("preset") or "")
    killed = action.live is not None and action.live.exit_signal is not None
    return bool(preset and preset.resumes and not agent.get("command") and (action.quick_failures == 0 or killed))


def _found_workspace(desired: DesiredSession, session_id: str, data_dir: DataDir) -> dict[str, Any]:
    """The workspace and branch of a session whose row does not say: its repository (`workspace: none`),
    or the worktree ao gives it, if git knows one there (with the branch checked out in it)."""
    repo = Path(desired.spec["repo"])
    if desired.spec.get("workspace") == "none":
        return {"workspace": str(repo), "branch": None}
    try:
        found = find_worktree(repo, data_dir.worktree_dir(desired.project, session_id))
    except SessionProblem:
        return {}
    return {"workspace": str(found[0]), "branch": found[1]} if found else {}


def _release_workspace(record: SessionRecord | None, data_dir: DataDir) -> Removal | None:
    """Remove the session's worktree if it is clean; preserve it if not. None without a worktree."""
    if record is None or not record.spec:
        return None
    if not record.workspace:  # adopted before workspaces were recovered: look where ao puts it
        found = find_worktree(Path(record.spec["repo"]), data_dir.worktree_dir(record.project, record.id))
        if found is None:
            return None
        record = replace(record, workspace=str(found[0]))
    repo, workspace = Path(record.spec["repo"]), Path(str(record.workspace))
    if workspace == repo:
        return None  # `workspace: none`: the session ran in the repository itself
    return remove_worktree(repo, workspace, record.id)


def _uptime(action: Action, now: float) -> float | None:
    record, live = action.record, action.live
    if record is None or record.started_at is None:
        return None
    ended = live.dead_at if live is not None and live.dead_at else now
    return max(0.0, ended - record.started_at)


def _exit_fields(action: Action) -> dict[str, Any]:
    live = action.live
    if live is None or live.alive:
        return {}
    return {"exit_code": live.exit_status, "exit_signal": live.exit_signal}


def _running(prepared: Prepared, pid: int | None, now: float) -> dict[str, Any]:
    return {
        "phase": Phase.RUNNING,
        "reason": "Started",
        "message": display(prepared.args),
        "pid": pid,
        "started_at": now,
        "next_retry_at": None,
        "argv": list(prepared.launch.argv),
        "workspace": prepared.workspace,
        "branch": prepared.branch,
        "runtime": prepared.launch.runtime,
    }
