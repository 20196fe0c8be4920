"""Storage of the service: tokens, live conversation events, corrections and QA reports.

SQLAlchemy Core on SQLite (default, in the data directory) or PostgreSQL (``COACH_DATABASE_URL``).
Events are keyed by ``(conversation_id, message_id, kind)``, which is what makes every client
event idempotent: a resend after a reconnect hits the key and is answered, not stored twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from phrasebook.files import load_default
from phrasebook.schema import Phrasebook
from phrasebook.storage import PhrasebookStore, make_engine, metadata

from ..settings import Settings, get_settings

__all__ = ["Store", "open_store", "existing_phrasebook", "ROLES", "TokenInfo"]

ROLES = ("agent", "supervisor", "qa")

tokens = Table(
    "tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)
events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(200), nullable=False, index=True),
    Column("message_id", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("agent_id", String(100), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("text", Text),
    Column("data", Text, nullable=False),
    UniqueConstraint("conversation_id", "message_id", "kind", name="uq_event"),
)
corrections = Table(
    "corrections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(200)),
    Column("text", Text, nullable=False),
    Column("intent", String(50), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
reports = Table(
    "qa_reports", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(300), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rules_revision", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Column("report", Text, nullable=False),
)
audit = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(100), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class TokenInfo:
    role: str
    name: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """All service storage behind one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        self.phrasebook = PhrasebookStore(engine)

    # ------------------------------------------------------------ phrasebook
    def ensure_phrasebook(self) -> Phrasebook:
        """The stored phrasebook; seeded from the bundled default on first start."""
        if self.phrasebook.is_empty():
            self.phrasebook.replace_all(load_default(), actor="默认话术库")
        return self.phrasebook.load()

    # ------------------------------------------------------------ tokens
    def create_token(self, role: str, name: str, token: str | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (expected one of: {', '.join(ROLES)})")
        token = token or f"rc_{role}_{secrets.token_urlsafe(24)}"
        with self.engine.begin() as conn:
            conn.execute(insert(tokens).values(token_hash=_hash(token), role=role, name=name,
                                               created_at=_now(), revoked=False))
        return token

    def has_tokens(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(tokens.c.id).limit(1)).first() is not None

    def lookup_token(self, token: str) -> TokenInfo | None:
        if not token:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(tokens.c.role, tokens.c.name)
                               .where(tokens.c.token_hash == _hash(token), tokens.c.revoked.is_(False))).first()
        return TokenInfo(row.role, row.name) if row else None

    # ------------------------------------------------------------ events
    def record_events(self, rows: list[dict[str, Any]]) -> None:
        """Store many events at once, skipping any already stored (resends)."""
        if not rows:
            return
        # The driver's own executemany: SQLAlchemy's per-row bookkeeping cost a third of the
        # service's CPU under load (measured with py-spy at 400 agents).
        columns = ("conversation_id", "message_id", "kind", "agent_id", "ts", "text", "data")
        values = [(r["conversation_id"], r["message_id"], r["kind"], r["agent_id"], r["ts"], r["text"],
                   json.dumps(r["data"], ensure_ascii=False)) for r in rows]
        if self.engine.dialect.name == "postgresql":
            sql = (f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
                   "ON CONFLICT DO NOTHING")
        else:
            sql = f"INSERT OR IGNORE INTO events ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))})"
        with self.engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(sql, values)
            finally:
                cursor.close()

    def event_text(self, conversation_id: str, message_id: str, kind: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(events.c.text).where(
                events.c.conversation_id == conversation_id, events.c.message_id == message_id,
                events.c.kind == kind)).first()
        return row.text if row else None

    def conversation_events(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        query = select(events).order_by(events.c.ts, events.c.id)
        if conversation_id is not None:
            query = query.where(events.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) | {"data": json.loads(r.data)} for r in conn.execute(query)]

    # ------------------------------------------------------------ corrections
    def add_correction(self, message_id: str | None, text: str, intent: str, actor: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(corrections).values(message_id=message_id, text=text, intent=intent,
                                                    actor=actor, at=_now()))

    def list_corrections(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(corrections).order_by(corrections.c.id))]

    # ------------------------------------------------------------ QA reports
    def save_report(self, name: str, actor: str, rules_revision: int, summary: dict[str, Any],
                    report: dict[str, Any]) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(reports).values(
                name=name, created_by=actor, created_at=_now(), rules_revision=rules_revision,
                summary=json.dumps(summary, ensure_ascii=False), report=json.dumps(report, ensure_ascii=False)))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def list_reports(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(reports.c.id, reports.c.name, reports.c.created_by, reports.c.created_at,
                                       reports.c.rules_revision, reports.c.summary).order_by(reports.c.id.desc()))
            return [dict(r._mapping) | {"summary": json.loads(r.summary),
                                        "created_at": r.created_at.isoformat()} for r in rows]

    def get_report(self, report_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(reports.c.report).where(reports.c.id == report_id)).first()
        return json.loads(row.report) if row else None

    def report_text(self, report_id: int) -> str | None:
        """The stored report's JSON text, as the version token for ``replace_report``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(reports.c.report).where(reports.c.id == report_id)).first()
        return str(row.report) if row else None

    def replace_report(self, report_id: int, old_text: str, summary: dict[str, Any],
                       report: dict[str, Any]) -> bool:
        """Compare-and-swap: write only if the report is still ``old_text`` (two reviewers at once)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(reports).where(reports.c.id == report_id, reports.c.report == old_text).values(
                    summary=json.dumps(summary, ensure_ascii=False), report=json.dumps(report, ensure_ascii=False))
            ).rowcount
        return bool(changed == 1)

    # ------------------------------------------------------------ audit
    def audit(self, actor: str, role: str, action: str, detail: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(audit).values(actor=actor, role=role, action=action,
                                              detail=json.dumps(detail, ensure_ascii=False), at=_now()))

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit).order_by(audit.c.id.desc()).limit(limit))
            return [dict(r._mapping) | {"at": r.at.isoformat(), "detail": json.loads(r.detail)} for r in rows]


def open_store(settings: Settings | None = None) -> Store:
    settings = settings or get_settings()
    return Store(make_engine(settings.resolved_database_url()))


def existing_phrasebook(settings: Settings | None = None) -> Phrasebook | None:
    """The service's stored phrasebook if a database already exists, without creating one."""
    settings = settings or get_settings()
    if not settings.database_url and not Path(settings.data_dir / "coach.db").exists():
        return None
    store = open_store(settings)
    return None if store.phrasebook.is_empty() else store.phrasebook.load()
