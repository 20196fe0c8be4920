"""Replay pipeline: workers, streaming vs in-memory grouping, sessions, overrides, uploads, events."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from assistant.policy import CompiledPolicy
from assistant.qa.grouping import Grouper
from assistant.qa.messages import Message
from assistant.qa.readers import ReadOptions, read_transcript
from assistant.qa.render import render_html
from assistant.qa.replay import ReplayOptions, replay_bytes, replay_events, replay_files
from assistant.qa.report import OverrideError, Report, apply_overrides
from phrasebook.files import load_default

from .conftest import keyword_classify

DATA = Path(__file__).parent / "data" / "qa"
SHANGHAI = ZoneInfo("Asia/Shanghai")

BUYER = ["在吗", "这个裙子能便宜点吗", "我的快递怎么还没发货", "收到的杯子碎了", "有没有小码", "好的", "谢谢",
         "还没发货吗，催一下", "什么面料的", "能发顺丰吗"]
AGENT = ["亲，您好，请问有什么可以帮您？", "亲，这款已经是活动价了哦，感谢您的支持", "不知道",
         "亲，非常抱歉让您久等了，这边帮您查询物流，会第一时间跟进", "亲，麻烦您拍张照片，这边给您补发，感谢您",
         "亲，有的哦", "但是这个没办法", "好的亲，感谢您的支持", "加我微信吧", "嗯"]


def generate(path: Path, conversations: int, seed: int = 7, order: str = "time") -> int:
    rng = random.Random(seed)
    start = datetime(2024, 5, 1, 9, tzinfo=SHANGHAI).timestamp()
    rows = []
    for i in range(conversations):
        t = start + rng.uniform(0, 2 * 86400)
        agent = rng.choice(["小美", "小丽", "阿强"])
        for session in range(1 if rng.random() < 0.9 else 2):
            if session:
                t += 3 * 3600  # a pause longer than the session gap
            for _turn in range(rng.randint(1, 4)):
                rows.append({"conversation_id": f"g-{i}", "role": "buyer", "agent_id": agent,
                             "text": rng.choice(BUYER), "ts": t})
                t += rng.choice([1, 5, 15, 25, 45, 90, 400])
                if rng.random() < 0.9:
                    if rng.random() < 0.1:
                        rows.append({"conversation_id": f"g-{i}", "role": "agent", "agent_id": agent,
                                     "text": "您好，欢迎光临", "ts": t, "auto": True})
                        t += 3
                    rows.append({"conversation_id": f"g-{i}", "role": "agent", "agent_id": agent,
                                 "text": rng.choice(AGENT), "ts": t})
                t += rng.uniform(10, 600)
    if order == "time":
        rows.sort(key=lambda r: r["ts"])
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            row = dict(row)
            row["ts"] = datetime.fromtimestamp(row["ts"], SHANGHAI).isoformat()
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.write("{broken line\n")
    return len(rows)


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return CompiledPolicy.build(load_default())


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("qa") / "generated.jsonl"
    return path, generate(path, 400)


def test_two_workers_equal_one(policy: CompiledPolicy, generated: tuple[Path, int]) -> None:
    path, count = generated
    files = [path, DATA / "cases.jsonl", DATA / "broken.jsonl"]
    one = replay_files(files, policy, keyword_classify, ReplayOptions(workers=1, batch_messages=50))
    two = replay_files(files, policy, keyword_classify, ReplayOptions(workers=2, batch_messages=50))
    assert one.summary["messages"] == count + 31 + 2
    assert one.conversations_total > 400
    assert two.to_dict() == one.to_dict()


def test_streaming_flushes_and_agrees_with_in_memory(policy: CompiledPolicy, generated: tuple[Path, int]) -> None:
    path, count = generated
    streamed = replay_files([path], policy, keyword_classify,
                            ReplayOptions(streaming=True, min_idle_messages=100, max_idle_messages=1000))
    held = replay_files([path], policy, keyword_classify, ReplayOptions(streaming=False))
    assert held.meta["peak_buffered_messages"] == count
    assert streamed.meta["peak_buffered_messages"] < count / 2  # conversations were flushed as they closed
    assert streamed.totals() == held.totals()
    by_key = {c.key: c.to_dict() for c in held.conversations}
    assert {c.key: c.to_dict() for c in streamed.conversations} == by_key
    assert any(key.endswith("#2") for key in by_key)  # second sessions were split off
    assert streamed.problem_counts == held.problem_counts == {"error": 1}


def _messages(path: Path) -> list[Message]:
    with path.open("rb") as handle:
        return [i for i in read_transcript(handle, path.name) if isinstance(i, Message)]


@pytest.mark.parametrize("order", ["time", "conversation"])
def test_grouper_flushes_sorted_input_exactly(tmp_path: Path, order: str) -> None:
    path = tmp_path / "g.jsonl"
    generate(path, 300, seed=3, order=order)
    messages = _messages(path)

    def group(**options: object) -> tuple[dict[str, list[str]], Grouper]:
        grouper = Grouper(**options)  # type: ignore[arg-type]
        out = []
        for message in messages:
            out.extend(grouper.add(message))
        out.extend(grouper.finish())
        return {c.key: [m.where for m in c.messages] for c in out}, grouper

    exact, _ = group(streaming=False)
    flushed, grouper = group(streaming=True, min_idle_messages=50, max_idle_messages=200, sweep_every=16)
    assert flushed == exact
    assert grouper.peak_buffered < len(messages) / 3


def test_conversation_reappearing_after_flush_is_a_further_session_with_a_warning() -> None:
    def message(cid: str, ts: float, n: int) -> Message:
        return Message(cid, "buyer", "", "在吗", ts, f"m{n}", f"f:{n}")

    grouper = Grouper(streaming=True, min_idle_messages=1, max_idle_messages=3, sweep_every=1)
    out = []
    out += grouper.add(message("a", 0, 1))
    for n in range(2, 6):
        out += grouper.add(message(f"x{n}", n, n))
    out += grouper.add(message("a", 10, 6))
    out += grouper.finish()
    a = [c for c in out if c.conversation_id == "a"]
    assert [c.key for c in a] == ["a", "a#2"]
    assert a[1].warnings and a[1].warnings[0].where == "f:6"


def test_session_gap_splits_a_conversation(policy: CompiledPolicy) -> None:
    lines = [
        {"conversation_id": "s", "role": "buyer", "text": "在吗", "ts": "2024-05-01 21:00:00"},
        {"conversation_id": "s", "role": "buyer", "text": "在吗", "ts": "2024-05-02 09:00:00"},
        {"conversation_id": "s", "role": "agent", "agent_id": "小美", "text": "亲，在的，感谢您的耐心",
         "ts": "2024-05-02 09:00:10"},
    ]
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    report = replay_bytes([("s.jsonl", data)], policy, keyword_classify)
    first, second = report.conversations
    assert (first.key, second.key) == ("s", "s#2")
    assert [d.kind for d in first.deductions] == ["unanswered"]
    assert second.deductions == [] and second.first_response_s == 10.0
    one_session = replay_bytes([("s.jsonl", data)], policy, keyword_classify,
                               ReplayOptions(streaming=False, session_gap_s=86400))
    [only] = one_session.conversations
    # Night shift, 60 s limit: 43,150 s over = 1,439 thirty-second steps started = ¥7,195.
    assert only.first_response_s == 12 * 3600 + 10 and only.fines_yuan == 7195.0


def test_missing_file_does_not_stop_the_run(policy: CompiledPolicy, tmp_path: Path) -> None:
    report = replay_files([tmp_path / "nope.jsonl", DATA / "cases.jsonl"], policy, keyword_classify)
    assert report.conversations_total == 10
    assert report.problems[0].where == str(tmp_path / "nope.jsonl")
    assert [f["messages"] for f in report.meta["files"]] == [0, 31]


def test_replay_bytes_reads_uploaded_files(policy: CompiledPolicy) -> None:
    files = [(name, (DATA / name).read_bytes()) for name in ("cases.jsonl", "chat_export.txt", "broken.csv")]
    report = replay_bytes(files, policy, keyword_classify,
                          ReplayOptions(streaming=False, read=ReadOptions(agents=("阿强",))))
    keys = [c.key for c in report.conversations]
    assert keys[:10] == ["c-clean", "c-late", "c-warn", "c-block", "c-unanswered", "c-chase", "c-damage",
                         "c-nothanks", "c-auto", "c-night"]
    assert keys[10:] == ["t-1", "t-2", "b-1"]
    assert [p.where for p in report.problems] == ["broken.csv:3", "broken.csv:4", "broken.csv:5", "broken.csv:6"]
    t1 = next(c for c in report.conversations if c.key == "t-1")
    assert t1.agents == ("优品旗舰店:小美", "阿强") and t1.deductions == [] and t1.score == 100.0
    assert "<svg" in render_html(report)


def test_replay_of_stored_events(policy: CompiledPolicy) -> None:
    rows = [
        {"id": 1, "conversation_id": "live-1", "message_id": "b1", "kind": "buyer_message", "agent_id": "小美",
         "ts": 1714528800.0, "text": "在吗", "data": {}},
        {"id": 2, "conversation_id": "live-1", "message_id": "a1", "kind": "agent_reply", "agent_id": "小美",
         "ts": 1714528840.0, "text": "亲，在的，感谢您的光临", "data": {}},
    ]
    report = replay_events(rows, policy, keyword_classify)
    [conv] = report.conversations
    assert [(d.kind, d.message_id, d.fine_yuan) for d in conv.deductions] == [("late_first_response", "a1", 5.0)]


# ----------------------------------------------------------------------------- overrides
@pytest.fixture()
def cases_report(policy: CompiledPolicy) -> Report:
    return replay_files([DATA / "cases.jsonl"], policy, keyword_classify)


def _conv(report: Report, key: str):  # type: ignore[no-untyped-def]
    return next(c for c in report.conversations if c.key == key)


def test_override_dismisses_a_finding_and_updates_totals(cases_report: Report) -> None:
    finding = _conv(cases_report, "c-block").deductions[0].id
    assert finding == f"c-block|wording_block|{DATA / 'cases.jsonl'}:12|offsite.wechat@4"
    reviewed = apply_overrides(cases_report, [{"finding_id": finding, "reason": "买家主动要求，已走平台内流程",
                                               "reviewer": "质检-王", "at": "2024-05-02T09:00:00+08:00"}])
    block = _conv(reviewed, "c-block")
    assert block.score == 100.0 and not block.auto_fail
    assert block.deductions[0].override == {"reason": "买家主动要求，已走平台内流程", "reviewer": "质检-王",
                                            "at": "2024-05-02T09:00:00+08:00", "points": None}
    assert reviewed.summary["avg_score"] == 93.0 and reviewed.summary["auto_fails"] == 0
    assert cases_report.summary["avg_score"] == 83.0  # the original report is unchanged
    [record] = reviewed.overrides
    assert (record["score_before"], record["score_after"], record["kind"]) == (0.0, 100.0, "wording_block")
    # Survives JSON, and the totals recomputed from it agree.
    again = Report.from_dict(json.loads(json.dumps(reviewed.to_dict())))
    assert again.to_dict() == reviewed.to_dict()
    assert "已覆核" in render_html(reviewed)


def test_override_can_reweigh_a_finding(cases_report: Report) -> None:
    finding = _conv(cases_report, "c-unanswered").deductions[0].id
    reviewed = apply_overrides(cases_report, [{"finding_id": finding, "reason": "买家已下线", "reviewer": "质检-李",
                                               "points": 5}])
    assert _conv(reviewed, "c-unanswered").score == 95.0
    assert reviewed.summary["unanswered"] == 1  # still a violation, now costing 5 points
    assert reviewed.summary["points_lost"] == cases_report.summary["points_lost"] - 15


@pytest.mark.parametrize(("override", "message"), [
    ({"finding_id": "nope", "reason": "x", "reviewer": "y"}, "nope"),
    ({"finding_id": "c-warn|wording_warn|x", "reason": "", "reviewer": "y"}, "理由"),
    ({"reason": "x", "reviewer": "y"}, "finding_id"),
])
def test_bad_overrides_are_refused(cases_report: Report, override: dict[str, object], message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        apply_overrides(cases_report, [override])
