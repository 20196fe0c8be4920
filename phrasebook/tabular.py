"""Reply templates as CSV, for supervisors who keep phrases in a spreadsheet.

Lists (intents, tags) are ``|``-separated and the variant is ``key=value`` pairs joined by
``|``, so a round trip through Excel or WPS is lossless.  A broken row is reported with
``file:line`` and skipped; the other rows still import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from pydantic import ValidationError

from .schema import Phrasebook, Template

__all__ = ["CSV_COLUMNS", "templates_to_csv", "templates_from_csv", "merge_templates", "CsvProblem"]

CSV_COLUMNS = ("id", "intents", "text", "tags", "variant", "status", "author", "version", "source")


class CsvProblem(ValueError):
    """The CSV as a whole cannot be read (encoding or header)."""


def templates_to_csv(templates: Iterable[Template]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in templates:
        writer.writerow([
            t.id, "|".join(t.intents), t.text, "|".join(t.tags),
            "|".join(f"{k}={v}" for k, v in t.variant.items()), t.status, t.author, t.version, t.source,
        ])
    return buffer.getvalue()


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def templates_from_csv(data: bytes, origin: str = "<csv>") -> tuple[list[Template], list[str]]:
    """(templates, problems); each problem is ``origin:line: what was wrong``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvProblem(f"{origin}:{line}: 不是 UTF-8 编码（请在 Excel 中另存为“CSV UTF-8”）") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("id", "intents", "text") if c not in (reader.fieldnames or [])]
    if missing:
        raise CsvProblem(f"{origin}:1: 缺少列 {missing}（需要 {', '.join(CSV_COLUMNS)}）")
    templates: list[Template] = []
    problems: list[str] = []
    for row in reader:
        where = f"{origin}:{reader.line_num}"
        if None in row:
            problems.append(f"{where}: 列数比表头多（文本里的逗号要用引号括起来）")
            continue
        try:
            variant = dict(pair.split("=", 1) for pair in _split(row.get("variant") or ""))
            templates.append(Template.model_validate({
                "id": (row.get("id") or "").strip(),
                "intents": _split(row.get("intents") or ""),
                "text": row.get("text") or "",
                "tags": _split(row.get("tags") or ""),
                "variant": variant,
                "status": (row.get("status") or "draft").strip(),
                "author": row.get("author") or "",
                "version": int(row.get("version") or 1),
                "source": row.get("source") or "",
            }))
        except ValidationError as exc:
            first = exc.errors()[0]
            problems.append(f"{where}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return templates, problems


def merge_templates(book: Phrasebook, templates: Iterable[Template]) -> Phrasebook:
    """``book`` with ``templates`` added or replacing those with the same id (a CSV import).

    Raises ``pydantic.ValidationError`` (a ``ValueError``) if the result is inconsistent, e.g. a
    template names an unknown intent or placeholder.
    """
    by_id = {t.id: t for t in book.templates}
    by_id.update({t.id: t for t in templates})
    return Phrasebook.model_validate({**book.model_dump(mode="json", by_alias=True),
                                      "templates": [t.model_dump(mode="json") for t in by_id.values()]})
