"""One ``/ws/agent`` connection: a small state machine around the conversation engine.

    AWAITING_HELLO ──valid hello──▶ AUTHENTICATED ──socket closes──▶ CLOSED
          │ (5 s, bad token: close 4401)

Frames are parsed by ``protocol.parse_client_frame``; whatever is wrong with a frame becomes an
``error`` frame and the connection carries on.  Answers to events with a ``message_id`` are
remembered, so a resend returns the same answer and is stored once.
"""

from __future__ import annotations

import asyncio
import json
import time
from enum import Enum
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..engine import BuyerChasedAgain, Coaching, ObligationOutcome, ReplyTiming, SlaBreach, SlaWarning
from .hub import AgentState, Hub, encode_frame
from .protocol import (
    AgentReply,
    BuyerMessage,
    CloseConversation,
    Draft,
    Feedback,
    Hello,
    ProtocolError,
    SuggestionUsed,
    error_frame,
    parse_client_frame,
)

__all__ = ["AgentSession"]


class SessionState(Enum):
    AWAITING_HELLO = "awaiting_hello"
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


class _Bucket:
    """Token bucket: ``rate`` frames/s sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity, self.tokens, self.at = rate, float(burst), float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class AgentSession:
    def __init__(self, hub: Hub, websocket: WebSocket) -> None:
        self.hub = hub
        self.ws = websocket
        self.state = SessionState.AWAITING_HELLO
        self.agent: AgentState | None = None
        self.role = ""
        self.name = ""
        settings = hub.settings
        self.bucket = _Bucket(settings.flood_frames_per_s, settings.flood_burst)

    # ------------------------------------------------------------------ I/O
    async def send(self, frame: dict[str, Any] | str) -> None:
        """Send a frame (a dict, or the JSON text of a remembered answer)."""
        await self.ws.send_text(frame if isinstance(frame, str) else encode_frame(frame))
        self.hub.frames_out += 1

    async def receive_text(self) -> str | None:
        """Next frame as text; None when the socket closed.  Bytes must be UTF-8."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        if message.get("text") is not None:
            return str(message["text"])
        data = message.get("bytes") or b""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("bad_json", f"二进制帧不是 UTF-8 / binary frame is not UTF-8 (byte {exc.start})") from exc

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        await self.ws.accept()
        try:
            if not await self._handshake():
                return
            while True:
                try:
                    raw = await self.receive_text()
                    if raw is None:
                        break
                    self.hub.frames_in += 1
                    started = time.perf_counter()
                    kind = await self._handle(raw)
                    self.hub.observe(kind, time.perf_counter() - started)
                except ProtocolError as exc:
                    self.hub.count_error(exc.code)
                    await self.send(error_frame(exc.code, exc.message, exc.ref))
        except WebSocketDisconnect:
            pass
        finally:
            self.state = SessionState.CLOSED
            if self.agent is not None:
                self.agent.connections.discard(self.ws)

    async def _handshake(self) -> bool:
        timeout = self.hub.settings.hello_timeout_s
        try:
            raw = await asyncio.wait_for(self.receive_text(), timeout)
        except (TimeoutError, ProtocolError):
            await self.ws.close(code=4401, reason="hello required")
            return False
        if raw is None:
            return False
        try:
            kind, frame = parse_client_frame(raw)
        except ProtocolError:
            kind, frame = "", None
        if kind != "hello" or not isinstance(frame, Hello):
            await self.ws.close(code=4401, reason="first frame must be hello")
            return False
        info = self.hub.store.lookup_token(frame.token)
        if info is None:
            await self.ws.close(code=4401, reason="invalid token")
            return False
        self.role, self.name = info.role, info.name
        self.agent = self.hub.agent(frame.agent_id)
        self._ensure_timer(self.agent)
        self.state = SessionState.AUTHENTICATED
        missed: list[dict[str, Any]] = []
        resumed = frame.last_seq is None
        if frame.last_seq is not None:
            missed, resumed = self.hub.missed(self.agent, frame.last_seq)
        await self.send({
            "type": "welcome", "agent_id": frame.agent_id, "name": info.name, "role": info.role,
            "server_time": time.time(), "phrasebook_revision": self.hub.policy.revision,
            "seq": self.agent.seq, "resumed": resumed, "missed": len(missed),
            "intents": [{"id": i.id, "name": i.name} for i in self.hub.policy.book.intents],
        })
        for push in missed:
            await self.send(push)
        self.agent.connections.add(self.ws)
        return True

    # ------------------------------------------------------------------ frames
    async def _handle(self, raw: str) -> str:
        """Act on one frame and answer it; returns the frame type (for metrics)."""
        if len(raw.encode("utf-8")) > self.hub.settings.max_frame_bytes:
            raise ProtocolError("frame_too_large",
                                f"帧超过 {self.hub.settings.max_frame_bytes} 字节 / frame over {self.hub.settings.max_frame_bytes} bytes")
        if not self.bucket.take():
            raise ProtocolError("rate_limited", "发送太快，此帧已丢弃 / too many frames, this one was dropped")
        kind, frame = parse_client_frame(raw)
        assert self.agent is not None
        if isinstance(frame, Hello):
            raise ProtocolError("bad_frame", "已经登录，不需要再发 hello / already authenticated", ref="hello")
        if isinstance(frame, BuyerMessage):
            await self.send(self._buyer_message(frame))
        elif isinstance(frame, Draft):
            flags = self.agent.engine.policy.check(frame.text, self._known_values(frame.conversation_id))
            await self.send({"type": "draft_check", "conversation_id": frame.conversation_id, "text": frame.text,
                             "draft_id": frame.draft_id, "flags": [f.to_dict() for f in flags],
                             "ok": not any(f.severity == "block" for f in flags)})
        elif isinstance(frame, AgentReply):
            await self.send(self._agent_reply(frame))
        elif isinstance(frame, Feedback):
            await self._feedback(frame)
            await self.send({"type": "ack", "for": kind, "message_id": frame.message_id})
        elif isinstance(frame, SuggestionUsed):
            self._suggestion_used(frame)
            await self.send({"type": "ack", "for": kind, "message_id": frame.message_id})
        elif isinstance(frame, CloseConversation):
            await self.send(self._close(frame))
        else:
            await self.send({"type": "pong", "server_time": time.time()})
        if isinstance(frame, BuyerMessage | AgentReply | CloseConversation):
            self.agent.wake.set()  # the reply clock may have started or stopped: re-plan the alarms
        return kind

    def _ts(self, client_ts: float | None) -> float:
        now = time.time()
        if client_ts is None or client_ts > now + 5 or client_ts < now - self.hub.settings.resume_window_s:
            return now
        return client_ts

    def _known_values(self, conversation_id: str) -> frozenset[str]:
        assert self.agent is not None
        conv = self.agent.engine.conversations.get(conversation_id)
        return frozenset(conv.variables.values()) if conv else frozenset()

    def _buyer_message(self, frame: BuyerMessage) -> str:
        assert self.agent is not None
        key = (frame.conversation_id, frame.message_id, "buyer_message")
        if key in self.agent.answers:
            return self.agent.answers[key]
        engine = self.agent.engine
        variables = dict(frame.variables)
        if frame.buyer_name:
            variables["buyer_name"] = frame.buyer_name
        if variables:
            engine.set_variables(frame.conversation_id, variables)
        ts = self._ts(frame.ts)
        findings = engine.buyer_message(frame.conversation_id, frame.message_id, frame.text, ts)
        coaching = next(f for f in findings if isinstance(f, Coaching))
        answer = {
            "type": "coaching", "conversation_id": frame.conversation_id, "message_id": frame.message_id,
            "intent": coaching.prediction.intent, **_prediction_fields(coaching),
            "suggestions": [s.to_dict() for s in coaching.suggestions],
            "deadline": coaching.deadline, "limit_s": coaching.limit_s, "reminders": list(coaching.reminders),
        }
        sent = self.agent.remember(key, answer)
        self.hub.record(frame.conversation_id, frame.message_id, "buyer_message", self.agent.agent_id, ts,
                        frame.text, {"buyer_name": frame.buyer_name, "variables": frame.variables,
                                     "intents": answer["intents"],
                                     "suggestions": [s["template_id"] for s in answer["suggestions"]],
                                     "chased_again": [f.previous_message_id for f in findings
                                                      if isinstance(f, BuyerChasedAgain)]})
        return sent

    def _agent_reply(self, frame: AgentReply) -> str:
        assert self.agent is not None
        key = (frame.conversation_id, frame.message_id, "agent_reply")
        if key in self.agent.answers:
            return self.agent.answers[key]
        ts = self._ts(frame.ts)
        findings = self.agent.engine.agent_reply(frame.conversation_id, frame.message_id, frame.text, ts,
                                                 auto=frame.auto, template_id=frame.template_id)
        timing = next(f for f in findings if isinstance(f, ReplyTiming))
        answer = {
            "type": "reply_recorded", "conversation_id": frame.conversation_id, "message_id": frame.message_id,
            "latency_s": timing.latency_s, "limit_s": timing.limit_s, "on_time": timing.on_time,
            "fine_yuan": timing.fine_yuan, "platform_on_time": timing.platform_on_time,
            "flags": [f.to_dict() for f in timing.flags],
        }
        sent = self.agent.remember(key, answer)
        self.hub.record(frame.conversation_id, frame.message_id, "agent_reply", self.agent.agent_id, ts, frame.text,
                        {"template_id": frame.template_id, "auto": frame.auto, "latency_s": timing.latency_s,
                         "on_time": timing.on_time, "fine_yuan": timing.fine_yuan,
                         "flags": answer["flags"]})
        return sent

    async def _feedback(self, frame: Feedback) -> None:
        """Store an agent's correction of an intent; ``coach train --with-corrections`` uses it."""
        assert self.agent is not None
        known = {i.id for i in self.agent.engine.policy.book.intents}
        if frame.intent not in known:
            raise ProtocolError("bad_frame", f"feedback: 未知意图 {frame.intent!r} / unknown intent (expected one of: "
                                f"{', '.join(sorted(known))})", ref=frame.message_id)
        key = (frame.conversation_id or "", frame.message_id, f"feedback:{frame.intent}")
        if key in self.agent.answers:
            return
        self.agent.remember(key, None)
        text = next((str(json.loads(answer).get("text", "")) for (cid, mid, kind), answer in self.agent.answers.items()
                     if mid == frame.message_id and kind == "buyer_message"
                     and (frame.conversation_id in (None, cid))), None)
        if text is None and frame.conversation_id:
            text = await asyncio.to_thread(self.hub.store.event_text, frame.conversation_id, frame.message_id,
                                           "buyer_message")
        await asyncio.to_thread(self.hub.store.add_correction, frame.message_id, text or "", frame.intent,
                                f"{self.role}:{self.name}")
        self.hub.record(frame.conversation_id or "", f"{frame.message_id}:{frame.intent}", "feedback",
                        self.agent.agent_id, time.time(), text, {"intent": frame.intent, "message_id": frame.message_id})

    def _suggestion_used(self, frame: SuggestionUsed) -> None:
        assert self.agent is not None
        key = (frame.conversation_id or "", frame.message_id, f"suggestion_used:{frame.template_id}")
        if key in self.agent.answers:
            return
        self.agent.remember(key, None)
        self.hub.usage[frame.template_id] = self.hub.usage.get(frame.template_id, 0) + 1
        self.hub.record(frame.conversation_id or "", f"{frame.message_id}:{frame.template_id}", "suggestion_used",
                        self.agent.agent_id, time.time(), None, {"template_id": frame.template_id,
                                                                 "message_id": frame.message_id})

    def _close(self, frame: CloseConversation) -> dict[str, Any]:
        assert self.agent is not None
        outcomes = [f for f in self.agent.engine.close(frame.conversation_id) if isinstance(f, ObligationOutcome)]
        return {"type": "conversation_closed", "conversation_id": frame.conversation_id, "obligations": [
            {"intent": o.intent, "obligation": o.obligation.id, "description": o.obligation.description,
             "met": o.met} for o in outcomes]}

    # ------------------------------------------------------------------ timers
    def _ensure_timer(self, agent: AgentState) -> None:
        if agent.timer is None or agent.timer.done():
            agent.timer = asyncio.get_running_loop().create_task(_run_timer(self.hub, agent))


