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
import json
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from classifiers.intent.model import DEFAULT_MODEL_PATH, IntentModel

from ..engine import ConversationEngine
from ..policy import CompiledPolicy
from ..settings import Settings
from .runtime_metrics import GcPauses, Histogram
from .store import Store

__all__ = ["Hub", "AgentState"]

_ANSWER_CACHE = 1000  # answers kept per agent for idempotent resends (minutes of traffic)


@dataclass
class AgentState:
    agent_id: str
    engine: ConversationEngine
    seq: int = 0
    pushes: deque[tuple[int, float, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=1000))
    connections: set[Any] = field(default_factory=set)
    # Answers as the JSON text sent, not as dicts: 500 agents × 1,000 answers of nested dicts
    # were millions of objects for the garbage collector to rescan (full collections of
    # ~130 ms under load); strings are not tracked by it.
    answers: OrderedDict[tuple[str, str, str], str] = field(default_factory=OrderedDict)
    timer: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def remember(self, key: tuple[str, str, str], frame: dict[str, Any] | None) -> str:
        """Keep the answer to ``key`` (as the text sent) for resends; ``None`` marks it seen."""
        text = encode_frame(frame) if frame is not None else ""
        self.answers[key] = text
        if len(self.answers) > _ANSWER_CACHE:
            self.answers.popitem(last=False)
        return text


def encode_frame(frame: dict[str, Any]) -> str:
    """A server frame as sent on the socket (compact JSON, Chinese kept as is)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class EventWriter:
    """Stores events from a background thread in batches, so sockets never wait on the disk.

    The thread lingers ``linger_s`` after the first event of a batch before writing: one
    transaction per ~50 ms instead of one per event, and far fewer hand-overs of the GIL to a
    thread the event loop then waits on (measured: p50 round trip at 500 agents fell from
    ~8 ms to ~1 ms, docs/performance.md).
    """

    def __init__(self, store: Store, linger_s: float = 0.05) -> None:
        self.store = store
        self.linger_s = linger_s
        self._queue: deque[dict[str, Any]] = deque()
        self._lock = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()

    def put(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._queue.append(row)
            if len(self._queue) == 1:
                self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stop:
                    self._lock.wait(0.5)
                if self._stop and not self._queue:
                    return
                stopping = self._stop
            if not stopping:
                time.sleep(self.linger_s)
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), 5000))]
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
        # Server-side handling time per client frame type, event-loop lag and GC pauses.
        self.handling = Histogram("coach_frame_seconds", "Server time spent handling a client frame.", "type")
        self.loop_lag = Histogram("coach_event_loop_lag_seconds",
                                  "How late the event loop wakes a 10 ms timer (anything blocking every socket).", "loop")
        self.gc_pauses = GcPauses()

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
        self.handling.observe(kind, seconds)

    def runtime_metrics(self) -> list[str]:
        return self.handling.lines() + self.loop_lag.lines() + self.gc_pauses.histogram.lines()

    def count_error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
