"""REST routes of the supervisor console (the page itself is ``GET /console``).

Supervisors (role ``supervisor``) curate the phrasebook here; QA staff and supervisors upload
transcripts and read scorecards.  Each route checks its role on the server (``require``), every
change is audited (``Store.audit``) and every phrasebook change is published: the policy is
rebuilt once and ``phrasebook_updated`` is pushed to every connected agent.

Phrasebook (supervisor)::

    GET  /api/console/me                          who am I (any role; the page's login)
    GET  /api/console/meta                        intents, categories, placeholders, variants, tags
    GET  /api/console/items/{kind}?q&intent&status&tag&category&severity
    GET  /api/console/items/{kind}/{id}           one item with version, who and when
    POST /api/console/check/{kind}                live check while typing: errors with where, flags,
                                                  and for rules the "test this rule" run
    PUT  /api/console/items/{kind}                save (optimistic ``version``; 409 carries both sides)
    POST /api/console/items/template/{id}/status  draft → approved → retired
    GET  /api/console/items/{kind}/{id}/history   versions with per-field changes
    GET|PUT /api/console/settings                 shifts and limits, variants, placeholders, allow-list
    POST /api/console/try                         a buyer message → intents, evidence, suggestions
    GET  /api/console/export?format=yaml|json|csv
    POST /api/console/import                      preview, then apply (``apply=true``)
    GET  /api/console/audit

QA routes are in ``qa_api.py``.

Errors are ``{"detail": {"message": "中文 / English", "errors": [{"loc", "message"}]}}``.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError

from classifiers.wording import CheckContext, Checker, Flag
from phrasebook.files import PhrasebookError, dump, load_file
from phrasebook.schema import PLACEHOLDER_RE, RULE_CATEGORIES, Phrasebook, Template, WordingRule
from phrasebook.storage import KINDS, EditConflict, NotFound
from phrasebook.tabular import CsvProblem, merge_templates, templates_from_csv, templates_to_csv

from ..policy import CompiledPolicy
from .api_errors import ClearErrors, problem, pydantic_errors
from .hub import Hub
from .store import TokenInfo

__all__ = ["console_router", "STATUS_NAMES", "TRANSITIONS"]

STATIC = Path(__file__).with_name("static")
STATUS_NAMES = {"draft": "草稿", "approved": "已审核", "retired": "已停用"}
#: The template workflow: (from, to) → the action's Chinese name.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "approved"): "审核通过",
    ("approved", "retired"): "停用",
    ("draft", "retired"): "弃用草稿",
    ("retired", "draft"): "重新启用为草稿",
}
MAX_IMPORT_BYTES = 50 * 1024 * 1024
_SECTION = {"intent": "intents", "template": "templates", "rule": "rules"}
_BRACES = re.compile(r"\{[^{}\n]*\}")
_SETTINGS_KEYS = ("allow", "placeholders", "response", "policy", "qa")

# --------------------------------------------------------------------------- bodies
class ItemBody(BaseModel):
    data: dict[str, Any]
    version: int | None = None  # the version the editor loaded; None = create


class CheckBody(BaseModel):
    data: dict[str, Any]
    version: int | None = None
    texts: list[str] = Field(default_factory=list, max_length=50)  # rules: typed test texts


class StatusBody(BaseModel):
    status: Literal["draft", "approved", "retired"]
    version: int


class SettingsBody(BaseModel):
    settings: dict[str, Any]
    version: int


class TryBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    variables: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- phrasebook helpers
def _flag(flag: Flag) -> dict[str, Any]:
    return flag.to_dict()


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Top-level fields that differ between two versions of an item."""
    before, after = before or {}, after or {}
    keys = list(dict.fromkeys([*before, *after]))
    return [{"field": k, "before": before.get(k), "after": after.get(k)} for k in keys if before.get(k) != after.get(k)]


