"""The one normalisation: what it folds, what it drops, and that offsets point at the original."""

import pytest

from classifiers.text import normalise


@pytest.mark.parametrize(("raw", "compact"), [
    ("不關我的事", "不关我的事"),
    ("不 知 道", "不知道"),
    ("不.关.我.的.事", "不关我的事"),
    ("ＶＸ：ａｂｃ", "vx:abc".replace(":", "")),
    ("①③⑧", "138"),
    ("微\u200b信😀", "微信"),
    ("Hello，世界！", "hello世界"),
])
def test_compact_form(raw: str, compact: str) -> None:
    assert normalise(raw).text == compact


def test_offsets_point_back_to_the_original() -> None:
    raw = "亲，不 關.我 的 事😀哦"
    n = normalise(raw)
    start = n.text.index("不关我的事")
    s, e = n.span(start, start + 5)
    assert raw[s:e] == "不 關.我 的 事"


def test_identity_offsets_when_nothing_is_dropped() -> None:
    n = normalise("亲您好")
    assert n.offsets is None and n.span(0, 3) == (0, 3)


@pytest.mark.parametrize("piece", [
    "亲，不 關.我 的 事😀哦",
    "ＶＸ：ａｂｃ①③⑧ \u200b",
    "𠀀𪚥🫠\U0010fffd",  # Han extension B, emoji past the tables, a private-use plane
    "a\ud800b",  # a lone surrogate (possible in str from bad JSON) is dropped, never an error
])
def test_long_texts_fold_like_short_ones(piece: str) -> None:
    # Texts of 80+ characters take the array path; it must agree with the per-character one.
    times = 30  # every piece becomes 80+ characters
    short = normalise(piece)
    long = normalise(piece * times)
    assert long.text == short.text * times
    step = len(piece)
    offsets = long.offsets if long.offsets is not None else range(len(long.text))
    expected = [o + step * k for k in range(times)
                for o in (short.offsets if short.offsets is not None else range(len(short.text)))]
    assert list(offsets) == expected
