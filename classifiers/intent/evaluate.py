"""Per-intent precision/recall/F1, macro-F1 and a confusion matrix for labelled messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data import Example
from .model import OTHER, Prediction

__all__ = ["Report", "evaluate"]


@dataclass(frozen=True)
class Report:
    per_intent: dict[str, dict[str, float]]
    macro_f1: float
    exact_match: float
    confusion: dict[str, dict[str, int]]  # true top label → predicted top label → count
    n: int
    macro_f1_ci95: tuple[float, float] = (0.0, 0.0)  # bootstrap over messages: how sure the figure is

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, "macro_f1": round(self.macro_f1, 4),
                "macro_f1_ci95": [round(x, 4) for x in self.macro_f1_ci95],
                "exact_match": round(self.exact_match, 4),
                "per_intent": self.per_intent, "confusion": self.confusion}


def _macro_f1(counts: np.ndarray) -> np.ndarray:
    """Macro-F1 per row of ``counts`` (rows × labels × (tp, fp, fn)), over labels with support."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    supported = (tp + fn) > 0
    return np.asarray((f1 * supported).sum(axis=-1) / np.maximum(supported.sum(axis=-1), 1))


def _bootstrap_ci(outcomes: np.ndarray, rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of macro-F1 when the messages are resampled with replacement.

    A test split of a few hundred messages moves macro-F1 by about a point from one sample
    to the next; the interval says whether a difference between two models is real.
    """
    if len(outcomes) < 2:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    scores = np.empty(rounds)
    for start in range(0, rounds, 100):
        picks = rng.integers(0, len(outcomes), size=(min(100, rounds - start), len(outcomes)))
        scores[start:start + len(picks)] = _macro_f1(outcomes[picks].sum(axis=1))
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)


def evaluate(examples: Sequence[Example], predictions: Sequence[Prediction]) -> Report:
    """Multi-label scores per intent (``other`` = no intent); confusion on single-label items."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    confusion: dict[str, Counter[str]] = {}
    exact = 0
    outcomes: list[tuple[set[str], set[str]]] = []
    for example, prediction in zip(examples, predictions, strict=True):
        truth = set(example.intents) - {OTHER} or {OTHER}
        guess = {s.intent for s in prediction.intents} or {OTHER}
        exact += truth == guess
        outcomes.append((truth, guess))
        for label in truth | guess:
            if label in truth and label in guess:
                tp[label] += 1
            elif label in guess:
                fp[label] += 1
            else:
                fn[label] += 1
        if len(truth) == 1:
            (true_label,) = truth
            confusion.setdefault(true_label, Counter())[prediction.intent] += 1
    labels = sorted(set(tp) | set(fp) | set(fn))
    per_intent: dict[str, dict[str, float]] = {}
    for label in labels:
        p = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        r = tp[label] / (tp[label] + fn[label]) if tp[label] + fn[label] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_intent[label] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
                             "support": tp[label] + fn[label]}
    supported = [v["f1"] for v in per_intent.values() if v["support"]]
    macro = sum(supported) / len(supported) if supported else 0.0
    column = {label: i for i, label in enumerate(labels)}
    per_message = np.zeros((len(outcomes), len(labels), 3))
    for row, (truth, guess) in enumerate(outcomes):
        for label in truth | guess:
            per_message[row, column[label], 0 if label in truth and label in guess else 1 if label in guess else 2] = 1
    return Report(per_intent, macro, exact / len(examples) if examples else 0.0,
                  {k: dict(v) for k, v in sorted(confusion.items())}, len(examples), _bootstrap_ci(per_message))
