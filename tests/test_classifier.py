"""The shipped intent model: loads fast, answers in the CLI shape, holds up on the held-out split."""

import time

from classifiers.intent.data import data_hash, load_split
from classifiers.intent.evaluate import evaluate
from classifiers.intent.model import DEFAULT_MODEL_PATH, IntentModel


def test_model_records_its_training_data() -> None:
    model = IntentModel.load(DEFAULT_MODEL_PATH)
    assert model.meta["train_hash"] == data_hash(load_split("train"))


def test_model_loads_quickly() -> None:
    started = time.perf_counter()
    IntentModel.load(DEFAULT_MODEL_PATH)
    assert time.perf_counter() - started < 1.0


def test_held_out_split_scores() -> None:
    model = IntentModel.load(DEFAULT_MODEL_PATH)
    test = load_split("test")
    report = evaluate(test, model.predict_batch([e.text for e in test]))
    # Measured 0.886 macro-F1 (docs/performance.md); the 0.90 target is not met yet.
    # The floor guards against regressions from data or model changes.
    assert report.macro_f1 >= 0.86, report.per_intent


def test_keywords_add_intents_with_evidence(policy) -> None:  # type: ignore[no-untyped-def]
    prediction = policy.model.predict("这个保价吗")
    assert "bargaining" in prediction.labels
    assert any(e.kind == "keyword" and e.text == "保价" for e in prediction.evidence)


def test_traditional_and_simplified_agree(policy) -> None:  # type: ignore[no-untyped-def]
    assert policy.model.predict("顏色和圖片差好多").labels == policy.model.predict("颜色和图片差好多").labels