def _with_item(book: Phrasebook, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The book's document with ``data`` replacing (or appended as) the item of the same id."""
    document = book.model_dump(mode="json", by_alias=True)
    section = document[_SECTION[kind]]
    for index, existing in enumerate(section):
        if existing["id"] == data["id"]:
            section[index] = data
            break
    else:
        section.append(data)
    return document


def _template_problems(book: Phrasebook, template: Template) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(errors, warnings) of a template in the context of the whole phrasebook, each with where."""
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    intents = {i.id for i in book.intents}
    for index, intent in enumerate(template.intents):
        if intents and intent not in intents:
            errors.append({"loc": f"intents.{index}", "message": f"未知意图 {intent} / unknown intent {intent!r}"})
    known = book.placeholders
    for match in _BRACES.finditer(template.text):
        name = match.group()[1:-1]
        if not PLACEHOLDER_RE.fullmatch(match.group()):
            errors.append({"loc": "text", "message": f"占位符 {match.group()} 写法不对，应为 {{order_no}} 这样的小写英文名"
                                                     f" / malformed placeholder {match.group()}"})
        elif known and name not in known:
            errors.append({"loc": "text", "message": f"未知占位符 {match.group()}（可用：{'、'.join(known)}）"
                                                     f" / unknown placeholder {match.group()}"})
    stray = _BRACES.sub("", template.text)
    if "{" in stray or "}" in stray:
        warnings.append({"loc": "text", "message": "文本里有不成对的花括号 / unbalanced brace in text"})
    for key, value in template.variant.items():
        options = book.policy.choices.get(key)
        if options is None:
            warnings.append({"loc": f"variant.{key}", "message": f"店铺政策里没有 {key} 这一项，模板会对所有店铺显示"
                                                                f" / no shop policy {key!r}: shown to every shop"})
        elif value not in options:
            errors.append({"loc": f"variant.{key}", "message": f"{key} 只能是 {'、'.join(options)} / "
                                                               f"unknown variant {key}={value}"})
    return errors, warnings


def _rule_test(book: Phrasebook, rule: WordingRule, texts: Iterable[str]) -> dict[str, Any]:
    """Run the rule's own examples and ``texts`` through a checker built with this version of it."""
    tested = rule if rule.enabled else rule.model_copy(update={"enabled": True})
    rules = [tested if r.id == rule.id else r for r in book.rules]
    if all(r.id != rule.id for r in book.rules):
        rules.append(tested)
    checker = Checker(rules, book.allow)

    def run(text: str) -> tuple[bool, list[dict[str, Any]]]:
        flags = checker.check(text)
        return any(f.rule == rule.id for f in flags), [_flag(f) for f in flags]

    examples = []
    for expect, items in (("flag", rule.examples.flag), ("pass", rule.examples.pass_)):
        for text in items:
            hit, flags = run(text)
            examples.append({"text": text, "expect": expect, "hit": hit, "ok": hit == (expect == "flag"),
                             "flags": flags})
    typed = []
    for text in texts:
        if text.strip():
            hit, flags = run(text)
            typed.append({"text": text, "hit": hit, "flags": flags})
    return {"examples": examples, "texts": typed, "failed": sum(not e["ok"] for e in examples),
            "enabled": rule.enabled}


def _check_item(book: Phrasebook, policy: CompiledPolicy, kind: str, data: dict[str, Any],
                texts: Iterable[str] = ()) -> dict[str, Any]:
    """Everything the editor shows while typing; ``errors`` non-empty means it cannot be saved."""
    result: dict[str, Any] = {"errors": [], "warnings": [], "flags": []}
    try:
        item = KINDS[kind].model_validate(data)
    except ValidationError as exc:
        result["errors"] = pydantic_errors(exc.errors())
        return result
    if isinstance(item, Template):
        errors, warnings = _template_problems(book, item)
        result["errors"] += errors
        result["warnings"] += warnings
        fallbacks = {name: p.fallback for name, p in book.placeholders.items()}
        preview = PLACEHOLDER_RE.sub(lambda m: fallbacks.get(m.group(1), m.group(0)), item.text)
        flags = policy.checker.check(preview)
        result["preview"] = preview
        result["placeholders"] = list(item.placeholders)
        result["flags"] = [_flag(f) for f in flags]
        if item.status == "approved" and any(f.severity == "block" for f in flags):
            result["errors"].append({"loc": "text", "message": "已审核的模板不能含拦截级用语（客服会被拦截）"
                                                               " / an approved template must pass the draft checker"})
    elif isinstance(item, WordingRule):
        test = _rule_test(book, item, texts)
        result["test"] = test
        if item.enabled and test["failed"]:
            bad = [e["text"] for e in test["examples"] if not e["ok"]]
            result["errors"].append({"loc": "examples", "message": f"{len(bad)} 个例子不符合预期：{'、'.join(bad[:5])}"
                                                                   f" / {len(bad)} example(s) fail"})
    if not result["errors"]:
        try:
            Phrasebook.model_validate(_with_item(book, kind, item.model_dump(mode="json", by_alias=True)))
        except ValidationError as exc:
            result["errors"] += pydantic_errors(exc.errors(), prefix=("phrasebook",))
    return result


def _conflict(store: Any, kind: str, item_id: str, yours: dict[str, Any], exc: EditConflict) -> HTTPException:
    """409 with both versions (and the one both started from) so the editor can merge."""
    if kind in KINDS:  # compare like with like: fields the editor left out take their defaults
        try:
            yours = KINDS[kind].model_validate(yours).model_dump(mode="json", by_alias=True)
        except ValidationError:
            pass
    theirs = store.phrasebook.entry(kind, item_id)
    base = next((h.after for h in store.phrasebook.history(kind, item_id) if h.version == exc.expected), None)
    fields = []
    if theirs is not None:
        keys = list(dict.fromkeys([*(base or {}), *theirs["data"], *yours]))
        for key in keys:
            b, t, y = (base or {}).get(key), theirs["data"].get(key), yours.get(key)
            if t != y:
                fields.append({"field": key, "base": b, "theirs": t, "yours": y,
                               "theirs_changed": base is not None and t != b,
                               "yours_changed": base is None or y != b})
    return problem(409, str(exc).split(" / ")[0], f"edit conflict: changed by {exc.actor} to version {exc.actual}",
                    conflict={"yours": yours, "theirs": theirs, "base": base, "base_version": exc.expected,
                              "fields": fields})


def _item_filter(kind: str, data: dict[str, Any], q: str, intent: str, status: str, tag: str,
                 category: str, severity: str) -> bool:
    if q and q.lower() not in json.dumps(data, ensure_ascii=False).lower():
        return False
    if kind == "template":
        return ((not intent or intent in data.get("intents", ())) and (not status or data.get("status") == status)
                and (not tag or tag in data.get("tags", ())))
    if kind == "rule":
        return (not category or data.get("category") == category) and (not severity or data.get("severity") == severity)
    return True


def _import_book(current: Phrasebook, name: str, data: bytes) -> tuple[Phrasebook, list[str], str]:
    """(book, skipped rows, format) from an uploaded YAML, JSON or template CSV."""
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        templates, problems = templates_from_csv(data, name)
        try:
            return merge_templates(current, templates), problems, "csv"
        except ValidationError as exc:
            raise PhrasebookError("\n".join(f"{name}: {e['msg'].removeprefix('Value error, ')}"
                                            for e in exc.errors())) from exc
    if suffix not in (".yaml", ".yml", ".json"):
        raise PhrasebookError(f"{name}: 只能导入 .yaml、.yml、.json 或 .csv / expected a YAML, JSON or CSV file")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"import{suffix}"
        path.write_bytes(data)
        try:
            return load_file(path), [], suffix.lstrip(".").replace("yml", "yaml")
        except PhrasebookError as exc:
            raise PhrasebookError(str(exc).replace(str(path), name)) from exc


def _book_changes(current: Phrasebook, new: Phrasebook) -> dict[str, list[str]]:
    def items(book: Phrasebook) -> dict[str, Any]:
        document = book.model_dump(mode="json", by_alias=True)
        out = {f"{kind}:{item['id']}": item for kind, key in _SECTION.items() for item in document[key]}
        out["settings"] = {k: document[k] for k in _SETTINGS_KEYS}
        return out

    old, fresh = items(current), items(new)
    return {"created": [k for k in fresh if k not in old], "deleted": [k for k in old if k not in fresh],
            "updated": [k for k in fresh if k in old and fresh[k] != old[k]]}


# --------------------------------------------------------------------------- the router
def console_router(hub_of: Callable[[Request], Hub], require: Callable[..., Callable[..., TokenInfo]]) -> APIRouter:
    """The console page and its API; ``require(*roles)`` is the app's role dependency."""
    router = APIRouter(route_class=ClearErrors)
    anyone = require()
    supervisor = require("supervisor")

    async def publish(hub: Hub, who: TokenInfo, action: str, detail: dict[str, Any]) -> int:
        return await hub.publish(who.name, who.role, action, detail)

    def known_kind(kind: str) -> str:
        if kind not in KINDS:
            raise problem(404, f"没有 {kind} 这类条目", f"unknown kind {kind!r} (expected one of: {', '.join(KINDS)})")
        return kind

    # ------------------------------------------------------------ page and identity
    @router.get("/console", include_in_schema=False)
    def console_page() -> FileResponse:
        return FileResponse(STATIC / "console.html")

    @router.get("/api/console/me")
    def me(who: TokenInfo = Depends(anyone)) -> dict[str, Any]:
        return {"name": who.name, "role": who.role}

    @router.get("/api/console/meta")
    def meta(request: Request, _: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        hub = hub_of(request)
        book = hub.policy.book
        return {
            "revision": book.revision, "model": hub.model is not None,
            "intents": [{"id": i.id, "name": i.name} for i in book.intents],
            "categories": RULE_CATEGORIES, "statuses": STATUS_NAMES,
            "transitions": [{"from": a, "to": b, "name": n} for (a, b), n in TRANSITIONS.items()],
            "placeholders": {k: v.model_dump() for k, v in book.placeholders.items()},
            "policy": book.policy.model_dump(mode="json"),
            "tags": sorted({tag for t in book.templates for tag in t.tags}),
        }

    # ------------------------------------------------------------ items
    @router.get("/api/console/items/{kind}")
    def list_items(kind: str, request: Request, q: str = "", intent: str = "", status: str = "", tag: str = "",
                   category: str = "", severity: str = "",
                   _: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        hub = hub_of(request)
        rows = []
        total = 0
        for data, version, by, at in hub.store.phrasebook.list(known_kind(kind)):
            total += 1
            if not _item_filter(kind, data, q.strip(), intent, status, tag, category, severity):
                continue
            row = {"data": data, "version": version, "updated_by": by, "updated_at": at.isoformat()}
            if kind == "template":
                flags = hub.policy.check_template(Template.model_validate(data))
                row["flags"] = {"block": sum(f.severity == "block" for f in flags),
                                "warn": sum(f.severity == "warn" for f in flags)}
            rows.append(row)
        return {"items": rows, "total": total, "revision": hub.policy.revision}

    @router.get("/api/console/items/{kind}/{item_id}")
    def get_item(kind: str, item_id: str, request: Request, _: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        entry = hub_of(request).store.phrasebook.entry(known_kind(kind), item_id)
        if entry is None:
            raise problem(404, f"没有 {kind} {item_id}", "not found")
        return entry

    @router.post("/api/console/check/{kind}")
    def check_item(kind: str, body: CheckBody, request: Request, _: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        hub = hub_of(request)
        return _check_item(hub.policy.book, hub.policy, known_kind(kind), body.data, body.texts)

    async def save(hub: Hub, kind: str, data: dict[str, Any], version: int | None, who: TokenInfo,
                   action: str) -> dict[str, Any]:
        store = hub.store
        book = await asyncio.to_thread(store.phrasebook.load)
        checked = _check_item(book, hub.policy, kind, data)
        if checked["errors"]:
            where = "；".join(f"{e['loc']}: {e['message']}" for e in checked["errors"][:3])
            raise problem(422, "内容不合法，未保存", f"invalid, not saved: {where}", checked["errors"])
        item_id = str(data["id"])
        try:
            new_version = await asyncio.to_thread(store.phrasebook.save, kind, data, version, who.name)
        except EditConflict as exc:
            raise await asyncio.to_thread(_conflict, store, kind, item_id, data, exc) from exc
        except NotFound as exc:
            raise problem(404, f"没有 {kind} {item_id}（可能已被删除）", "not found") from exc
        revision = await publish(hub, who, action, {"kind": kind, "id": item_id, "version": new_version})
        return {"version": new_version, "revision": revision, "warnings": checked["warnings"]}

    @router.put("/api/console/items/{kind}")
    async def save_item(kind: str, body: ItemBody, request: Request,
                        who: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        hub = hub_of(request)
        known_kind(kind)
        data = dict(body.data)
        item_id = str(data.get("id", ""))
        if kind == "template":
            stored = hub.store.phrasebook.entry(kind, item_id) if item_id else None
            old = (stored or {}).get("data", {}).get("status")
            new = data.get("status", "draft")
            if stored is None and body.version is None:
                if new != "draft":
                    raise problem(422, "新模板先存为草稿，再审核", "a new template starts as a draft",
                                   [{"loc": "status", "message": "新建时只能是草稿 / must be draft"}])
                data.setdefault("author", who.name)
            elif old is not None and new != old and (old, new) not in TRANSITIONS:
                raise problem(422, f"不能从{STATUS_NAMES.get(old, old)}改为{STATUS_NAMES.get(new, new)}",
                               f"status {old} → {new} is not allowed",
                               [{"loc": "status", "message": "请用审核/停用按钮 / use the workflow"}])
        return await save(hub, kind, data, body.version, who, f"save {kind}")

    @router.post("/api/console/items/template/{item_id}/status")
    async def set_status(item_id: str, body: StatusBody, request: Request,
                         who: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        hub = hub_of(request)
        entry = await asyncio.to_thread(hub.store.phrasebook.entry, "template", item_id)
        if entry is None:
            raise problem(404, f"没有模板 {item_id}", "no such template")
        old = entry["data"].get("status", "draft")
        if (old, body.status) not in TRANSITIONS:
            allowed = "、".join(f"{STATUS_NAMES[b]}" for a, b in TRANSITIONS if a == old)
            raise problem(422, f"{STATUS_NAMES.get(old, old)}的模板不能改为{STATUS_NAMES[body.status]}（可改为：{allowed}）",
                           f"status {old} → {body.status} is not allowed",
                           [{"loc": "status", "message": f"{old} → {body.status}"}])
        if body.version != entry["version"]:
            exc = EditConflict("template", item_id, body.version, entry["version"], entry["updated_by"])
            raise await asyncio.to_thread(_conflict, hub.store, "template", item_id,
                                          dict(entry["data"], status=body.status), exc)
        data = dict(entry["data"], status=body.status)
        result = await save(hub, "template", data, body.version, who, f"template {old} → {body.status}")
        return result | {"status": body.status}

    @router.get("/api/console/items/{kind}/{item_id}/history")
    def history(kind: str, item_id: str, request: Request, _: TokenInfo = Depends(supervisor)) -> list[dict[str, Any]]:
        if kind != "settings":
            known_kind(kind)
        entries = hub_of(request).store.phrasebook.history(kind, item_id)
        return [{"version": h.version, "action": h.action, "actor": h.actor, "at": h.at.isoformat(),
                 "before": h.before, "after": h.after, "changes": _changes(h.before, h.after)}
                for h in reversed(entries)]

    # ------------------------------------------------------------ settings
    @router.get("/api/console/settings")
    def get_settings(request: Request, _: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        entry = hub_of(request).store.phrasebook.entry("settings", "settings")
        if entry is None:
            raise problem(404, "没有店铺设置", "no settings stored")
        return {"settings": entry.pop("data")} | entry

    @router.put("/api/console/settings")
    async def put_settings(body: SettingsBody, request: Request, who: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        hub = hub_of(request)
        unknown = sorted(set(body.settings) - set(_SETTINGS_KEYS))
        if unknown:
            raise problem(422, f"不认识的设置 {unknown}", f"unknown settings (expected {', '.join(_SETTINGS_KEYS)})",
                           [{"loc": f"settings.{k}", "message": "不认识的字段 / unknown"} for k in unknown])
        before = await asyncio.to_thread(hub.store.phrasebook.entry, "settings", "settings")
        try:
            version = await asyncio.to_thread(hub.store.phrasebook.save_settings, body.settings, body.version, who.name)
        except ValidationError as exc:
            errors = pydantic_errors(exc.errors(), prefix=("settings",))
            raise problem(422, "设置不合法，未保存", "invalid settings, not saved: "
                           + "; ".join(f"{e['loc']}: {e['message']}" for e in errors[:3]), errors) from exc
        except EditConflict as exc:
            raise await asyncio.to_thread(_conflict, hub.store, "settings", "settings",
                                          {**(before or {}).get("data", {}), **body.settings}, exc) from exc
        except ValueError as exc:
            raise problem(422, "设置不合法，未保存", str(exc), [{"loc": "settings", "message": str(exc)}]) from exc
        changed = [k for k in body.settings if (before or {}).get("data", {}).get(k) != body.settings[k]]
        revision = await publish(hub, who, "save settings", {"version": version, "changed": changed})
        return {"version": version, "revision": revision, "changed": changed}

    # ------------------------------------------------------------ try a message
    @router.post("/api/console/try")
    def try_message(body: TryBody, request: Request, _: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        from ..qa.classify import keyword_classifier
        from ..suggest import suggest

        hub = hub_of(request)
        policy = hub.policy
        prediction = policy.model.predict(body.text) if policy.model else keyword_classifier(policy.book)(body.text)
        names = {i.id: i.name for i in policy.book.intents}
        suggestions = suggest(policy, prediction, body.text, body.variables, hub.usage)
        reminders = [{"intent": s.intent, "obligation": o.id, "description": o.description}
                     for s in prediction.intents for o in policy.book.obligations_for(s.intent)]
        found = prediction.to_dict()
        return {
            "text": body.text, "intent": prediction.intent, "classifier": "model" if policy.model else "keywords",
            "intents": [dict(i, name=names.get(i["intent"], i["intent"])) for i in found["intents"]],
            "evidence": found["evidence"], "suggestions": [s.to_dict() for s in suggestions],
            "reminders": reminders, "revision": policy.revision,
            "flags": [_flag(f) for f in policy.checker.check(body.text, CheckContext())],
        }

    # ------------------------------------------------------------ import / export / audit
    @router.get("/api/console/export")
    def export(request: Request, format: Literal["yaml", "json", "csv"] = "yaml",
               who: TokenInfo = Depends(supervisor)) -> Response:
        book = hub_of(request).store.phrasebook.load()
        text = templates_to_csv(book.templates) if format == "csv" else dump(book, format)
        media = {"yaml": "application/yaml", "json": "application/json", "csv": "text/csv"}[format]
        name = f"phrasebook-r{book.revision}.{format}"
        return Response(text.encode("utf-8"), media_type=f"{media}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.post("/api/console/import")
    async def import_book(request: Request, file: Annotated[UploadFile, File()],
                          apply: Annotated[bool, Form()] = False,
                          expected_revision: Annotated[int | None, Form()] = None,
                          who: TokenInfo = Depends(supervisor)) -> dict[str, Any]:
        hub = hub_of(request)
        name = file.filename or "upload"
        data = await file.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise problem(413, "文件太大", f"file larger than {MAX_IMPORT_BYTES} bytes")
        current = await asyncio.to_thread(hub.store.phrasebook.load)
        try:
            book, skipped, fmt = await asyncio.to_thread(_import_book, current, name, data)
        except (PhrasebookError, CsvProblem) as exc:
            lines = str(exc).splitlines()
            raise problem(422, "无法导入，未做任何修改", f"cannot import, nothing changed: {lines[0]}",
                           [{"loc": line.split(": ")[0] if ": " in line else name, "message": line} for line in lines]
                           ) from exc
        changes = _book_changes(current, book)
        result: dict[str, Any] = {"file": name, "format": fmt, "skipped": skipped, "changes": changes,
                                  "revision": current.revision, "applied": False,
                                  "counts": {"intents": len(book.intents), "templates": len(book.templates),
                                             "rules": len(book.rules)}}
        if not apply:
            return result
        if expected_revision is not None and expected_revision != current.revision:
            raise problem(409, f"话术库在预览后又被修改（现在是第 {current.revision} 版），请重新预览",
                           f"phrasebook changed since the preview (now revision {current.revision})")
        await asyncio.to_thread(hub.store.phrasebook.replace_all, book, who.name)
        revision = await publish(hub, who, "import phrasebook", {
            "file": name, "format": fmt, **{k: len(v) for k, v in changes.items()}, "skipped": len(skipped)})
        return result | {"applied": True, "revision": revision}

    @router.get("/api/console/audit")
    def audit_log(request: Request, limit: int = Query(200, ge=1, le=2000), action: str = "",
                  _: TokenInfo = Depends(supervisor)) -> list[dict[str, Any]]:
        rows = hub_of(request).store.audit_log(limit)
        return [r for r in rows if not action or action in r["action"]]

    return router
