"""Reading line-oriented input safely: every line becomes a text or a clear problem, never a crash.

Used by ``coach check`` and ``coach classify``: bad UTF-8, empty and huge lines are reported
per line (with the line number) and the rest of the input is still processed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["Line", "read_lines", "MAX_LINE_CHARS"]

MAX_LINE_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    text: str | None
    problem: str | None = None


def read_lines(stream: BinaryIO, max_chars: int = MAX_LINE_CHARS) -> Iterator[Line]:
    """Yield each line of ``stream`` (bytes) decoded as UTF-8, or the reason it was skipped."""
    for number, raw in enumerate(stream, start=1):
        raw = raw.rstrip(b"\r\n")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Line(number, None, f"第 {number} 行不是有效的 UTF-8 文本（第 {exc.start + 1} 字节）/ line {number}: invalid UTF-8 at byte {exc.start + 1}")
            continue
        if not text.strip():
            yield Line(number, text, f"第 {number} 行是空行 / line {number}: empty line")
            continue
        if len(text) > max_chars:
            yield Line(number, None, f"第 {number} 行太长（{len(text)} 字，上限 {max_chars}）/ line {number}: {len(text)} characters, limit {max_chars}")
            continue
        yield Line(number, text)
