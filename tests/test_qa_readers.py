"""Transcript readers: every format, broken rows reported with file:line and skipped."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.qa.chat_text import RoleRules
from assistant.qa.grouping import Grouper
from assistant.qa.messages import Message, Problem, parse_ts
from assistant.qa.readers import (
    ReadOptions,
    detect_format,
    messages_from_events,
    parse_column_map,
    read_transcript,
)

DATA = Path(__file__).parent / "data" / "qa"


def read(name: str, **options: object) -> tuple[list[Message], list[Problem]]:
    with (DATA / name).open("rb") as handle:
        items = list(read_transcript(handle, name, ReadOptions(**options)))  # type: ignore[arg-type]
    return [i for i in items if isinstance(i, Message)], [i for i in items if isinstance(i, Problem)]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# ----------------------------------------------------------------------------- timestamps
@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-05-01 10:00:00", "2024-05-01T10:00:00+08:00"),           # naive → Asia/Shanghai
    ("2024-05-01T10:00:00+08:00", "2024-05-01T10:00:00+08:00"),
    ("2024-05-01T02:00:00Z", "2024-05-01T10:00:00+08:00"),           # zone honoured
    ("2024-05-01T04:00:00+02:00", "2024-05-01T10:00:00+08:00"),
    ("2024/05/01 10:00:00", "2024-05-01T10:00:00+08:00"),
    (1714528800, "2024-05-01T10:00:00+08:00"),                       # Unix seconds
    (1714528800000, "2024-05-01T10:00:00+08:00"),                    # Unix milliseconds
    ("1714528800", "2024-05-01T10:00:00+08:00"),
])
def test_timestamps(raw: object, expected: str) -> None:
    assert parse_ts(raw) == ts(expected)


def test_naive_timestamp_follows_the_given_zone() -> None:
    assert parse_ts("2024-05-01 10:00:00", "UTC") == datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("raw", ["yesterday", "", "2024-13-01 10:00:00", True, None, -5, [1]])
def test_bad_timestamps_raise_value_error(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_ts(raw)


# ----------------------------------------------------------------------------- JSONL
def test_jsonl_cases_read_cleanly() -> None:
    messages, problems = read("cases.jsonl")
    assert problems == [] and len(messages) == 31
    auto = next(m for m in messages if m.auto)
    assert (auto.where, auto.role, auto.agent_id) == ("cases.jsonl:27", "agent", "小丽")
    system = next(m for m in messages if m.role == "system")
    assert system.ts == ts("2024-05-01T12:00:05+08:00")  # written in UTC ("Z") in the file


def test_jsonl_broken_rows_are_reported_with_file_and_line() -> None:
    messages, problems = read("broken.jsonl")
    assert [m.where for m in messages] == ["broken.jsonl:1", "broken.jsonl:9"]
    assert messages[1].role == "agent"  # 客服 accepted as a role
    where = {p.where: p.message for p in problems}
    assert list(where) == [f"broken.jsonl:{n}" for n in (2, 3, 4, 5, 6, 7, 8, 11)]
    assert "JSON" in where["broken.jsonl:2"]
    assert "utf-8" in where["broken.jsonl:3"] and "--encoding gbk" in where["broken.jsonl:3"]
    assert "text, ts" in where["broken.jsonl:4"]
    assert "2024-05-01 25:61:00" in where["broken.jsonl:5"]
    assert "yesterday" in where["broken.jsonl:6"]
    assert "JSON 对象" in where["broken.jsonl:7"]
    assert "agent_id" in where["broken.jsonl:8"]
    assert "shopkeeper" in where["broken.jsonl:11"]
    assert all(p.level == "error" for p in problems)


def test_message_id_from_the_record_when_given() -> None:
    line = b'{"conversation_id": 7, "role": "buyer", "text": "hi", "ts": 1714528800, "message_id": "m9"}\n'
    [message] = list(read_transcript(io.BufferedReader(io.BytesIO(line)), "x.jsonl"))
    assert isinstance(message, Message)
    assert (message.conversation_id, message.message_id, message.where) == ("7", "m9", "x.jsonl:1")


# ----------------------------------------------------------------------------- CSV
def test_csv_with_chinese_headers_and_roles() -> None:
    messages, problems = read("cases.csv")
    assert problems == []
    assert [(m.where, m.role, m.auto) for m in messages] == [
        ("cases.csv:2", "buyer", False), ("cases.csv:3", "agent", False), ("cases.csv:4", "system", False),
        ("cases.csv:5", "buyer", False), ("cases.csv:6", "agent", False), ("cases.csv:8", "buyer", False),
        ("cases.csv:9", "agent", True), ("cases.csv:10", "agent", False)]
    assert messages[4].text == "好的亲，感谢您的支持，\n有问题随时找我哦"  # quoted field over two lines
    assert messages[3].ts == ts("2024-05-01T10:00:40+08:00")  # 2024/05/01 accepted


def test_csv_column_map() -> None:
    mapping = parse_column_map(["conversation_id=对话编号,role=发送者身份", "agent_id=坐席，text=消息,ts=发送时间,auto=是否自动"])
    messages, problems = read("mapped.csv", column_map=mapping)
    assert problems == []
    assert [(m.conversation_id, m.role, m.agent_id, m.auto) for m in messages] == [
        ("m-1", "buyer", "", False), ("m-1", "agent", "阿强", False)]


def test_csv_without_the_needed_columns_is_one_problem() -> None:
    messages, problems = read("mapped.csv")
    assert messages == []
    assert len(problems) == 1 and problems[0].where == "mapped.csv:1"
    assert "conversation_id" in problems[0].message and "--map" in problems[0].message


@pytest.mark.parametrize("spec", ["conversation_id", "colour=颜色", "=x"])
def test_bad_column_map(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_column_map(spec)


def test_csv_broken_rows() -> None:
    messages, problems = read("broken.csv")
    assert [m.where for m in messages] == ["broken.csv:2", "broken.csv:7"]
    assert [p.where for p in problems] == ["broken.csv:3", "broken.csv:4", "broken.csv:5", "broken.csv:6"]
    assert "not-a-time" in problems[0].message
    assert "店主" in problems[1].message
    assert "role" in problems[2].message
    assert "utf-8" in problems[3].message


def test_csv_in_gbk() -> None:
    text = "会话ID,角色,客服,内容,时间\ng-1,买家,,在吗,2024-05-01 10:00:00\n"
    data = text.encode("gbk")
    broken = list(read_transcript(io.BufferedReader(io.BytesIO(data)), "g.csv"))
    assert isinstance(broken[0], Problem) and "gbk" in broken[0].message
    items = list(read_transcript(io.BufferedReader(io.BytesIO(data)), "g.csv", ReadOptions(encoding="gbk")))
    assert [type(i) for i in items] == [Message] and items[0].text == "在吗"  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- plain-text export
def test_chat_text_export() -> None:
    messages, problems = read("chat_export.txt", agents=("阿强",))
    assert problems == []
    assert [(m.conversation_id, m.where, m.role, m.agent_id, m.auto) for m in messages] == [
        ("t-1", "chat_export.txt:2", "buyer", "", False),
        ("t-1", "chat_export.txt:4", "agent", "优品旗舰店:小美", True),
        ("t-1", "chat_export.txt:6", "agent", "优品旗舰店:小美", False),
        ("t-1", "chat_export.txt:8", "buyer", "", False),
        ("t-1", "chat_export.txt:11", "agent", "阿强", False),
        ("t-2", "chat_export.txt:14", "system", "", False),
        ("t-2", "chat_export.txt:16", "buyer", "", False),
        ("t-2", "chat_export.txt:18", "agent", "客服小丽", False)]
    assert messages[3].text == "收到的杯子碎了\n能补发吗"


def test_chat_text_without_agents_option_treats_unknown_nicknames_as_buyers() -> None:
    messages, _ = read("chat_export.txt")
    assert next(m for m in messages if m.where == "chat_export.txt:11").role == "buyer"


def test_chat_text_broken_lines() -> None:
    messages, problems = read("broken.txt")
    assert [(p.where, "消息头" in p.message or "utf-8" in p.message) for p in problems] == [
        ("broken.txt:1", True), ("broken.txt:4", True), ("broken.txt:8", True)]
    assert [(m.conversation_id, m.where, m.role) for m in messages] == [
        ("broken", "broken.txt:2", "buyer"), ("broken", "broken.txt:6", "agent")]
    assert messages[1].text == "亲，您好\n感谢您的光临"  # the undecodable line alone is dropped


def test_role_rules() -> None:
    rules = RoleRules(["小美", "优品*"])
    assert [rules.role(n) for n in ("小美", "优品旗舰店", "店铺:阿强", "客服小丽", "系统", "买家小王")] == [
        "agent", "agent", "agent", "agent", "system", "buyer"]


# ----------------------------------------------------------------------------- detection and events
@pytest.mark.parametrize(("name", "head", "fmt"), [
    ("a.jsonl", b"", "jsonl"), ("a.csv", b"", "csv"), ("a.txt", b"", "text"), ("a", b'{"a": 1}', "jsonl"),
    ("a", "会话ID,角色\n".encode(), "csv"), ("a", "买家 2024-05-01 10:00:00\n".encode(), "text"),
])
def test_detect_format(name: str, head: bytes, fmt: str) -> None:
    assert detect_format(name, head) == fmt


def test_messages_from_stored_events() -> None:
    rows = [
        {"id": 1, "conversation_id": "s-1", "message_id": "b1", "kind": "buyer_message", "agent_id": "小美",
         "ts": 1714528800.0, "text": "在吗", "data": {}},
        {"id": 2, "conversation_id": "s-1", "message_id": "d1", "kind": "draft", "agent_id": "小美",
         "ts": 1714528801.0, "text": "亲", "data": {}},
        {"id": 3, "conversation_id": "s-1", "message_id": "a1", "kind": "agent_reply", "agent_id": "小美",
         "ts": 1714528802.0, "text": "您好，欢迎光临", "data": {"auto": True}},
        {"id": 4, "conversation_id": "s-1", "message_id": "a2", "kind": "agent_reply", "agent_id": "小美",
         "ts": "2024-05-01", "text": "亲，在的", "data": "{}"},
        {"id": 5, "conversation_id": "s-1", "message_id": "a3", "kind": "agent_reply", "agent_id": "小美",
         "ts": 1714528810, "text": "亲，在的，感谢您", "data": "{}"},
    ]
    items = list(messages_from_events(rows))
    assert [(type(i).__name__, i.where) for i in items] == [
        ("Message", "events:1"), ("Message", "events:3"), ("Problem", "events:4"), ("Message", "events:5")]
    buyer, auto, _problem, reply = items
    assert isinstance(auto, Message) and auto.auto and auto.message_id == "a1"
    assert isinstance(reply, Message) and (reply.role, reply.message_id, reply.ts) == ("agent", "a3", 1714528810.0)


# ----------------------------------------------------------------------------- ordering
def test_out_of_order_messages_are_sorted_with_a_warning() -> None:
    messages, problems = read("out_of_order.jsonl")
    assert problems == []
    grouper = Grouper(streaming=False)
    for message in messages:
        grouper.add(message)
    [conversation] = grouper.finish()
    assert [m.where for m in conversation.messages] == [
        "out_of_order.jsonl:2", "out_of_order.jsonl:1", "out_of_order.jsonl:3", "out_of_order.jsonl:4"]
    assert [(w.where, w.level) for w in conversation.warnings] == [("out_of_order.jsonl:2", "warning")]
