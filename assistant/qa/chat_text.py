"""The plain-text chat export (千牛/旺旺 聊天记录): a header line per message, then its text.

::

    === 会话 c1001 ===                  ← optional: starts a conversation with this id
    买家小王 2024-05-01 10:00:00          ← header: nickname, a space, the time
    在吗？                                ← message text (one or more lines)
    优品旗舰店:小美 2024-05-01 10:00:20
    亲，在的，请问有什么可以帮您？

Without a ``=== 会话 ID ===`` line the whole file is one conversation whose id is the file name
without its extension.  The time is ``YYYY-MM-DD HH:MM[:SS]`` (``/`` also accepted), taken in
the replay's time zone.

Who is who (the export does not say), in this order:

1. ``--agents`` lists agent nicknames; an entry ending in ``*`` is a prefix
   (``优品旗舰店*`` matches every sub-account of the shop);
2. a nickname with a colon (``店铺:客服``, the Taobao sub-account form) or starting with
   ``客服`` is an agent;
3. ``系统``, ``系统消息``, ``系统提示`` are system messages;
4. everyone else is the buyer.

A message whose text starts with ``[自动回复]``, ``【自动回复】`` or ``(自动回复)`` is an
auto-reply: shown, but it does not end the buyer's wait.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import PurePath
from typing import BinaryIO

from .messages import DEFAULT_TZ, Message, Problem, Role, parse_ts

__all__ = ["read_chat_text", "RoleRules", "HEADER_RE", "SEPARATOR_RE", "AUTO_MARKERS"]

HEADER_RE = re.compile(
    r"^(?P<nick>\S.*?)[ \t\u3000]+(?P<ts>\d{4}[-/]\d{1,2}[-/]\d{1,2}[ T]\d{1,2}:\d{2}(?::\d{2})?)\s*$"
)
SEPARATOR_RE = re.compile(r"^\s*[=\-]{3,}\s*(?:会话|對話|对话|conversation)\s*[:：]?\s*(?P<id>\S+?)\s*[=\-]{3,}\s*$",
                          re.IGNORECASE)
AUTO_MARKERS = ("[自动回复]", "【自动回复】", "(自动回复)", "（自动回复）")
SYSTEM_NICKS = frozenset({"系统", "系统消息", "系统提示", "system"})


class RoleRules:
    """Decides a nickname's role, as documented in the module docstring."""

    def __init__(self, agents: Sequence[str] = ()) -> None:
        cleaned = [a.strip() for a in agents if a.strip()]
        self.names = frozenset(a for a in cleaned if not a.endswith("*"))
        self.prefixes = tuple(a[:-1] for a in cleaned if a.endswith("*") and len(a) > 1)

    def role(self, nick: str) -> Role:
        if nick in self.names or (self.prefixes and nick.startswith(self.prefixes)):
            return "agent"
        if nick.lower() in SYSTEM_NICKS:
            return "system"
        if ":" in nick or "：" in nick or nick.startswith("客服"):
            return "agent"
        return "buyer"


def _normalise_ts(raw: str) -> str:
    date, _, clock = raw.replace("/", "-").replace("T", " ").partition(" ")
    year, month, day = date.split("-")
    parts = clock.split(":")
    hour, minute = parts[0], parts[1]
    second = parts[2] if len(parts) > 2 else "00"
    return f"{year}-{int(month):02d}-{int(day):02d}T{int(hour):02d}:{minute}:{second}"


def read_chat_text(stream: BinaryIO, name: str, agents: Sequence[str] = (), tz: str = DEFAULT_TZ,
                   encoding: str = "utf-8") -> Iterator[Message | Problem]:
    """Messages of a plain-text chat export; bad lines become Problems with ``file:line``."""
    rules = RoleRules(agents)
    conversation_id = PurePath(name).stem or name
    # The message being collected: (nick, ts, header line), its text lines.
    header: tuple[str, float, int] | None = None
    body: list[str] = []
    skipping = False  # after a bad header, its text lines are skipped with it

    def flush() -> Iterator[Message | Problem]:
        if header is None:
            return
        nick, ts, line = header
        text = "\n".join(body).strip("\n")
        where = f"{name}:{line}"
        role = rules.role(nick)
        auto = role == "agent" and text.lstrip().startswith(AUTO_MARKERS)
        yield Message(conversation_id, role, nick if role == "agent" else "", text, ts, where, where, auto, line)

    for number, raw in enumerate(stream, start=1):
        where = f"{name}:{number}"
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode(encoding).rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield Problem(where, f"不是有效的 {encoding} 文本（第 {exc.start + 1} 字节），该行已跳过"
                                 f" / invalid {encoding} at byte {exc.start + 1}, line skipped")
            continue
        except LookupError:
            yield Problem(where, f"未知编码 / unknown encoding {encoding!r}")
            return
        separator = SEPARATOR_RE.match(line)
        if separator:
            yield from flush()
            header, body, skipping = None, [], False
            conversation_id = separator.group("id")
            continue
        match = HEADER_RE.match(line)
        if match:
            yield from flush()
            body = []
            try:
                ts = parse_ts(_normalise_ts(match.group("ts")), tz)
            except (ValueError, IndexError):
                header, skipping = None, True
                yield Problem(where, f"消息头的时间无效 / bad time in header: {match.group('ts')!r}")
                continue
            header, skipping = (match.group("nick").strip(), ts, number), False
            continue
        if header is None:
            if line.strip() and not skipping:
                yield Problem(where, "这行文字前面没有“昵称 时间”消息头，已跳过 / text before any message header")
            continue
        body.append(line)
    yield from flush()
