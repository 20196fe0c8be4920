"""The live protocol against a real server process, with the real websockets client."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets

from .conftest import Server


async def _hello(server: Server, agent_id: str = "a1", **extra: Any):  # type: ignore[no-untyped-def]
    ws = await websockets.connect(server.ws)
    await ws.send(json.dumps({"type": "hello", "token": server.token, "agent_id": agent_id, **extra}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def _ask(ws, frame: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    await ws.send(json.dumps(frame, ensure_ascii=False))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_whole_protocol_round(server: Server) -> None:
    async def main() -> None:
        ws, welcome = await _hello(server)
        assert welcome["role"] == "supervisor" and welcome["seq"] == 0
        coaching = await _ask(ws, {"type": "buyer_message", "conversation_id": "c1", "message_id": "m1",
                                   "text": "收到的杯子碎了怎么办", "variables": {"order_no": "202405011234"}})
        assert coaching["type"] == "coaching" and coaching["intent"] == "damage"
        assert coaching["suggestions"] and all(s["intent"] for s in coaching["suggestions"])
        assert coaching["limit_s"] == pytest.approx(3.0) and coaching["deadline"] > time.time()
        check = await _ask(ws, {"type": "draft", "conversation_id": "c1", "text": "不关我的事"})
        assert check["type"] == "draft_check" and not check["ok"]
        assert check["flags"][0]["rule"] == "taboo.not_my_business" and check["flags"][0]["start"] == 0
        reply = await _ask(ws, {"type": "agent_reply", "conversation_id": "c1", "message_id": "r1",
                                "text": "亲，非常抱歉，麻烦您拍照发给我们哦", "template_id": "damage.ask_photos.1"})
        assert reply["type"] == "reply_recorded" and reply["on_time"] and reply["latency_s"] < 3
        used = await _ask(ws, {"type": "suggestion_used", "message_id": "m1", "template_id": "damage.ask_photos.1"})
        assert used == {"type": "ack", "for": "suggestion_used", "message_id": "m1"}
        fb = await _ask(ws, {"type": "feedback", "message_id": "m1", "intent": "quality_issue", "conversation_id": "c1"})
        assert fb["type"] == "ack"
        closed = await _ask(ws, {"type": "close_conversation", "conversation_id": "c1"})
        assert any(o["obligation"] == "damage.photos" and o["met"] for o in closed["obligations"])
        assert (await _ask(ws, {"type": "ping"}))["type"] == "pong"
        await ws.close()

    asyncio.run(main())


def test_timers_warn_then_breach(server: Server) -> None:
    async def main() -> None:
        ws, _ = await _hello(server)
        coaching = await _ask(ws, {"type": "buyer_message", "conversation_id": "c2", "message_id": "m1", "text": "在吗"})
        started = time.time()
        warning = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert warning["type"] == "sla_warning" and warning["seq"] == 1
        assert time.time() - started == pytest.approx(0.75 * coaching["limit_s"], abs=0.6)
        breach = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert breach["type"] == "sla_breach" and breach["seq"] == 2
        reply = await _ask(ws, {"type": "agent_reply", "conversation_id": "c2", "message_id": "r1", "text": "亲，在的"})
        assert not reply["on_time"] and reply["fine_yuan"] == 5
        await ws.close()

    asyncio.run(main())


def test_thanks_stops_the_clock_and_auto_replies_do_not(server: Server) -> None:
    async def main() -> None:
        ws, _ = await _hello(server)
        await _ask(ws, {"type": "buyer_message", "conversation_id": "c3", "message_id": "m1", "text": "好的谢谢"})
        auto = await _ask(ws, {"type": "agent_reply", "conversation_id": "c3", "message_id": "r0", "text": "亲，欢迎光临", "auto": True})
        assert auto["latency_s"] is None  # nothing was waiting
        await _ask(ws, {"type": "buyer_message", "conversation_id": "c3", "message_id": "m2", "text": "这个有货吗"})
        auto = await _ask(ws, {"type": "agent_reply", "conversation_id": "c3", "message_id": "r1", "text": "亲，稍等哦", "auto": True})
        assert auto["latency_s"] is None  # an auto-reply does not end the round
        human = await _ask(ws, {"type": "agent_reply", "conversation_id": "c3", "message_id": "r2", "text": "亲，有货的哦"})
        assert human["latency_s"] is not None
        await ws.close()

    asyncio.run(main())


def test_bad_frames_get_errors_and_the_connection_stays_usable(server: Server) -> None:
    async def main() -> None:
        ws, _ = await _hello(server)
        assert (await _ask(ws, {"type": "draf"}))["code"] == "unknown_type"
        await ws.send("{not json")
        assert json.loads(await ws.recv())["code"] == "bad_json"
        await ws.send("[1, 2]")
        assert json.loads(await ws.recv())["code"] == "bad_json"
        await ws.send(b"\xff\xfe")
        assert json.loads(await ws.recv())["code"] == "bad_json"
        missing = await _ask(ws, {"type": "buyer_message", "conversation_id": "c", "message_id": "m"})
        assert missing["code"] == "bad_frame" and "text" in missing["message"]
        big = await _ask(ws, {"type": "draft", "conversation_id": "c", "text": "啊" * 30_000})
        assert big["code"] == "frame_too_large"
        assert (await _ask(ws, {"type": "ping"}))["type"] == "pong"
        for _ in range(150):
            await ws.send(json.dumps({"type": "ping"}))
        answers = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(150)]
        assert any(a.get("code") == "rate_limited" for a in answers)
        await asyncio.sleep(2.5)
        assert (await _ask(ws, {"type": "ping"}))["type"] == "pong"
        await ws.close()

    asyncio.run(main())


def test_hello_is_required_within_the_timeout(server: Server) -> None:
    async def main() -> None:
        async with websockets.connect(server.ws) as ws:
            await ws.send(json.dumps({"type": "hello", "token": "wrong", "agent_id": "x"}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4401
        async with websockets.connect(server.ws) as ws:
            started = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 4401 and 4 < time.monotonic() - started < 7

    asyncio.run(main())


def test_foreign_origin_is_refused(server: Server) -> None:
    async def main() -> None:
        async with websockets.connect(server.ws, origin="http://evil.example") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4403

    asyncio.run(main())


def test_reconnect_resend_is_idempotent_and_missed_pushes_come_back(server: Server) -> None:
    async def main() -> None:
        ws, _ = await _hello(server, "a9")
        frame = {"type": "buyer_message", "conversation_id": "c9", "message_id": "m1", "text": "快递到哪了"}
        first = await _ask(ws, frame)
        await ws.close()
        await asyncio.sleep(3.5)  # warning and breach fire while the agent is away
        ws, welcome = await _hello(server, "a9", last_seq=0)
        assert welcome["missed"] == 2 and welcome["resumed"]
        missed = [json.loads(await ws.recv()) for _ in range(2)]
        assert [m["type"] for m in missed] == ["sla_warning", "sla_breach"]
        again = await _ask(ws, frame)
        assert again == first  # same answer, not reprocessed
        await ws.close()

    asyncio.run(main())
    time.sleep(1.0)  # let the background writer store events
    import sqlite3

    rows = sqlite3.connect(server.data_dir / "coach.db").execute(
        "select count(*) from events where conversation_id='c9' and kind='buyer_message'").fetchone()
    assert rows[0] == 1


def test_roles_are_enforced_on_rest_routes(server: Server) -> None:
    agent = server.tokens()["agent"]
    with httpx.Client(base_url=server.base) as client:
        assert client.post("/api/check", json={"text": "嗯"}).status_code == 401
        ok = client.post("/api/check", json={"text": "不关我的事"}, headers={"Authorization": f"Bearer {agent}"})
        assert ok.status_code == 200 and not ok.json()["ok"]
        cls = client.post("/api/classify", json={"text": "能便宜点吗"}, headers={"Authorization": f"Bearer {agent}"})
        assert cls.json()["intent"] == "bargaining"
        denied = client.put("/api/console/items/template", json={"data": {}, "version": 1},
                            headers={"Authorization": f"Bearer {agent}"})
        assert denied.status_code == 403
        templates = client.get("/api/phrasebook", headers={"Authorization": f"Bearer {agent}"}).json()["templates"]
        assert templates and {t["status"] for t in templates} == {"approved"}  # agents never see drafts
        metrics = client.get("/metrics").text
        assert metrics.startswith("# HELP")
        # The stalls that hit every socket at once are measured, not guessed (docs/settings.md).
        assert 'coach_event_loop_lag_seconds_count{loop="loop"}' in metrics


def test_publishing_pushes_phrasebook_updated(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}

    async def main() -> None:
        ws, _ = await _hello(server, "a5")
        item = httpx.get(f"{server.base}/api/console/items/template/greeting.welcome.1", headers=auth).json()
        data = dict(item["data"], text="亲，您好，欢迎光临小店，有什么可以帮您的吗？")
        started = time.monotonic()
        saved = httpx.put(f"{server.base}/api/console/items/template", json={"data": data, "version": item["version"]},
                          headers=auth)
        assert saved.status_code == 200, saved.text
        pushed = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert pushed["type"] == "phrasebook_updated" and pushed["revision"] == saved.json()["revision"]
        assert time.monotonic() - started < 1.5
        stale = httpx.put(f"{server.base}/api/console/items/template", json={"data": data, "version": item["version"]},
                          headers=auth)
        assert stale.status_code == 409 and "版" in json.dumps(stale.json(), ensure_ascii=False)
        await ws.close()

    asyncio.run(main())
