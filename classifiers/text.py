"""The one text normalisation used for matching, with a map back to the original offsets.

Agents and buyers write Traditional or Simplified, full-width letters, emoji and noise inside
words (不 知 道, 不.关.我.的.事).  Every matcher in the project works on the same *compact*
form: Traditional→Simplified (OpenCC's character table), full-width→half-width, ASCII
case-folded, and spaces, punctuation, symbols, emoji and zero-width characters removed.
Each compact character remembers where it came from, so a flag always points at the span of
what the agent actually typed.

The per-character table is built once from OpenCC (the well-kept source of the T→S mapping).
Short texts are mapped with ``str.translate``; longer ones as a UTF-32 array indexed into the
same table with NumPy, which also yields the offset map in one step (for a 160-character draft
that is about half the time of ``translate`` plus a Python-built map).
"""

from __future__ import annotations

import bisect
import re
import sys
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["Normalised", "normalise", "fold", "fold_visible", "CHINESE_DIGITS"]

_DROP = "\x00"  # placeholder for an ignorable character in the 1:1 folded form

#: Chinese numerals (and the 幺 used when reading phone numbers aloud) → ASCII digits.
CHINESE_DIGITS = {
    "零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    "壹": "1", "贰": "2", "叁": "3", "肆": "4", "伍": "5", "陆": "6", "柒": "7", "捌": "8", "玖": "9",
}

# Code point ranges holding Han characters that OpenCC may convert.
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF))
_SCAN_LIMIT = 0x20000  # categories are scanned below this; emoji live in 0x1F000-0x1FAFF


def _is_ignorable(ch: str) -> bool:
    """Spaces, punctuation, symbols (incl. emoji) and format characters (zero-width)."""
    cat = unicodedata.category(ch)
    return cat[0] in "PZSC"


@lru_cache(maxsize=1)
def _tables() -> tuple[str, str]:
    """(fold table, visible fold table), built once per process.

    Each table is a string indexed by code point (``str.translate`` accepts any sequence):
    indexing a string is ~1.5× faster than a dict lookup that misses for most characters.
    Code points past the table's end are left unchanged.  (Surrogates never occur in ``str``.)
    """
    import opencc  # imported lazily: building the table is the only use

    converter = opencc.OpenCC("t2s")
    han = [chr(cp) for lo, hi in _HAN_RANGES for cp in range(lo, hi + 1)]
    converted = converter.convert("\n".join(han)).split("\n")
    simplified: dict[int, str] = {}
    if len(converted) == len(han):
        for src, dst in zip(han, converted, strict=True):
            if dst != src and len(dst) == 1:
                simplified[ord(src)] = dst
    fold: dict[int, str] = dict(simplified)
    visible: dict[int, str] = dict(simplified)
    for cp in range(_SCAN_LIMIT):
        if cp in fold or 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if 0xFF01 <= cp <= 0xFF5E:  # full-width ASCII
            half = chr(cp - 0xFEE0).lower()
            fold[cp] = _DROP if _is_ignorable(half) else half
            visible[cp] = half
            continue
        if "A" <= ch <= "Z":
            fold[cp] = visible[cp] = ch.lower()
            continue
        if ch.isdigit() and not ch.isascii():  # ①, ⓪, ９, ❶, superscripts ...
            digit = unicodedata.digit(ch, None)
            if digit is not None:
                fold[cp] = visible[cp] = str(digit)
                continue
        if _is_ignorable(ch):
            fold[cp] = _DROP
    for cp in range(0x1F000, 0x1FB00):  # emoji and pictographs
        fold[cp] = _DROP
    return _as_string(fold), _as_string(visible)


def _as_string(mapping: dict[int, str]) -> str:
    size = max(mapping, default=0) + 1
    table = [chr(cp) if not 0xD800 <= cp <= 0xDFFF else "\x00" for cp in range(size)]
    for cp, value in mapping.items():
        table[cp] = value
    return "".join(table)


_ARRAY_FROM = 80  # below this many characters ``str.translate`` is faster than NumPy's fixed cost


