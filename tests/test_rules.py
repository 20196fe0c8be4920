"""Every wording rule's own examples, the bundled templates, and false-alarm / recall figures."""

import json
from pathlib import Path

import pytest

from assistant.policy import CompiledPolicy
from phrasebook.files import load_default

BOOK = load_default()
POLICY = CompiledPolicy.build(BOOK)
DATA = Path(__file__).parent / "data" / "checker"


def _examples():  # one test per example, so adding a rule adds its tests
    for rule in BOOK.rules:
        for text in rule.examples.flag:
            yield pytest.param(rule.id, text, True, id=f"{rule.id}-flags-{text[:12]}")
        for text in rule.examples.pass_:
            yield pytest.param(rule.id, text, False, id=f"{rule.id}-passes-{text[:12]}")


@pytest.mark.parametrize(("rule_id", "text", "should_flag"), list(_examples()))
def test_rule_examples(rule_id: str, text: str, should_flag: bool) -> None:
    flagged = [f for f in POLICY.check(text) if f.rule == rule_id]
    assert bool(flagged) == should_flag, POLICY.check(text)
    for flag in flagged:
        assert text[flag.start:flag.end] == flag.match and flag.message and flag.suggestion


def test_every_rule_has_examples_both_ways() -> None:
    for rule in BOOK.rules:
        assert rule.examples.flag, rule.id
        assert rule.why and rule.source and rule.message and rule.suggestion, rule.id


@pytest.mark.parametrize("template", BOOK.approved_templates(), ids=lambda t: t.id)
def test_approved_templates_are_never_blocked(template) -> None:  # type: ignore[no-untyped-def]
    assert not [f for f in POLICY.check_template(template) if f.severity == "block"]


@pytest.mark.parametrize(("draft", "rule"), [
    ("不關我的事", "taboo.not_my_business"),
    ("不 知 道", "taboo.dont_know"),
    ("不.关.我.的.事", "taboo.not_my_business"),
    ("加我微信", "offsite.wechat"), ("V信联系", "offsite.wechat"), ("ＶＸ同号", "offsite.wechat"),
    ("加薇", "offsite.wechat"), ("威信号", "offsite.wechat"), ("加q", "offsite.qq"), ("扣扣", "offsite.qq"),
    ("qq 12345678", "offsite.qq_number"), ("电话 138-1234-5678", "offsite.phone"),
    ("１３８ １２３４ ５６７８", "offsite.phone"), ("去 www.xx.cn 看", "offsite.link"),
    ("保证明天到", "promise.categorical"), ("全网最低价", "ad.absolute"), ("我不能改价", "negative.i_cannot"),
    ("你自己没看清楚", "blame.buyer_mistake"), ("好评返现5元", "review.cashback"), ("不清楚", "brushoff.unclear"),
    ("嗯", "shape.one_char"),
])
def test_issue_cases_are_caught(draft: str, rule: str) -> None:
    assert rule in {f.rule for f in POLICY.check(draft)}


def test_known_order_numbers_are_not_phone_numbers() -> None:
    assert not POLICY.check("亲，您的单号是13812345678哦", frozenset({"13812345678"}))
    assert POLICY.check("亲，您的单号是13812345678哦")


def test_flag_spans_point_at_the_original_draft() -> None:
    draft = "亲，这个不.關.我.的.事哦"
    (flag,) = [f for f in POLICY.check(draft) if f.rule == "taboo.not_my_business"]
    assert draft[flag.start:flag.end] == "不.關.我.的.事"


def test_false_alarms_on_ordinary_polite_replies_are_rare() -> None:
    polite = [line for line in (DATA / "polite_replies.txt").read_text(encoding="utf-8").splitlines() if line]
    flagged = [(t, POLICY.check(t)) for t in polite]
    noisy = [(t, [f.rule for f in fl]) for t, fl in flagged if fl]
    assert len(polite) >= 400
    assert len(noisy) / len(polite) <= 0.01, noisy  # measured: 0 of 473 (docs/performance.md)
    assert not [t for t, fl in flagged if any(f.severity == "block" for f in fl)]


# Categories overlap in the seeds' own wording (不知道 is a taboo *and* a brush-off).
ALIASES = {"taboo": {"taboo", "shift_blame", "brush_off", "insult"}, "brush_off": {"brush_off", "taboo"},
           "shift_blame": {"shift_blame", "taboo", "brush_off"}, "one_char": {"one_char", "taboo"}}


