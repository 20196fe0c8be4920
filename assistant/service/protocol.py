"""Every ``/ws/agent`` frame as a typed model, and the parsing that turns bad frames into errors.

``docs/protocol.md`` says the same in prose; ``tests/test_docs.py`` checks that every frame
type named here is documented there.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["CLIENT_FRAMES", "SERVER_FRAMES", "ProtocolError", "parse_client_frame", "error_frame"]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class Hello(_Frame):
    token: str
    agent_id: str = Field(min_length=1, max_length=100)
    last_seq: int | None = None


class BuyerMessage(_Frame):
    conversation_id: str = Field(min_length=1, max_length=200)
    message_id: str = Field(min_length=1, max_length=200)
    text: str = Field(max_length=10_000)
    ts: float | None = None
    buyer_name: str | None = Field(default=None, max_length=100)
    variables: dict[str, str] = Field(default_factory=dict)


class Draft(_Frame):
    conversation_id: str = Field(min_length=1, max_length=200)
    text: str = Field(max_length=10_000)
    draft_id: str | None = None


class AgentReply(_Frame):
    conversation_id: str = Field(min_length=1, max_length=200)
    message_id: str = Field(min_length=1, max_length=200)
    text: str = Field(max_length=10_000)
    ts: float | None = None
    template_id: str | None = None
    auto: bool = False


class Feedback(_Frame):
    message_id: str = Field(min_length=1, max_length=200)
    intent: str = Field(min_length=1, max_length=50)
    conversation_id: str | None = None


class SuggestionUsed(_Frame):
    message_id: str = Field(min_length=1, max_length=200)
    template_id: str = Field(min_length=1, max_length=200)
    conversation_id: str | None = None


class CloseConversation(_Frame):
    conversation_id: str = Field(min_length=1, max_length=200)


class Ping(_Frame):
    pass


CLIENT_FRAMES: dict[str, type[_Frame]] = {
    "hello": Hello,
    "buyer_message": BuyerMessage,
    "draft": Draft,
    "agent_reply": AgentReply,
    "feedback": Feedback,
    "suggestion_used": SuggestionUsed,
    "close_conversation": CloseConversation,
    "ping": Ping,
}

#: Frame types the server sends (their fields are built in ``session.py``).
SERVER_FRAMES = (
    "welcome", "coaching", "draft_check", "reply_recorded", "sla_warning", "sla_breach",
    "phrasebook_updated", "conversation_closed", "ack", "pong", "error",
)


class ProtocolError(Exception):
    """A frame the server cannot act on; becomes an ``error`` frame, the connection stays open."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.ref = code, message, ref


def error_frame(code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return frame


def parse_client_frame(raw: str) -> tuple[str, _Frame]:
    """(type, model) of a client frame, or ``ProtocolError`` saying exactly what is wrong."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"帧不是有效的 JSON / not JSON: {exc.msg} at char {exc.pos}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("bad_json", f"帧必须是 JSON 对象 / frame must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    model = CLIENT_FRAMES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ProtocolError(
            "unknown_type",
            f"未知的帧类型 {kind!r} / unknown frame type {kind!r} (expected one of: {', '.join(CLIENT_FRAMES)})",
            ref=str(kind) if kind is not None else None,
        )
    try:
        return str(kind), model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(frame)"
        raise ProtocolError("bad_frame", f"{kind}: 字段 {field} {first['msg']} / field {field}: {first['msg']}",
                            ref=data.get("message_id") or kind) from exc
