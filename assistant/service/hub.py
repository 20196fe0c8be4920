"""The service's live state: the published policy, each agent's engine, pushes and event writer.

An agent's conversations (and their reply timers) belong to the agent, not to one socket: a
client that reconnects finds its timers still running, and pushes it missed (numbered with
``seq``) are replayed if it comes back within the resume window.  Publishing a phrasebook
builds a new ``CompiledPolicy`` once and swaps it in for every engine atomically.

Scaling past one process: each process holds its own connections and timers; publish events
would travel between processes via PostgreSQL LISTEN/NOTIFY (not built yet, see README).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from classifiers.intent.model import DEFAULT_MODEL_PATH, IntentModel

from ..engine import ConversationEngine
from ..policy import CompiledPolicy
from ..settings import Settings
from .store import Store

__all__ = ["Hub", "AgentState"]

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
_ANSWER_CACHE = 1000  # answers kept per agent for idempotent resends (minutes of traffic)


@dataclass
class AgentState:
    agent_id: str
    engine: ConversationEngine
    seq: int = 0
    pushes: deque[tuple[int, float, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=1000))
    connections: set[Any] = field(default_factory=set)
    answers: OrderedDict[tuple[str, str, str], dict[str, Any]] = field(default_factory=OrderedDict)
    timer: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def remember(self, key: tuple[str, str, str], frame: dict[str, Any]) -> None:
        self.answers[key] = frame
        if len(self.answers) > _ANSWER_CACHE:
            self.answers.popitem(last=False)


class EventWriter:
    """Stores events from a background thread in batches, so sockets never wait on the disk."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: deque[dict[str, Any]] = deque()
        self._lock = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()

    def put(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._queue.append(row)
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stop:
                    self._lock.wait(0.5)
                if self._stop and not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), 500))]
            try:
                self.store.record_events(batch)
            except Exception as exc:  # keep serving; the failure is visible in logs and metrics
                print(f"event writer: {len(batch)} events not stored: {exc}", flush=True)

    def flush(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self._queue and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout=10)


class Hub:
    """Owns the policy, the agents and the event writer of one service process."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.model = IntentModel.load(DEFAULT_MODEL_PATH) if DEFAULT_MODEL_PATH.exists() else None
        self.policy = CompiledPolicy.build(store.ensure_phrasebook(), self.model)
        self.agents: dict[str, AgentState] = {}
        self.usage: dict[str, int] = {}
        self.writer = EventWriter(store)
        self.frames_in = 0
        self.frames_out = 0
        self.errors: dict[str, int] = {}
        self._publishing = asyncio.Lock()
        self.fanout: Any = None  # PostgresFanout on PostgreSQL
        self._background: set[asyncio.Task[None]] = set()
        # Server-side handling time per client frame type: Prometheus histogram buckets.
        self.handling: dict[str, list[int]] = {}
        self.handling_sum: dict[str, float] = {}

    def agent(self, agent_id: str) -> AgentState:
        state = self.agents.get(agent_id)
        if state is None:
            engine = ConversationEngine(self.policy, tz=self.settings.timezone,
                                        limit_scale=self.settings.limit_scale,
                                        shift_override=self.settings.shift_override, usage=self.usage)
            state = self.agents[agent_id] = AgentState(agent_id, engine)
        return state

    def reload_policy(self) -> int:
        """Rebuild from storage and swap it in everywhere; returns the new revision."""
        policy = CompiledPolicy.build(self.store.phrasebook.load(), self.model)
        self.policy = policy
        for state in self.agents.values():
            state.engine.policy = policy
        return policy.revision

    async def publish(self, actor: str, role: str, action: str, detail: dict[str, Any]) -> int:
        """After a phrasebook change: rebuild, swap, push ``phrasebook_updated``, audit, and tell
        the other service processes (PostgreSQL NOTIFY).

        One publish at a time, so two quick saves can never leave the older policy live.
        """
        async with self._publishing:
            revision = await asyncio.to_thread(self.reload_policy)
            await self.broadcast_phrasebook(revision)
        if self.fanout is not None:
            await asyncio.to_thread(self.fanout.notify, revision)
        await asyncio.to_thread(self.store.audit, actor, role, action, detail | {"revision": revision})
        return revision

    def start_fanout(self, loop: asyncio.AbstractEventLoop) -> None:
        """On PostgreSQL, listen for publishes made by other processes."""
        if self.store.engine.dialect.name != "postgresql":
            return
        from .fanout import PostgresFanout

        self.fanout = PostgresFanout(self.store.engine, lambda _revision: self._schedule_sync(loop), loop)
        self.fanout.start()

    def _schedule_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self.sync_with_store())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def sync_with_store(self) -> None:
        """Another process published: load the newer phrasebook and tell this process's agents."""
        async with self._publishing:
            stored = await asyncio.to_thread(self.store.phrasebook.revision)
            if stored > self.policy.revision:
                revision = await asyncio.to_thread(self.reload_policy)
                await self.broadcast_phrasebook(revision)

    async def push(self, state: AgentState, frame: dict[str, Any]) -> None:
        """Number a push, keep it for resume, and send it to the agent's open sockets."""
        state.seq += 1
        frame = dict(frame, seq=state.seq)
        state.pushes.append((state.seq, time.time(), frame))
        for connection in list(state.connections):
            try:
                await connection.send_json(frame)
                self.frames_out += 1
            except Exception:
                state.connections.discard(connection)

    async def broadcast_phrasebook(self, revision: int) -> None:
        for state in list(self.agents.values()):
            await self.push(state, {"type": "phrasebook_updated", "revision": revision})

    def missed(self, state: AgentState, last_seq: int) -> tuple[list[dict[str, Any]], bool]:
        """Pushes after ``last_seq`` still in the window, and whether nothing was lost."""
        window_start = time.time() - self.settings.resume_window_s
        kept = [f for seq, at, f in state.pushes if seq > last_seq and at >= window_start]
        oldest_kept = next((seq for seq, at, _ in state.pushes if at >= window_start), state.seq + 1)
        complete = last_seq + 1 >= oldest_kept or last_seq >= state.seq
        return kept, complete

    def record(self, conversation_id: str, message_id: str, kind: str, agent_id: str, ts: float,
               text: str | None, data: dict[str, Any]) -> None:
        self.writer.put({"conversation_id": conversation_id, "message_id": message_id, "kind": kind,
                         "agent_id": agent_id, "ts": ts, "text": text, "data": data})

    def observe(self, kind: str, seconds: float) -> None:
        """Record how long the server spent on one client frame (exposed by /metrics)."""
        counts = self.handling.setdefault(kind, [0] * (len(_BUCKETS) + 1))
        for i, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.handling_sum[kind] = self.handling_sum.get(kind, 0.0) + seconds

    def handling_metrics(self) -> list[str]:
        lines = ["# HELP coach_frame_seconds Server time spent handling a client frame.",
                 "# TYPE coach_frame_seconds histogram"]
        for kind, counts in sorted(self.handling.items()):
            for bound, count in zip(_BUCKETS, counts, strict=False):
                lines.append(f'coach_frame_seconds_bucket{{type="{kind}",le="{bound}"}} {count}')
            lines.append(f'coach_frame_seconds_bucket{{type="{kind}",le="+Inf"}} {counts[-1]}')
            lines.append(f'coach_frame_seconds_sum{{type="{kind}"}} {self.handling_sum[kind]:.6f}')
            lines.append(f'coach_frame_seconds_count{{type="{kind}"}} {counts[-1]}')
        return lines

    def count_error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
