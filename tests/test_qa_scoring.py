"""QA scoring of hand-written transcripts with known violations (tests/data/qa/cases.jsonl).

The classifier is a small keyword function standing in for the trained model, so these
findings do not move when the model is retrained; everything else (engine, checker, policy)
is the real thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.policy import CompiledPolicy
from assistant.qa.findings import ConversationScore
from assistant.qa.replay import ReplayOptions, replay_files
from assistant.qa.report import Report
from assistant.qa.scorecard import ScorecardConfig
from phrasebook.files import load_default

from .conftest import keyword_classify

DATA = Path(__file__).parent / "data" / "qa"
CASES = DATA / "cases.jsonl"


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return CompiledPolicy.build(load_default())


@pytest.fixture(scope="module")
def report(policy: CompiledPolicy) -> Report:
    return replay_files([CASES], policy, keyword_classify, ReplayOptions())


def conv(report: Report, key: str) -> ConversationScore:
    return next(c for c in report.conversations if c.key == key)


def findings(c: ConversationScore) -> list[tuple[str, str, float, float, str]]:
    return [(d.kind, d.rule, d.points, d.fine_yuan, d.where.rsplit(":", 1)[1]) for d in c.deductions]


def test_every_case_is_scored_once(report: Report) -> None:
    assert [c.key for c in report.conversations] == [
        "c-clean", "c-late", "c-warn", "c-block", "c-unanswered", "c-chase", "c-damage", "c-nothanks", "c-auto",
        "c-night"]
    assert report.problems == []
    assert report.summary["messages"] == 31


def test_clean_conversation_scores_100(report: Report) -> None:
    c = conv(report, "c-clean")
    assert c.deductions == []
    assert c.score == 100.0 and not c.auto_fail
    assert {k: s["score"] for k, s in c.sections.items()} == {"timing": 40.0, "wording": 30.0, "handling": 30.0}
    assert c.first_response_s == 12.0
    assert [r.latency_s for r in c.rounds] == [12.0, 15.0]


def test_late_first_response_has_its_exact_fine(report: Report) -> None:
    c = conv(report, "c-late")
    assert findings(c) == [("late_first_response", "response.shifts.day.first_response_s", 10.0, 10.0, "6")]
    d = c.deductions[0]
    # 75 s against the day shift's 30 s: 45 s over = two 30-second steps started = ¥10.
    assert "用时 75 秒" in d.explanation and "超出时限 45 秒" in d.explanation and "罚 ¥10" in d.explanation
    assert d.rule_text.startswith("白班（08:00-17:30）首次响应不超过 30 秒")
    assert d.source == "004:95"
    assert d.related == (f"{CASES}:5",)
    assert c.score == 90.0 and c.sections["timing"]["score"] == 30.0
    assert c.fines_yuan == 10.0


def test_night_shift_limit_applies(report: Report) -> None:
    c = conv(report, "c-night")
    # 100 s against the night shift's 60 s: 40 s over = two steps = ¥10.
    assert findings(c) == [("late_first_response", "response.shifts.night.first_response_s", 10.0, 10.0, "31")]
    assert c.rounds[0].limit_s == 60.0


def test_warned_phrase(report: Report) -> None:
    c = conv(report, "c-warn")
    assert findings(c) == [("wording_warn", "negative.but", 5.0, 0.0, "10")]
    d = c.deductions[0]
    assert (d.match, d.start, d.end, d.severity, d.category) == ("但是", 7, 9, "warn", "negative")
    assert d.source == "002:154" and "不过" in d.rule_text
    assert c.score == 95.0 and not c.auto_fail


def test_blocked_phrase_auto_fails(report: Report) -> None:
    c = conv(report, "c-block")
    assert findings(c) == [("wording_block", "offsite.wechat", 30.0, 0.0, "12")]
    assert c.deductions[0].auto_fail and c.deductions[0].match == "微信"
    assert c.auto_fail and c.score == 0.0
    # The breakdown still shows where the points went.
    assert c.sections["wording"]["score"] == 0.0 and c.sections["timing"]["score"] == 40.0


def test_unanswered_message(report: Report) -> None:
    c = conv(report, "c-unanswered")
    assert findings(c) == [("unanswered", "qa.unanswered", 20.0, 0.0, "15")]
    assert c.unanswered == 1 and c.deductions[0].agent_id == "小美"
    assert c.score == 80.0


def test_second_chase(report: Report) -> None:
    c = conv(report, "c-chase")
    assert findings(c) == [("chased_again", "engine.buyer_chased_again", 10.0, 0.0, "24")]
    assert c.deductions[0].related == (f"{CASES}:16",)
    assert all(o["met"] for o in c.obligations) and len(c.obligations) == 6
    assert c.score == 90.0


def test_missed_damage_photo_request(report: Report) -> None:
    c = conv(report, "c-damage")
    assert findings(c) == [("obligation_missed", "damage.photos", 10.0, 0.0, "18")]
    assert c.deductions[0].source == "002:256"
    assert {o["obligation"]: o["met"] for o in c.obligations} == {"damage.photos": False, "damage.remedy": True}
    assert c.score == 90.0


def test_thanks_at_end(report: Report) -> None:
    c = conv(report, "c-nothanks")
    assert findings(c) == [("no_thanks", "qa.thanks_at_end", 5.0, 0.0, "23")]
    # 好的 is a closing phrase: it stops the clock, so the last reply is not a timed round.
    assert len(c.rounds) == 1
    assert c.score == 95.0


def test_auto_reply_and_system_message_do_not_end_the_round(report: Report) -> None:
    c = conv(report, "c-auto")
    assert c.deductions == [] and c.score == 100.0
    assert c.first_response_s == 25.0  # counted from 12:00:00 to the human reply, not the auto-reply
    assert (c.n_auto, c.n_system, c.n_agent) == (1, 1, 1)


def test_every_deduction_points_at_its_message_and_quotes_its_rule(report: Report) -> None:
    for c in report.conversations:
        by_id = {m.message_id: m for m in c.messages}
        for d in c.deductions:
            assert d.message_id in by_id and d.id in by_id[d.message_id].deductions
            assert d.rule and d.rule_text and d.explanation and d.source
            assert d.id.startswith(f"{c.key}|{d.kind}|")


def test_aggregates_per_agent_and_day(report: Report) -> None:
    totals = report.totals()
    agents = {a["agent_id"]: a for a in totals["agents"]}
    assert set(agents) == {"小美", "小丽"}
    assert agents["小美"]["conversations"] == 5 and agents["小美"]["avg_score"] == 92.0
    assert agents["小丽"]["conversations"] == 5 and agents["小丽"]["avg_score"] == 74.0
    assert agents["小丽"]["fines_yuan"] == 20.0 and agents["小丽"]["auto_fails"] == 1
    assert agents["小美"]["unanswered"] == 1 and agents["小美"]["no_thanks"] == 1
    assert [d["day"] for d in totals["days"]] == ["2024-05-01"]
    assert totals["summary"]["conversations"] == 10 and totals["summary"]["avg_score"] == 83.0
    violations = {v["key"]: v["count"] for v in totals["charts"]["violations"]}
    assert violations == {"late_first_response": 2, "wording_warn:negative": 1, "wording_block:off_platform": 1,
                          "unanswered": 1, "chased_again": 1, "obligation_missed": 1, "no_thanks": 1}
    assert sum(totals["charts"]["wait_histogram"]) == totals["summary"]["rounds"]


def test_report_keeps_the_rules_version(report: Report, policy: CompiledPolicy) -> None:
    assert report.meta["rules_revision"] == policy.revision
    assert len(report.meta["rules_hash"]) == 16
    assert report.meta["scorecard"]["sections"][0] == {"id": "timing", "name": "响应时效", "weight": 40.0}


def test_scorecard_weights_are_configurable(policy: CompiledPolicy) -> None:
    config = ScorecardConfig(points={**ScorecardConfig().points, "late_first_response": 25.0})
    report = replay_files([CASES], policy, keyword_classify, ReplayOptions(scorecard=config))
    assert conv(report, "c-late").score == 75.0


def test_report_round_trips_through_json(report: Report) -> None:
    import json

    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    again = Report.from_dict(data)
    assert again.to_dict() == report.to_dict()


def test_the_phrasebook_qa_section_is_the_scorecard(policy: CompiledPolicy) -> None:
    """Supervisors own the weights: the phrasebook's ``qa`` section decides the deduction."""
    book = policy.book
    assert book.qa is not None and book.qa.points["late_first_response"] == 10
    qa = book.qa.model_copy(update={"points": {**book.qa.points, "late_first_response": 25.0}})
    shop = CompiledPolicy.build(book.model_copy(update={"qa": qa}))
    report = replay_files([CASES], shop, keyword_classify)
    assert conv(report, "c-late").score == 75.0
    assert report.meta["scorecard"]["points"]["late_first_response"] == 25.0
