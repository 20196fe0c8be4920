"""``fit``: learn an ``IntentModel`` from labelled examples (scikit-learn, training time only).

One logistic regression per intent (one-vs-rest, class-balanced) on the shared features;
probabilities are calibrated with a sigmoid fitted on cross-validated scores
(``CalibratedClassifierCV(method="sigmoid", ensemble=False)``); each intent's threshold is
then chosen to maximise its F1 on the dev split, never on the test split, and so is the floor a
second intent must clear (``secondary_floor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from .data import LABELS, Example, data_hash
from .features import Featurizer
from .model import IntentModel

__all__ = ["fit"]


def _targets(examples: Sequence[Example], labels: Sequence[str]) -> np.ndarray:
    y = np.zeros((len(examples), len(labels)), dtype=np.int8)
    column = {label: i for i, label in enumerate(labels)}
    for row, example in enumerate(examples):
        for intent in example.intents:
            y[row, column[intent]] = 1
    return y


def _best_threshold(probs: np.ndarray, truth: np.ndarray) -> float:
    best, best_f1 = 0.5, -1.0
    for threshold in np.arange(0.15, 0.9, 0.025):
        predicted = probs >= threshold
        tp = float(np.sum(predicted & (truth == 1)))
        fp = float(np.sum(predicted & (truth == 0)))
        fn = float(np.sum(~predicted & (truth == 1)))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = float(threshold), f1
    return best


def fit(train: Sequence[Example], dev: Sequence[Example], c: float = 64.0, seed: int = 0) -> IntentModel:
    """Train on ``train``, tune thresholds on ``dev``; returns the model with its provenance."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    labels = [label for label in LABELS if any(label in e.intents for e in train)]
    featurizer = Featurizer().fit([e.text for e in train])
    x_train = featurizer.transform([e.text for e in train])
    y_train = _targets(train, labels)
    n_features = x_train.shape[1]
    coef = np.zeros((n_features, len(labels)), dtype=np.float32)
    intercept = np.zeros(len(labels), dtype=np.float32)
    calib_a = np.zeros(len(labels), dtype=np.float32)
    calib_b = np.zeros(len(labels), dtype=np.float32)
    for column, _label in enumerate(labels):
        base = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
        calibrated = CalibratedClassifierCV(base, method="sigmoid", cv=5, ensemble=False)
        calibrated.fit(x_train, y_train[:, column])
        inner = calibrated.calibrated_classifiers_[0]
        coef[:, column] = inner.estimator.coef_[0]
        intercept[column] = inner.estimator.intercept_[0]
        calib_a[column] = inner.calibrators[0].a_
        calib_b[column] = inner.calibrators[0].b_
    model = IntentModel(featurizer, labels, coef, intercept, calib_a, calib_b, np.full(len(labels), 0.5))
    if dev:
        probs = model.probabilities_batch([e.text for e in dev])
        truth = _targets(dev, labels)
        model.thresholds = np.asarray(
            [_best_threshold(probs[:, j], truth[:, j]) if truth[:, j].any() else 0.5 for j in range(len(labels))],
            dtype=np.float32,
        )
    if dev:
        from .evaluate import evaluate

        best_floor, best_f1 = 0.0, -1.0
        for floor in (0.0, 0.5, 0.6, 0.7, 0.8):
            model.secondary_floor = floor
            f1 = evaluate(dev, model.predict_batch([e.text for e in dev])).macro_f1
            if f1 > best_f1 + 1e-9:
                best_floor, best_f1 = floor, f1
        model.secondary_floor = best_floor
    model.meta = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_examples": len(train), "dev_examples": len(dev),
        "train_hash": data_hash(train), "dev_hash": data_hash(dev),
        "C": c, "features": int(n_features), "secondary_floor": model.secondary_floor,
    }
    return model
