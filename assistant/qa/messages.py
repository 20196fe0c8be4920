"""What every transcript reader produces: a ``Message`` per chat line, or a ``Problem`` per bad one.

Readers never raise on bad input: a row that cannot be used becomes a ``Problem`` naming
``file:line`` and why, and the run goes on.  Timestamps become Unix seconds (float); an ISO 8601
timestamp without a UTC offset is taken in the replay's time zone (``Asia/Shanghai`` unless told
otherwise), because that is how Chinese shop consoles export them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "Message", "Problem", "Role", "ROLES", "ROLE_ALIASES", "DEFAULT_TZ", "parse_ts", "parse_role",
    "parse_bool", "zone",
]

Role = Literal["buyer", "agent", "system"]
ROLES: tuple[Role, ...] = ("buyer", "agent", "system")
DEFAULT_TZ = "Asia/Shanghai"

#: Accepted spellings of a role (after ``strip().lower()``) → (role, auto-reply?).
ROLE_ALIASES: dict[str, tuple[Role, bool]] = {
    "buyer": ("buyer", False), "customer": ("buyer", False), "买家": ("buyer", False), "顾客": ("buyer", False),
    "客户": ("buyer", False),
    "agent": ("agent", False), "seller": ("agent", False), "客服": ("agent", False), "卖家": ("agent", False),
    "auto": ("agent", True), "auto_reply": ("agent", True), "bot": ("agent", True), "自动回复": ("agent", True),
    "机器人": ("agent", True),
    "system": ("system", False), "系统": ("system", False), "系统消息": ("system", False),
}

_TRUE = frozenset({"1", "true", "yes", "y", "是", "对", "t"})
_FALSE = frozenset({"", "0", "false", "no", "n", "否", "f", "none", "null"})


@dataclass(slots=True)
class Message:
    """One chat message, whatever file it came from.

    ``where`` is ``file:line`` (or ``events:<id>``) for reports; ``message_id`` is the
    transcript's own id if it has one, else ``where``.  ``auto`` marks an auto-reply or bot
    message: it is shown but does not end the buyer's wait (unless the shop counts them).
    ``seq`` is the input order, used to keep equal timestamps in the order they were written.
    """

    conversation_id: str
    role: Role
    agent_id: str
    text: str
    ts: float
    message_id: str
    where: str
    auto: bool = False
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Problem:
    """A row that was skipped (``error``) or accepted with a caveat (``warning``)."""

    where: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "level": self.level, "message": self.message}


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_ts(value: object, tz: str = DEFAULT_TZ) -> float:
    """Unix seconds from an ISO 8601 string (naive → ``tz``) or a Unix number (s, or ms if huge).

    ``2024-05-01 10:00:00``, ``2024-05-01T10:00:00+08:00``, ``2024-05-01T02:00:00Z`` and
    ``2024/05/01 10:00:00`` are all accepted.  Raises ``ValueError`` with a readable reason.
    """
    if isinstance(value, bool):
        raise ValueError(f"时间不能是布尔值 / timestamp is a boolean: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"时间不是有效的 Unix 秒数 / not a Unix time: {value!r}")
        return number / 1000.0 if number > 1e11 else number
    if not isinstance(value, str):
        raise ValueError(f"时间应为 ISO 8601 字符串 / timestamp must be an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValueError("时间为空 / empty timestamp")
    if text[0].isdigit() and text.replace(".", "", 1).isdigit() and len(text) >= 9 and "-" not in text:
        return parse_ts(float(text), tz)
    if "/" in text[:10]:
        text = text.replace("/", "-", 2)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"无法识别的时间 / not an ISO 8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    return moment.timestamp()


def parse_role(value: object) -> tuple[Role, bool]:
    """(role, auto) from ``buyer|agent|system`` or 买家/客服/系统/自动回复; ``ValueError`` otherwise."""
    key = str(value).strip().lower() if value is not None else ""
    found = ROLE_ALIASES.get(key)
    if found is None:
        raise ValueError(f"未知角色 {value!r}（应为 buyer/agent/system 或 买家/客服/系统）/ unknown role")
    return found


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    key = str(value).strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"不是布尔值 / not a boolean: {value!r}")