@lru_cache(maxsize=1)
def _arrays() -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """The two tables as arrays over every code point (4.4 MB each), so indexing needs no bounds check."""
    arrays = []
    for table in _tables():
        full = np.arange(sys.maxunicode + 1, dtype=np.uint32)
        full[:len(table)] = np.frombuffer(table.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        arrays.append(full)
    return arrays[0], arrays[1]


def _fold_array(text: str, which: int) -> npt.NDArray[np.uint32]:
    """Code points of ``text`` mapped through table ``which``."""
    return _arrays()[which][np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)]


def _as_text(points: npt.NDArray[np.uint32]) -> str:
    return points.tobytes().decode("utf-32-le", "surrogatepass")


def _folded(text: str, which: int) -> str:
    """``text`` mapped through table ``which`` (0 = fold, 1 = visible fold), by the faster route."""
    if len(text) < _ARRAY_FROM:
        return text.translate(_tables()[which])
    return _as_text(_fold_array(text, which))


def fold(text: str) -> str:
    """Same length as ``text``: simplified, half-width, lower-case; ignorables become NUL."""
    return _folded(text, 0)


def fold_visible(text: str) -> str:
    """Like ``fold`` but punctuation and spaces stay (for links and other punctuated shapes)."""
    return _folded(text, 1)


class Normalised:
    """The compact form of ``original`` and where each of its characters came from.

    The offset map is built lazily: most drafts have no hit, so most never need it.
    """

    __slots__ = ("original", "text", "_kept", "_offsets")

    def __init__(self, original: str, text: str, offsets: Sequence[int] | None = None,
                 kept: npt.NDArray[np.bool_] | str | None = None) -> None:
        self.original = original
        self.text = text
        self._offsets = offsets
        # Until the map is needed: which original characters were kept (a boolean array) or
        # the 1:1 folded string with NULs where characters were dropped.
        self._kept = kept

    @property
    def offsets(self) -> Sequence[int] | None:
        """offsets[i] = index in original of text[i]; None = identity."""
        if self._offsets is None and self._kept is not None:
            kept = self._kept
            if isinstance(kept, str):
                self._offsets = [i for i, ch in enumerate(kept) if ch != _DROP]
            else:
                self._offsets = np.flatnonzero(kept).tolist()
            self._kept = None
        return self._offsets

    def origin(self, index: int) -> int:
        """Original index of compact character ``index``."""
        offsets = self.offsets
        return index if offsets is None else offsets[index]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``[start, end)`` covering compact ``[start, end)`` (end exclusive)."""
        if end <= start:
            pos = self.origin(start) if start < len(self.text) else len(self.original)
            return pos, pos
        return self.origin(start), self.origin(end - 1) + 1

    def without(self, drop: frozenset[str]) -> Normalised:
        """A further-compacted view without the characters in ``drop`` (e.g. digits as noise)."""
        keep = [i for i, ch in enumerate(self.text) if ch not in drop]
        if len(keep) == len(self.text):
            return self
        offsets = self.offsets
        origins = keep if offsets is None else [offsets[i] for i in keep]
        return Normalised(self.original, "".join(map(self.text.__getitem__, keep)), origins)


def normalise(text: str) -> Normalised:
    """Map ``text`` to its compact matching form, keeping the offset map back to ``text``."""
    if len(text) < _ARRAY_FROM:
        folded = fold(text)
        if _DROP not in folded:
            return Normalised(text, folded)
        return Normalised(text, folded.replace(_DROP, ""), kept=folded)
    points = _fold_array(text, 0)
    kept = points != 0
    compact = _as_text(points[kept])
    return Normalised(text, compact, kept=kept if len(compact) < len(text) else None)


_SENTENCE_END = re.compile(r"[。！？!?；;\n～~…]")


def sentence_starts(text: str) -> list[int]:
    """Original indices where a new sentence begins (after 。！？!?；;~～ or a line break)."""
    return [0, *(m.end() for m in _SENTENCE_END.finditer(text))]


def sentence_of(starts: list[int], index: int) -> int:
    """Which sentence (by ``sentence_starts``) the original ``index`` falls in."""
    return bisect.bisect_right(starts, index) - 1
