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
    # Measured 0.898 macro-F1, 95 % interval 0.880-0.915 (docs/performance.md); the issue's
    # 0.90 target is inside the interval but not met.  The floor guards against regressions.
    assert report.macro_f1 >= 0.875, report.per_intent
    low, high = report.macro_f1_ci95
    assert low < report.macro_f1 < high and high - low < 0.08


def test_bootstrap_interval_collapses_when_every_answer_is_right() -> None:
    dev = load_split("dev")[:200]
    from classifiers.intent.model import IntentScore, Prediction

    perfect = [Prediction(e.text, e.intents[0], tuple(IntentScore(i, 1.0) for i in e.intents if i != "other"), ())
               for e in dev]
    report = evaluate(dev, perfect)
    assert report.macro_f1 == 1.0 and report.macro_f1_ci95 == (1.0, 1.0)


def test_keywords_add_intents_with_evidence(policy) -> None:  # type: ignore[no-untyped-def]
    prediction = policy.model.predict("这个保价吗")
    assert "bargaining" in prediction.labels
    assert any(e.kind == "keyword" and e.text == "保价" for e in prediction.evidence)


def test_traditional_and_simplified_agree(policy) -> None:  # type: ignore[no-untyped-def]
    assert policy.model.predict("顏色和圖片差好多").labels == policy.model.predict("颜色和图片差好多").labels
