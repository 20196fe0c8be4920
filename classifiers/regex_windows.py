"""Where regex wording rules look: windows of the draft and the digits view.

A regex tried at every position of a 160-character draft costs microseconds, and most rules
can only match near something rare: a long run of digits (phone and QQ numbers) or a required
literal (喂, 好评).  These helpers cut the draft into the windows worth scanning, keeping
enough context at each edge that a match in a window is exactly a match in the whole text
(tests/test_rules.py checks that on random drafts).
"""

from __future__ import annotations

import re

from .text import CHINESE_DIGITS, Normalised

__all__ = ["DIGIT_CLASS", "DIGIT_RUN", "DigitsView", "digit_windows", "digits_of", "merged_windows"]

DIGIT_CLASS = "[0-9" + "".join(CHINESE_DIGITS) + "]"
DIGIT_RUN = re.compile(DIGIT_CLASS + "{4,}")
_DIGIT_TABLE = str.maketrans(CHINESE_DIGITS)
_DIGIT_LIKE = frozenset("0123456789" + "".join(CHINESE_DIGITS))
_WINDOW_BEFORE = 8  # characters kept before a digit run: room for 扣扣号是 / QQ为 / 企鹅号


def digits_of(run: re.Match[str]) -> str:
    """A run of digit-like characters (一三八, 幺) as ASCII digits."""
    return run.group().translate(_DIGIT_TABLE)


class DigitsView:
    """The compact text with digit runs read as ASCII digits (same length, same offsets).

    Only runs of four or more digit-like characters (一三八…, ①③⑧ are already digits after
    folding) are translated: phone and QQ numbers are long runs, while 一下 or 三天 are not.
    """

    __slots__ = ("text", "_compact")

    def __init__(self, compact: Normalised) -> None:
        self.text = DIGIT_RUN.sub(digits_of, compact.text)
        self._compact = compact

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self._compact.span(start, end)


def merged_windows(spans: list[tuple[int, int]], reach: int, length: int,
                   digits_in: str | None = None) -> list[tuple[int, int]]:
    """``[start - reach, end + reach)`` around each span, clipped to ``[0, length)``, overlaps merged.

    Merging keeps every literal at least ``reach`` characters from a window edge (or at the
    real edge of the text), so a lookbehind or ``^`` shorter than ``reach`` sees what it would
    see in the whole text.  With ``digits_in`` a window also never cuts a run of digit-like
    characters, so the digits view of a window reads as that part of the whole view.
    """
    windows: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        ws, we = max(0, start - reach), min(length, end + reach)
        if digits_in is not None:
            while ws > 0 and digits_in[ws - 1] in _DIGIT_LIKE and digits_in[ws] in _DIGIT_LIKE:
                ws -= 1
            while we < length and digits_in[we] in _DIGIT_LIKE and digits_in[we - 1] in _DIGIT_LIKE:
                we += 1
        if windows and ws <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], we))
        else:
            windows.append((ws, we))
    return windows


def digit_windows(text: str, runs: list[tuple[int, int]], min_digits: int, translate: bool) -> list[tuple[str, int]]:
    """Windows of ``text`` around each maximal digit run of ``min_digits`` or more, as (window, start).

    With ``translate`` a window reads like the digits view (runs of four or more digit-like
    characters as ASCII digits).  A window ends where its run ends, so a lookahead such as
    ``(?!\\d)`` sees what it would see in the whole text (the run is maximal).
    """
    windows = []
    for run_start, run_end in runs:
        if run_end - run_start < min_digits:
            continue
        start = max(0, run_start - _WINDOW_BEFORE)
        window = text[start:run_end]
        if translate:
            window = DIGIT_RUN.sub(digits_of, window)
        windows.append((window, start))
    return windows
