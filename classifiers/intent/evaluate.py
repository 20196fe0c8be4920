"""Per-intent precision/recall/F1, macro-F1 and a confusion matrix for labelled messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

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

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, "macro_f1": round(self.macro_f1, 4), "exact_match": round(self.exact_match, 4),
                "per_intent": self.per_intent, "confusion": self.confusion}


def evaluate(examples: Sequence[Example], predictions: Sequence[Prediction]) -> Report:
    """Multi-label scores per intent (``other`` = no intent); confusion on single-label items."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    confusion: dict[str, Counter[str]] = {}
    exact = 0
    for example, prediction in zip(examples, predictions, strict=True):
        truth = set(example.intents) - {OTHER} or {OTHER}
        guess = {s.intent for s in prediction.intents} or {OTHER}
        exact += truth == guess
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
    return Report(per_intent, macro, exact / len(examples) if examples else 0.0,
                  {k: dict(v) for k, v in sorted(confusion.items())}, len(examples))
