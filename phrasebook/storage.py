"""The phrasebook in a database (SQLite by default, PostgreSQL by URL), versioned and audited.

Each item (intent, template, rule, and the singleton settings) is one row holding its JSON,
with a ``version`` for optimistic locking: a save names the version it edited, and a second
supervisor saving over a newer version gets ``EditConflict`` instead of silently losing the
first edit.  Every change is appended to ``phrasebook_history`` (who, when, before → after).
A ``revision`` counter bumps on every change so services know when to rebuild.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)

from .schema import Intent, Phrasebook, Template, WordingRule

__all__ = [
    "metadata", "PhrasebookStore", "EditConflict", "NotFound", "HistoryEntry", "make_engine", "KINDS",
]

metadata = MetaData()

items = Table(
    "phrasebook_items", metadata,
    Column("kind", String(16), primary_key=True),
    Column("item_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("data", Text, nullable=False),
    Column("updated_by", String(100), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
history = Table(
    "phrasebook_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("item_id", String(200), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
meta = Table(
    "phrasebook_meta", metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)

KINDS: dict[str, type[Intent] | type[Template] | type[WordingRule]] = {
    "intent": Intent, "template": Template, "rule": WordingRule,
}
_SETTINGS = ("settings", "settings")  # (kind, item_id) of the singleton settings row


class EditConflict(Exception):
    """The item changed since the editor loaded it; nothing was written."""

    def __init__(self, kind: str, item_id: str, expected: int, actual: int, actor: str) -> None:
        super().__init__(
            f"{kind} {item_id} 已被 {actor} 修改为第 {actual} 版（你编辑的是第 {expected} 版），"
            f"请刷新后合并再保存 / changed by {actor} to version {actual} since you loaded version {expected}"
        )
        self.kind, self.item_id, self.expected, self.actual, self.actor = kind, item_id, expected, actual, actor


class NotFound(KeyError):
    """No such phrasebook item."""


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor: str
    at: datetime


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so readers never block writers."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _dump(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json", by_alias=True), ensure_ascii=False, sort_keys=True)


class PhrasebookStore:
    """Load, edit and publish the phrasebook stored in ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    # ------------------------------------------------------------- whole book
    def is_empty(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(items.c.kind).limit(1)).first() is None

    def revision(self) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == "revision")).first()
        return int(row[0]) if row else 0

    def replace_all(self, book: Phrasebook, actor: str) -> int:
        """Import ``book`` wholesale (each changed item versioned and audited); returns revision."""
        with self.engine.begin() as conn:
            existing = {(r.kind, r.item_id): r for r in conn.execute(select(items))}
            wanted: dict[tuple[str, str], str] = {}
            position: dict[tuple[str, str], int] = {}
            collections: tuple[tuple[str, Sequence[Intent | Template | WordingRule]], ...] = (
                ("intent", book.intents), ("template", book.templates), ("rule", book.rules))
            for kind, collection in collections:
                for index, item in enumerate(collection):
                    wanted[(kind, item.id)] = _dump(item)
                    position[(kind, item.id)] = index
            wanted[_SETTINGS] = json.dumps(_settings_of(book), ensure_ascii=False, sort_keys=True)
            position[_SETTINGS] = 0
            for key, data in wanted.items():
                row = existing.get(key)
                if row is None:
                    self._write(conn, key[0], key[1], None, data, 1, "create", actor, position[key])
                elif row.data != data or row.position != position[key]:
                    self._write(conn, key[0], key[1], row.data, data,
                                row.version + (row.data != data), "update", actor, position[key])
            for key, row in existing.items():
                if key not in wanted:
                    self._delete(conn, key[0], key[1], row.data, row.version + 1, actor)
            return self._bump(conn)

    def load(self) -> Phrasebook:
        """The phrasebook as stored now."""
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(items.c.kind, items.c.data).order_by(items.c.position, items.c.item_id)))
            revision = conn.execute(select(meta.c.value).where(meta.c.key == "revision")).first()
        document: dict[str, Any] = {"intents": [], "templates": [], "rules": []}
        order: dict[str, list[dict[str, Any]]] = {"intent": [], "template": [], "rule": []}
        for kind, data in rows:
            if kind == "settings":
                document.update(json.loads(data))
            else:
                order[kind].append(json.loads(data))
        document["intents"], document["templates"], document["rules"] = (
            order["intent"], order["template"], order["rule"])
        document["revision"] = int(revision[0]) if revision else 1
        return Phrasebook.model_validate(document)

    # ------------------------------------------------------------- single items
    def get(self, kind: str, item_id: str) -> tuple[dict[str, Any], int]:
        """(item data, version)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(items.c.data, items.c.version).where(items.c.kind == kind, items.c.item_id == item_id)
            ).first()
        if row is None:
            raise NotFound(f"{kind} {item_id}")
        return json.loads(row.data), row.version

    def entry(self, kind: str, item_id: str) -> dict[str, Any] | None:
        """One item with its version and who changed it last, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(items).where(items.c.kind == kind, items.c.item_id == item_id)).first()
        if row is None:
            return None
        return {"data": json.loads(row.data), "version": row.version, "updated_by": row.updated_by,
                "updated_at": row.updated_at.isoformat()}

    def list(self, kind: str) -> Iterator[tuple[dict[str, Any], int, str, datetime]]:
        with self.engine.connect() as conn:
            for row in conn.execute(select(items).where(items.c.kind == kind).order_by(items.c.item_id)):
                yield json.loads(row.data), row.version, row.updated_by, row.updated_at

    def save(self, kind: str, data: dict[str, Any], expected_version: int | None, actor: str) -> int:
        """Create (``expected_version`` None) or update an item; returns its new version.

        Validates ``data`` with the item's model first, so nothing invalid is ever stored.
        """
        model = KINDS[kind].model_validate(data)
        payload = _dump(model)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(items.c.version, items.c.data, items.c.updated_by)
                .where(items.c.kind == kind, items.c.item_id == model.id)
            ).first()
            if row is None:
                if expected_version not in (None, 0):
                    raise NotFound(f"{kind} {model.id}")
                last = conn.execute(select(items.c.position).where(items.c.kind == kind)
                                    .order_by(items.c.position.desc()).limit(1)).first()
                self._write(conn, kind, model.id, None, payload, 1, "create", actor, (last[0] + 1) if last else 0)
                version = 1
            else:
                if expected_version is None or expected_version != row.version:
                    raise EditConflict(kind, model.id, expected_version or 0, row.version, row.updated_by)
                version = row.version + 1
                changed = conn.execute(
                    update(items)
                    .where(items.c.kind == kind, items.c.item_id == model.id, items.c.version == row.version)
                    .values(version=version, data=payload, updated_by=actor, updated_at=_now())
                ).rowcount
                if changed != 1:  # another writer won the race between our read and write
                    raise EditConflict(kind, model.id, expected_version, row.version + 1, "another editor")
                self._audit(conn, kind, model.id, version, "update", row.data, payload, actor)
            self._bump(conn)
        return version

    def save_settings(self, settings: dict[str, Any], expected_version: int | None, actor: str) -> int:
        current = self.load()
        merged = current.model_copy(update={}).model_dump(mode="json", by_alias=True)
        merged.update(settings)
        book = Phrasebook.model_validate(merged)  # validates variants, shifts, placeholders
        payload = json.dumps(_settings_of(book), ensure_ascii=False, sort_keys=True)
        with self.engine.begin() as conn:
            row = conn.execute(select(items.c.version, items.c.data, items.c.updated_by)
                               .where(items.c.kind == _SETTINGS[0], items.c.item_id == _SETTINGS[1])).first()
            if row is None:
                raise NotFound("settings")
            if expected_version is not None and expected_version != row.version:
                raise EditConflict("settings", "settings", expected_version, row.version, row.updated_by)
            conn.execute(update(items).where(items.c.kind == _SETTINGS[0])
                         .values(version=row.version + 1, data=payload, updated_by=actor, updated_at=_now()))
            self._audit(conn, *_SETTINGS, row.version + 1, "update", row.data, payload, actor)
            self._bump(conn)
        return int(row.version) + 1

    def history(self, kind: str, item_id: str) -> builtins.list[HistoryEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(history).where(history.c.kind == kind, history.c.item_id == item_id).order_by(history.c.id)
            )
            return [
                HistoryEntry(
                    r.version, r.action, json.loads(r.before) if r.before else None,
                    json.loads(r.after) if r.after else None, r.actor, r.at,
                )
                for r in rows
            ]

    # ------------------------------------------------------------- internals
    def _write(self, conn: Any, kind: str, item_id: str, before: str | None, after: str,
               version: int, action: str, actor: str, position: int) -> None:
        if before is None:
            conn.execute(insert(items).values(kind=kind, item_id=item_id, version=version, data=after,
                                              position=position, updated_by=actor, updated_at=_now()))
        else:
            conn.execute(update(items).where(items.c.kind == kind, items.c.item_id == item_id)
                         .values(version=version, data=after, position=position, updated_by=actor,
                                 updated_at=_now()))
        if before != after:
            self._audit(conn, kind, item_id, version, action, before, after, actor)

    def _delete(self, conn: Any, kind: str, item_id: str, before: str, version: int, actor: str) -> None:
        conn.execute(items.delete().where(items.c.kind == kind, items.c.item_id == item_id))
        self._audit(conn, kind, item_id, version, "delete", before, None, actor)

    @staticmethod
    def _audit(conn: Any, kind: str, item_id: str, version: int, action: str,
               before: str | None, after: str | None, actor: str) -> None:
        conn.execute(insert(history).values(kind=kind, item_id=item_id, version=version, action=action,
                                            before=before, after=after, actor=actor, at=_now()))

    @staticmethod
    def _bump(conn: Any) -> int:
        row = conn.execute(select(meta.c.value).where(meta.c.key == "revision")).first()
        revision = (int(row[0]) if row else 0) + 1
        if row is None:
            conn.execute(insert(meta).values(key="revision", value=str(revision)))
        else:
            conn.execute(update(meta).where(meta.c.key == "revision").values(value=str(revision)))
        return revision


def _settings_of(book: Phrasebook) -> dict[str, Any]:
    data = book.model_dump(mode="json", by_alias=True)
    return {key: data[key] for key in ("allow", "placeholders", "response", "policy", "qa")}
