"""Labelled messages: reading the JSONL corpus and fingerprinting it.

A corpus line is ``{"text": ..., "intents": [...]}`` (``split`` optional).  Bad lines are
reported with file:line and skipped, never fatal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Example", "read_jsonl", "data_hash", "DATA_DIR", "LABELS", "load_split"]

DATA_DIR = Path(__file__).with_name("data")
LABELS = (
    "bargaining", "colour_difference", "delivery_chase", "damage", "missing_item", "quality_issue",
    "not_as_described", "return_exchange", "service_complaint", "order_change", "product_inquiry",
    "shipping_inquiry", "greeting", "other",
)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intents: tuple[str, ...]  # ("other",) when nothing else fits


def read_jsonl(path: Path, problems: list[str] | None = None) -> Iterator[Example]:
    """Examples in ``path``; unreadable lines go to ``problems`` as ``file:line: reason``."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8"))
                text = item["text"]
                intents = item.get("intents") or []
                if not isinstance(text, str) or not isinstance(intents, list):
                    raise TypeError("text must be a string and intents a list")
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                if problems is not None:
                    problems.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            unknown = [i for i in intents if i not in LABELS]
            if unknown:
                if problems is not None:
                    problems.append(f"{where}: unknown intents {unknown}")
                continue
            real = tuple(i for i in intents if i != "other")
            yield Example(text, real or ("other",))


def load_split(name: str) -> list[Example]:
    """The bundled ``train``/``dev``/``test`` split."""
    return list(read_jsonl(DATA_DIR / f"{name}.jsonl"))


def data_hash(examples: Iterable[Example]) -> str:
    """SHA-256 over the sorted examples: the model records which data trained it."""
    digest = hashlib.sha256()
    for line in sorted(json.dumps([e.text, sorted(e.intents)], ensure_ascii=False) for e in examples):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()
