"""The pure engine with hand-set timestamps: rounds, limits, fines, obligations, second chases."""

from assistant.engine import (
    BuyerChasedAgain,
    ConversationEngine,
    ObligationOutcome,
    ReplyTiming,
    SlaBreach,
    SlaWarning,
)
from classifiers.intent.model import IntentScore, Prediction

T0 = 1_714_528_800.0  # 2024-05-01 10:00 Asia/Shanghai: day shift (first 30 s, answers 20 s)


def keyword_classify(text: str) -> Prediction:
    """Stands in for the trained model so these tests pin the engine, not the model."""
    for word, intent in (("碎", "damage"), ("快递", "delivery_chase"), ("便宜", "bargaining")):
        if word in text:
            return Prediction(text, intent, (IntentScore(intent, 0.9),))
    return Prediction(text, "other", ())


def engine(policy) -> ConversationEngine:  # type: ignore[no-untyped-def]
    return ConversationEngine(policy, classify=keyword_classify)


def test_first_round_counts_from_the_first_unanswered_message(policy) -> None:  # type: ignore[no-untyped-def]
    e = engine(policy)
    (coaching,) = e.buyer_message("c", "m1", "在吗", T0)
    assert coaching.limit_s == 30 and coaching.deadline == T0 + 30
    e.buyer_message("c", "m2", "有人吗", T0 + 10)  # does not restart the round
    assert e.tick(T0 + 22) == []
    (warning,) = e.tick(T0 + 23)
    assert isinstance(warning, SlaWarning) and warning.seconds_left == 7
    assert e.tick(T0 + 25) == []  # each fires once
    (breach,) = e.tick(T0 + 31)
    assert isinstance(breach, SlaBreach) and breach.overdue_s == 1
    (timing,) = [f for f in e.agent_reply("c", "r1", "亲，在的", T0 + 75) if isinstance(f, ReplyTiming)]
    assert timing.latency_s == 75 and not timing.on_time and timing.fine_yuan == 10  # 45 s over: two 30 s steps
    assert timing.platform_on_time  # the marketplace counts a human answer within 3 minutes


def test_later_rounds_use_the_answer_limit_and_night_shift(policy) -> None:  # type: ignore[no-untyped-def]
    e = engine(policy)
    e.buyer_message("c", "m1", "在吗", T0)
    e.agent_reply("c", "r1", "亲，在的", T0 + 5)
    (coaching,) = e.buyer_message("c", "m2", "这个有货吗", T0 + 60)
    assert coaching.limit_s == 20
    night = T0 + 12 * 3600  # 22:00
    (coaching,) = e.buyer_message("n", "m1", "在吗", night)
    assert coaching.limit_s == 60


def test_thanks_stops_the_clock_and_auto_replies_do_not_end_a_round(policy) -> None:  # type: ignore[no-untyped-def]
    e = engine(policy)
    e.buyer_message("c", "m1", "这个有货吗", T0)
    e.buyer_message("c", "m2", "好的谢谢", T0 + 5)
    assert e.next_alarm() is None and e.tick(T0 + 100) == []
    e.buyer_message("d", "m1", "这个有货吗", T0)
    (auto,) = e.agent_reply("d", "r0", "亲，稍等哦", T0 + 1, auto=True)
    assert isinstance(auto, ReplyTiming) and auto.latency_s is None
    assert e.waiting_since("d") == T0


def test_obligations_and_second_chase(policy) -> None:  # type: ignore[no-untyped-def]
    e = engine(policy)
    e.buyer_message("c", "m1", "杯子碎了", T0)
    e.agent_reply("c", "r1", "亲，非常抱歉，麻烦您拍照发给我们", T0 + 5)
    e.buyer_message("c", "m2", "快递到哪了", T0 + 100)
    e.agent_reply("c", "r2", "亲，这边帮您查一下物流", T0 + 105)
    findings = e.buyer_message("c", "m3", "快递怎么还没到", T0 + 4000)
    assert any(isinstance(f, BuyerChasedAgain) and f.previous_message_id == "m2" for f in findings)
    outcomes = {(o.message_id, o.obligation.id): o.met for o in e.close("c") if isinstance(o, ObligationOutcome)}
    assert outcomes["m1", "damage.photos"] and not outcomes["m1", "damage.remedy"]
    assert outcomes["m2", "chase.checked_logistics"] and not outcomes["m2", "chase.follow_up"]
    assert not outcomes["m3", "chase.checked_logistics"]  # the second chase was never answered


def test_marketplace_measure_beside_the_shop_limit(policy) -> None:  # type: ignore[no-untyped-def]
    e = engine(policy)
    e.buyer_message("c", "m1", "这个有货吗", T0)
    (timing,) = [f for f in e.agent_reply("c", "r1", "亲，有货的哦", T0 + 200) if isinstance(f, ReplyTiming)]
    assert not timing.on_time and not timing.platform_on_time  # past both 30 s and 3 min


def test_idle_conversations_are_forgotten_active_ones_kept(policy) -> None:  # type: ignore[no-untyped-def]
    e = engine(policy)
    e.buyer_message("old", "m1", "在吗", T0)
    e.buyer_message("busy", "m2", "在吗", T0)
    e.agent_reply("busy", "r2", "亲，在的", T0 + 3 * 3600)  # a reply keeps a conversation alive
    assert e.forget_idle(T0 + 4 * 3600 + 1, 4 * 3600) == 1
    assert set(e.conversations) == {"busy"}
    assert e.next_alarm() is None  # nothing left waiting
