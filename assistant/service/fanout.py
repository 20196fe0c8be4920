"""Publish fan-out between service processes: PostgreSQL LISTEN/NOTIFY.

Several ``coach serve`` processes behind a load balancer share one PostgreSQL database. When a
supervisor publishes through one of them, that process ``NOTIFY``s the new revision; every
process ``LISTEN``s on a dedicated connection in a background thread and, on a newer revision,
rebuilds its policy and pushes ``phrasebook_updated`` to its own agents.  PostgreSQL is the
broker here, so nothing else has to be deployed.  With SQLite (one process) there is nothing to
fan out to and this module is not used.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

__all__ = ["PostgresFanout", "CHANNEL"]

CHANNEL = "coach_phrasebook"


class PostgresFanout:
    """Sends and receives "the phrasebook is now at revision N" between processes."""

    def __init__(self, engine: Engine, on_revision: Callable[[int], None],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self._on_revision = on_revision
        self._loop = loop
        self._stop = threading.Event()
        self._ready = threading.Event()
        url = make_url(engine.url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._thread = threading.Thread(target=self._listen, name="publish-fanout", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)

    def notify(self, revision: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": str(revision)})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    # (Re)connected: anything published while we were not listening is caught here.
                    self._loop.call_soon_threadsafe(self._on_revision, 0)
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.payload.isdigit():
                                self._loop.call_soon_threadsafe(self._on_revision, int(note.payload))
            except psycopg.Error as exc:  # database restarted: reconnect after a pause
                print(f"publish fan-out: {exc}; reconnecting", flush=True)
                self._stop.wait(2.0)
