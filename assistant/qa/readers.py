"""Transcript readers: canonical JSONL, CSV with a column map, and the live service's stored events.

Each reader takes a binary stream and the name to report, and yields ``Message`` or ``Problem``
items in file order — never raises on bad content.  The plain-text chat export lives in
``chat_text.py``; ``read_transcript`` picks the reader from the file name or content.

Canonical JSONL, one message per line::

    {"conversation_id": "c1", "role": "buyer", "agent_id": "小美", "text": "在吗", "ts": "2024-05-01T10:00:00+08:00"}

``role`` is ``buyer|agent|system`` (买家/客服/系统/自动回复 accepted); optional ``message_id``
(or ``id``) and ``auto`` (true for an auto-reply).  ``ts`` is ISO 8601 (naive = the replay's
time zone) or Unix seconds.  An agent message needs a non-empty ``agent_id``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, BinaryIO

from .messages import DEFAULT_TZ, Message, Problem, parse_bool, parse_role, parse_ts

__all__ = [
    "ReadOptions", "Item", "read_jsonl", "read_csv", "messages_from_events", "read_transcript",
    "detect_format", "parse_column_map", "FIELDS", "REQUIRED_FIELDS", "CSV_ALIASES", "FORMATS",
]

Item = Message | Problem
FIELDS = ("conversation_id", "role", "agent_id", "text", "ts", "message_id", "auto")
REQUIRED_FIELDS = ("conversation_id", "role", "text", "ts")
FORMATS = ("auto", "jsonl", "csv", "text")

#: Column names recognised without ``--map`` (first match wins), besides the canonical ones.
CSV_ALIASES: dict[str, tuple[str, ...]] = {
    "conversation_id": ("会话ID", "会话id", "会话编号", "会话", "对话ID"),
    "role": ("角色", "发送方", "身份"),
    "agent_id": ("客服", "客服ID", "客服账号", "客服昵称", "接待客服"),
    "text": ("内容", "消息内容", "消息", "聊天内容"),
    "ts": ("时间", "发送时间", "消息时间", "timestamp", "time"),
    "message_id": ("消息ID", "消息id", "id"),
    "auto": ("自动回复", "is_auto"),
}


@dataclass(frozen=True)
class ReadOptions:
    """How to read transcripts: format, CSV column map, text-export agents, encoding, time zone."""

    fmt: str = "auto"
    column_map: Mapping[str, str] | None = None
    agents: tuple[str, ...] = ()
    encoding: str = "utf-8"
    tz: str = DEFAULT_TZ


# --------------------------------------------------------------------------- shared row checks
def _message_from_record(record: Mapping[str, Any], where: str, tz: str, seq: int) -> Item:
    """Validate one canonical record (JSONL object, CSV row or stored event) into a Message."""
    missing = [f for f in REQUIRED_FIELDS if record.get(f) is None or (f != "text" and record.get(f) == "")]
    if missing:
        return Problem(where, f"缺少字段 {', '.join(missing)} / missing field(s): {', '.join(missing)}")
    try:
        role, auto = parse_role(record["role"])
        ts = parse_ts(record["ts"], tz)
        if "auto" in record and record["auto"] not in (None, ""):
            auto = auto or parse_bool(record["auto"])
    except ValueError as exc:
        return Problem(where, str(exc))
    text = record["text"]
    if not isinstance(text, str):
        return Problem(where, f"text 应为字符串 / text must be a string, got {type(text).__name__}")
    conversation_id = record["conversation_id"]
    if not isinstance(conversation_id, str | int) or isinstance(conversation_id, bool):
        return Problem(where, "conversation_id 应为字符串 / conversation_id must be a string")
    agent_id = record.get("agent_id")
    agent_id = "" if agent_id is None else str(agent_id).strip()
    if role == "agent" and not agent_id:
        return Problem(where, "客服消息缺少 agent_id / agent message without agent_id")
    message_id = record.get("message_id")
    if message_id is None or message_id == "":
        message_id = record.get("id")
    message_id = where if message_id is None or message_id == "" else str(message_id)
    return Message(str(conversation_id).strip(), role, agent_id, text, ts, message_id, where, auto, seq)


def _decode(raw: bytes, where: str, encoding: str) -> str | Problem:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        hint = "（若为 GBK 导出请加 --encoding gbk）" if encoding.replace("-", "").lower() in ("utf8", "utf8sig") else ""
        return Problem(where, f"不是有效的 {encoding} 文本（第 {exc.start + 1} 字节）{hint} / invalid {encoding} at byte {exc.start + 1}")
    except LookupError:
        return Problem(where, f"未知编码 / unknown encoding {encoding!r}")


# --------------------------------------------------------------------------- JSONL
def read_jsonl(stream: BinaryIO, name: str, tz: str = DEFAULT_TZ, encoding: str = "utf-8") -> Iterator[Item]:
    """Canonical JSONL: one JSON object per line; blank lines are ignored."""
    loads = json.loads
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        where = f"{name}:{number}"
        text = _decode(raw, where, encoding)
        if isinstance(text, Problem):
            yield text
            continue
        try:
            record = loads(text)
        except json.JSONDecodeError as exc:
            yield Problem(where, f"不是有效的 JSON（第 {exc.colno} 列：{exc.msg}）/ bad JSON at column {exc.colno}: {exc.msg}")
            continue
        if not isinstance(record, dict):
            yield Problem(where, f"每行应是一个 JSON 对象 / expected a JSON object, got {type(record).__name__}")
            continue
        yield _message_from_record(record, where, tz, number)


# --------------------------------------------------------------------------- CSV
def parse_column_map(spec: str | Iterable[str] | None) -> dict[str, str]:
    """``conversation_id=会话ID,role=角色`` (or several such strings) → {field: column}."""
    if spec is None:
        return {}
    parts: list[str] = []
    for chunk in [spec] if isinstance(spec, str) else list(spec):
        parts.extend(p for p in chunk.replace("，", ",").split(",") if p.strip())
    mapping: dict[str, str] = {}
    for part in parts:
        field, sep, column = part.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise ValueError(f"--map 项应写成 字段=列名，不是 {part!r} / expected field=column")
        if field not in FIELDS:
            raise ValueError(f"--map 未知字段 {field!r}（可用：{', '.join(FIELDS)}）/ unknown field")
        mapping[field] = column
    return mapping


def _resolve_columns(header: list[str], column_map: Mapping[str, str]) -> tuple[dict[str, int], list[str]]:
    """{field: column index} and the required fields that have no column."""
    positions = {name.strip(): i for i, name in reversed(list(enumerate(header)))}
    found: dict[str, int] = {}
    for field in FIELDS:
        candidates = [column_map[field]] if field in column_map else [field, *CSV_ALIASES.get(field, ())]
        for candidate in candidates:
            if candidate in positions:
                found[field] = positions[candidate]
                break
    missing = [f for f in REQUIRED_FIELDS if f not in found]
    return found, missing


def read_csv(stream: BinaryIO, name: str, column_map: Mapping[str, str] | None = None, tz: str = DEFAULT_TZ,
             encoding: str = "utf-8", delimiter: str | None = None) -> Iterator[Item]:
    """CSV (or TSV) with a header row; columns found by ``column_map``, canonical names or aliases."""
    column_map = column_map or {}
    problems: list[Problem] = []
    state: dict[str, int | None] = {"line": 0, "start": None}  # last line read; first line of this record

    def lines() -> Iterator[str]:
        for number, raw in enumerate(stream, start=1):
            state["line"] = number
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            text = _decode(raw, f"{name}:{number}", encoding)
            if isinstance(text, Problem):
                problems.append(text)
                continue
            if state["start"] is None:
                state["start"] = number
            yield text

    if delimiter is None:
        delimiter = "\t" if name.lower().endswith(".tsv") else ","
    reader = csv.reader(lines(), delimiter=delimiter)
    header: list[str] | None = None
    columns: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield from problems
            problems.clear()
            yield Problem(f"{name}:{state['start'] or state['line']}", f"CSV 格式错误 / bad CSV: {exc}")
            state["start"] = None
            continue
        yield from problems
        problems.clear()
        line = state["start"] or state["line"] or 1
        where = f"{name}:{line}"
        state["start"] = None
        if header is None:
            header = row
            columns, missing = _resolve_columns(header, column_map)
            if missing:
                wanted = ", ".join(f"{f}={column_map.get(f, f)}" for f in missing)
                yield Problem(where, f"表头缺少必需的列 {wanted}；用 --map 字段=列名 指定 / header lacks columns: {wanted}")
                return
            continue
        if not any(cell.strip() for cell in row):
            continue
        record = {field: (row[i] if i < len(row) else None) for field, i in columns.items()}
        yield _message_from_record(record, where, tz, line)
    yield from problems
    if header is None:
        yield Problem(f"{name}:1", "文件是空的，没有表头 / empty CSV, no header row")


# --------------------------------------------------------------------------- stored events
def messages_from_events(rows: Iterable[Mapping[str, Any]], name: str = "events") -> Iterator[Item]:
    """Messages from the live service's stored events.

    A row is ``{conversation_id, kind, agent_id, ts (Unix s), text, data}`` (``message_id`` and
    ``id`` used when present).  ``buyer_message`` → buyer, ``agent_reply`` → agent (``data.auto``
    marks an auto-reply); other kinds (drafts, closes) are not messages and are passed over.
    """
    kinds = {"buyer_message": "buyer", "agent_reply": "agent"}
    for index, row in enumerate(rows, start=1):
        row_id = row.get("id", index) if isinstance(row, Mapping) else index
        where = f"{name}:{row_id}"
        if not isinstance(row, Mapping):
            yield Problem(where, "事件应是一个映射 / event row is not a mapping")
            continue
        kind = row.get("kind")
        if kind not in kinds:
            continue
        data = row.get("data") or {}
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError:
                data = {}
        if not isinstance(data, Mapping):
            data = {}
        ts = row.get("ts")
        if isinstance(ts, str) or isinstance(ts, bool) or not isinstance(ts, int | float):
            yield Problem(where, f"事件的 ts 应为 Unix 秒数 / event ts must be Unix seconds, got {ts!r}")
            continue
        record = {
            "conversation_id": row.get("conversation_id"),
            "role": kinds[kind],
            "agent_id": row.get("agent_id") or data.get("agent_id"),
            "text": row.get("text") if row.get("text") is not None else data.get("text"),
            "ts": ts,
            "message_id": row.get("message_id") or data.get("message_id") or None,
            "auto": bool(data.get("auto") or row.get("auto")),
        }
        yield _message_from_record(record, where, DEFAULT_TZ, index)


# --------------------------------------------------------------------------- dispatch
def detect_format(name: str, head: bytes) -> str:
    """``jsonl``, ``csv`` or ``text`` from the extension, else from the first bytes."""
    suffix = PurePath(name).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".txt", ".log"):
        return "text"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "jsonl"
    first = stripped.split(b"\n", 1)[0]
    if b"," in first and (b"conversation_id" in first or "会话".encode() in first):
        return "csv"
    return "text"


def read_transcript(stream: BinaryIO, name: str, options: ReadOptions | None = None) -> Iterator[Item]:
    """Read one transcript file in the format named by ``options.fmt`` (``auto``: detect)."""
    options = options or ReadOptions()
    fmt = options.fmt
    if fmt not in FORMATS:
        yield Problem(name, f"未知格式 {fmt!r}（可用：{', '.join(FORMATS)}）/ unknown format")
        return
    if fmt == "auto":
        peek = getattr(stream, "peek", None)
        head = peek(4096)[:4096] if peek is not None else b""
        fmt = detect_format(name, head)
    if fmt == "jsonl":
        yield from read_jsonl(stream, name, options.tz, options.encoding)
    elif fmt == "csv":
        yield from read_csv(stream, name, options.column_map, options.tz, options.encoding)
    else:
        from .chat_text import read_chat_text

        yield from read_chat_text(stream, name, options.agents, options.tz, options.encoding)
