"""Phrasebook storage: versions, conflicts, history, lossless round trip."""

import pytest

from phrasebook.files import load_default
from phrasebook.storage import EditConflict, PhrasebookStore, make_engine


def test_round_trip_conflict_and_history(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = PhrasebookStore(make_engine(f"sqlite:///{tmp_path / 'pb.db'}"))
    book = load_default()
    store.replace_all(book, "importer")
    loaded = store.load()
    assert loaded.model_dump(exclude={"revision"}) == book.model_dump(exclude={"revision"})
    data, version = store.get("template", "greeting.welcome.1")
    first = dict(data, text="亲，您好，欢迎光临～")
    assert store.save("template", first, version, "小李") == version + 1
    with pytest.raises(EditConflict) as conflict:
        store.save("template", dict(data, text="亲，您好！"), version, "小张")
    assert "小李" in str(conflict.value)
    assert store.get("template", "greeting.welcome.1")[0]["text"] == "亲，您好，欢迎光临～"  # nothing lost
    history = store.history("template", "greeting.welcome.1")
    assert [h.action for h in history] == ["create", "update"] and history[-1].actor == "小李"
    assert history[-1].before["text"] == data["text"]
    with pytest.raises(ValueError):
        store.save("template", dict(data, status="published"), version + 1, "小李")