def _prediction_fields(coaching: Coaching) -> dict[str, Any]:
    data = coaching.prediction.to_dict()
    return {"text": data["text"], "intents": data["intents"], "evidence": data["evidence"]}


async def _run_timer(hub: Hub, agent: AgentState) -> None:
    """Sleep until the agent's next warning/breach is due, push it, repeat.

    About once a minute it also drops conversations idle for ``forget_idle_s``, so a service
    running all day keeps only the conversations that can still need a reminder.
    """
    swept = time.time()
    while True:
        if time.time() - swept >= 60.0:
            swept = time.time()
            agent.engine.forget_idle(swept, hub.settings.forget_idle_s)
        alarm = agent.engine.next_alarm()
        agent.wake.clear()
        delay = 60.0 if alarm is None else max(0.0, alarm - time.time())
        try:
            await asyncio.wait_for(agent.wake.wait(), timeout=delay)
            continue  # an event changed the rounds: recompute the alarm
        except TimeoutError:
            pass
        for finding in agent.engine.tick(time.time()):
            if isinstance(finding, SlaWarning):
                frame: dict[str, Any] = {"type": "sla_warning", "conversation_id": finding.conversation_id,
                                         "seconds_left": round(finding.seconds_left, 3), "deadline": finding.deadline}
            elif isinstance(finding, SlaBreach):
                frame = {"type": "sla_breach", "conversation_id": finding.conversation_id,
                         "overdue_s": round(finding.overdue_s, 3), "deadline": finding.deadline}
            else:
                continue
            await hub.push(agent, frame)
            hub.record(finding.conversation_id, f"{frame['type']}:{finding.deadline}", frame["type"],
                       agent.agent_id, time.time(), None, frame)
