"""The same storage and service on PostgreSQL (``COACH_DATABASE_URL``).

Runs when ``COACH_TEST_POSTGRES_URL`` names an empty database; ``.ci/run`` installs and starts a
PostgreSQL server and sets it, so CI always runs these.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import websockets
from sqlalchemy import text

from phrasebook.files import load_default
from phrasebook.storage import EditConflict, PhrasebookStore, make_engine

from .conftest import Server, start_server

URL = os.environ.get("COACH_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="COACH_TEST_POSTGRES_URL not set (.ci/run sets it)")


@pytest.fixture
def clean_database() -> str:
    engine = make_engine(URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return URL


def test_phrasebook_storage_on_postgres(clean_database: str) -> None:
    engine = make_engine(clean_database)
    store = PhrasebookStore(engine)
    book = load_default()
    store.replace_all(book, "importer")
    assert store.load().model_dump(exclude={"revision"}) == book.model_dump(exclude={"revision"})
    data, version = store.get("template", "greeting.welcome.1")
    store.save("template", dict(data, text="亲，您好～"), version, "小李")
    with pytest.raises(EditConflict):
        store.save("template", dict(data, text="亲！"), version, "小张")
    engine.dispose()


def test_service_on_postgres(clean_database: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for server in start_server(tmp_path, COACH_DATABASE_URL=clean_database):
        async def main(server: Server = server) -> None:
            async with websockets.connect(server.ws) as ws:
                await ws.send(json.dumps({"type": "hello", "token": server.token, "agent_id": "pg"}))
                assert json.loads(await ws.recv())["type"] == "welcome"
                frame = {"type": "buyer_message", "conversation_id": "c", "message_id": "m1", "text": "能便宜点吗"}
                await ws.send(json.dumps(frame, ensure_ascii=False))
                first = json.loads(await ws.recv())
                await ws.send(json.dumps(frame, ensure_ascii=False))
                assert json.loads(await ws.recv()) == first

        asyncio.run(main())
        engine = make_engine(clean_database)
        for _ in range(50):
            with engine.connect() as conn:
                count = conn.execute(text("select count(*) from events where kind='buyer_message'")).scalar()
            if count:
                break
            asyncio.run(asyncio.sleep(0.1))
        engine.dispose()
        assert count == 1


def test_publish_reaches_agents_of_another_process(clean_database: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two ``coach serve`` processes on one database: a save on A pushes to an agent on B."""
    import time

    import httpx

    servers = [start_server(tmp_path / name, COACH_DATABASE_URL=clean_database) for name in ("a", "b")]
    a = next(servers[0])
    b = next(servers[1])
    try:
        async def main() -> None:
            async with websockets.connect(b.ws) as ws:
                await ws.send(json.dumps({"type": "hello", "token": b.token, "agent_id": "on-b"}))
                assert json.loads(await ws.recv())["type"] == "welcome"
                auth = {"Authorization": f"Bearer {a.token}"}
                item = httpx.get(f"{a.base}/api/console/items/template/greeting.welcome.1", headers=auth).json()
                data = dict(item["data"], text="亲，您好，欢迎光临～有什么可以帮您的吗？")
                started = time.monotonic()
                saved = httpx.put(f"{a.base}/api/console/items/template",
                                  json={"data": data, "version": item["version"]}, headers=auth)
                assert saved.status_code == 200, saved.text
                pushed = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert pushed["type"] == "phrasebook_updated" and pushed["revision"] == saved.json()["revision"]
                assert time.monotonic() - started < 2
            health = httpx.get(f"{b.base}/healthz").json()
            assert health["phrasebook_revision"] == saved.json()["revision"]

        asyncio.run(main())
    finally:
        for generator in servers:
            generator.close()
