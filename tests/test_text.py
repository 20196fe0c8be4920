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