def test_recall_on_violating_drafts() -> None:
    items = [json.loads(line) for line in (DATA / "violations.jsonl").read_text(encoding="utf-8").splitlines()]
    caught = total = 0
    silent = []
    for item in items:
        found = {f.category for f in POLICY.check(item["text"])}
        for category in item["categories"]:
            total += 1
            caught += bool(found & ALIASES.get(category, {category}))
        if not found:
            silent.append(item["text"])
    assert len(silent) <= len(items) * 0.02, silent  # a violating draft nearly always gets some flag
    assert caught / total >= 0.95, caught / total


def test_digit_rules_scanned_in_windows_find_what_a_whole_scan_finds() -> None:
    # Rules with ``min_digits`` run their regexes only on windows around long digit runs; on
    # random drafts full of digits, Chinese numerals and QQ prefixes that must change nothing.
    import random
    import re

    from classifiers.regex_windows import DigitsView
    from classifiers.text import normalise
    from classifiers.wording import CheckContext, Checker

    rules = [r for r in load_default().rules if r.min_digits]
    assert {r.id for r in rules} >= {"offsite.phone", "offsite.qq_number"}
    checker = Checker(rules)
    pieces = ["1", "3", "8", "0", "9", "一", "三", "八", "幺", "零", "①", "q", "QQ", "扣扣", "号", "是", "为",
              "亲", "您好", "+86", " ", "-", "，", "订单", "a"]
    rng = random.Random(5)
    for _ in range(3000):
        draft = "".join(rng.choice(pieces) for _ in range(rng.randint(5, 40)))
        compact = normalise(draft)
        view = DigitsView(compact)
        expected = set()
        for rule in rules:
            for pattern in rule.patterns:
                for m in re.finditer(pattern, view.text):
                    expected.add((rule.id, *view.span(m.start(), m.end())))
        # Regex hits before flags of different rules are merged (a phone number inside a QQ
        # hit), with overlapping hits of one rule joined as the checker joins them: a window
        # may also see the tail of a match (q12345 inside qq12345).
        armed: dict[int, list[tuple[int, int, int, int]]] = {i: [] for i in range(len(checker.rules))}
        found = {(checker.rules[i].id, s, e) for i, s, e in checker._regex_hits(draft, compact, CheckContext(), armed)}
        assert _joined(found) == _joined(expected), draft


def _joined(hits: set[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for rule, start, end in sorted(hits):
        if out and out[-1][0] == rule and start < out[-1][2]:
            out[-1] = (rule, out[-1][1], max(out[-1][2], end))
        else:
            out.append((rule, start, end))
    return out


def test_rules_with_reach_find_what_a_whole_scan_finds() -> None:
    # A ``reach`` rule runs only near its required literals; on random drafts built from its
    # own words, punctuation, digits and noise, the flags must be those of a whole-text scan.
    import random

    from classifiers.wording import Checker

    rules = [r for r in load_default().rules if r.reach]
    assert {r.id for r in rules} >= {"taboo.wei", "review.cashback"}
    windowed = Checker(rules)
    whole = Checker([r.model_copy(update={"reach": None}) for r in rules])
    pieces = ["喂", "餵", "好评", "五星", "晒图", "差评", "评价", "返现", "返", "送", "元", "红包", "删除", "改成",
              "一下", "给您", "sb", "SB", "tmd", "a", "12", "三", "8", " ", "，", ",", "!", "在", "你", "我说",
              "亲", "宝宝", "奶", "哦", "😀"]
    rng = random.Random(11)
    for _ in range(4000):
        draft = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        assert windowed.check(draft) == whole.check(draft), draft


def test_window_fields_are_refused_where_they_cannot_apply() -> None:
    from pydantic import ValidationError

    from phrasebook.schema import WordingRule

    base = {"id": "x.y", "category": "taboo", "severity": "warn", "message": "m"}
    with pytest.raises(ValidationError, match="reach needs match=regex and requires"):
        WordingRule(**base, match="regex", patterns=["喂"], reach=3)
    with pytest.raises(ValidationError, match="min_digits needs match=regex"):
        WordingRule(**base, patterns=["喂"], min_digits=5)
    assert WordingRule(**base, match="regex", patterns=["喂"], requires=["喂"], reach=3).reach == 3
