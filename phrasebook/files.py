"""Reading and writing the phrasebook as human-editable files (a YAML folder or one document).

The bundled default lives in ``phrasebook/default/`` as one YAML file per kind.  Export writes
one self-contained YAML or JSON document; import reads either back.  Errors name the file and
the item so a supervisor can fix a typo without reading a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import Phrasebook

__all__ = ["PhrasebookError", "DEFAULT_DIR", "load_dir", "load_default", "load_file", "dump", "to_document"]

DEFAULT_DIR = Path(__file__).with_name("default")
_SECTION_FILES = {
    "intents.yaml": ("intents",),
    "templates.yaml": ("templates",),
    "rules.yaml": ("rules", "allow"),
    "policy.yaml": ("revision", "response", "policy", "placeholders", "qa"),
}


class PhrasebookError(ValueError):
    """A phrasebook file that cannot be read; the message says where and what."""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise PhrasebookError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise PhrasebookError(f"{path}{where}: YAML error: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PhrasebookError(f"{path}: expected a mapping at the top level")
    return data


def _validate(document: dict[str, Any], origin: str) -> Phrasebook:
    try:
        return Phrasebook.model_validate(document)
    except ValidationError as exc:
        lines = []
        for error in exc.errors()[:20]:
            loc = list(error["loc"])
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 2 and isinstance(loc[1], int):
                items = document.get(str(loc[0])) or []
                if loc[1] < len(items) and isinstance(items[loc[1]], dict) and "id" in items[loc[1]]:
                    where += f" (id {items[loc[1]]['id']})"
            lines.append(f"{origin}: {where}: {error['msg']}")
        raise PhrasebookError("\n".join(lines)) from exc


def load_dir(folder: Path) -> Phrasebook:
    """Load a phrasebook folder laid out like ``phrasebook/default``."""
    document: dict[str, Any] = {}
    for name, sections in _SECTION_FILES.items():
        path = folder / name
        if not path.exists():
            continue
        data = _read_yaml(path)
        unknown = set(data) - set(sections)
        if unknown:
            raise PhrasebookError(f"{path}: unexpected sections {sorted(unknown)} (expected {list(sections)})")
        document.update(data)
    return _validate(document, str(folder))


def load_default() -> Phrasebook:
    """The phrasebook shipped with the package."""
    return load_dir(DEFAULT_DIR)


def load_file(path: Path) -> Phrasebook:
    """Load an exported document (``.yaml``/``.yml``/``.json``) or a phrasebook folder."""
    if path.is_dir():
        return load_dir(path)
    if path.suffix == ".json":
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PhrasebookError(f"{path}: not valid UTF-8 JSON: {exc}") from exc
    else:
        document = _read_yaml(path)
    return _validate(document, str(path))


def to_document(book: Phrasebook) -> dict[str, Any]:
    """Plain data of the whole phrasebook, the form every export uses."""
    return book.model_dump(mode="json", by_alias=True, exclude_defaults=False)


def dump(book: Phrasebook, fmt: str = "yaml") -> str:
    """Serialise ``book`` as one YAML or JSON document that ``load_file`` reads back unchanged."""
    document = to_document(book)
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000)
