"""The trained intent model: featurizer + one-vs-rest linear scores + sigmoid calibration.

``predict`` is pure and needs only numpy: the weights are plain arrays saved in ``.npz`` with a
JSON header (labels, thresholds, data hash, metrics), so loading takes milliseconds and does
not depend on the scikit-learn version that trained it.  Supervisor keywords from the
phrasebook can add an intent; every answer says which keywords and n-grams drove it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick_rs
import numpy as np

from classifiers.text import normalise

from .features import Features, Featurizer

__all__ = ["IntentModel", "Prediction", "IntentScore", "Evidence", "DEFAULT_MODEL_PATH", "OTHER", "KEYWORD_SCORE"]

OTHER = "other"
KEYWORD_SCORE = 0.9
DEFAULT_MODEL_PATH = Path(__file__).with_name("model") / "intent_model.npz"


@dataclass(frozen=True, slots=True)
class IntentScore:
    intent: str
    score: float


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why an intent was chosen: a keyword (supervisor) or an n-gram/word (model)."""

    intent: str
    kind: str  # "keyword" | "ngram" | "word"
    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class Prediction:
    text: str
    intent: str
    intents: tuple[IntentScore, ...]
    evidence: tuple[Evidence, ...] = field(default=())

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(s.intent for s in self.intents) or (OTHER,)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "intents": [{"intent": s.intent, "score": round(s.score, 4)} for s in self.intents],
            "evidence": [
                {"intent": e.intent, "kind": e.kind, "text": e.text, "weight": round(e.weight, 4)}
                for e in self.evidence
            ],
        }


class IntentModel:
    """Multi-label intent classifier; a prediction with no intents means ``other``."""

    def __init__(self, featurizer: Featurizer, labels: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
                 calib_a: np.ndarray, calib_b: np.ndarray, thresholds: np.ndarray,
                 meta: dict[str, Any] | None = None) -> None:
        self.featurizer = featurizer
        self.labels = list(labels)
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)  # (n_features, n_labels)
        self.intercept = intercept.astype(np.float32)
        self.calib_a = calib_a.astype(np.float32)
        self.calib_b = calib_b.astype(np.float32)
        self.thresholds = thresholds.astype(np.float32)
        self.meta = meta or {}
        # A second intent is reported only if it is also at least this probable (tuned on dev):
        # buyers rarely mean two things, and a spurious second chip costs the agent attention.
        self.secondary_floor = float(self.meta.get("secondary_floor", 0.0))
        self._keywords: list[tuple[str, str]] = []
        self._keyword_automaton: ahocorasick_rs.AhoCorasick | None = None

    # ------------------------------------------------------------ keywords
    def with_keywords(self, keywords: dict[str, Sequence[str]]) -> IntentModel:
        """A copy that also adds an intent whenever one of its trigger keywords occurs."""
        clone = IntentModel(self.featurizer, self.labels, self.coef, self.intercept, self.calib_a,
                            self.calib_b, self.thresholds, self.meta)
        pairs = [(normalise(k).text, intent) for intent, words in keywords.items() for k in words]
        clone._keywords = [(k, i) for k, i in pairs if k and i != OTHER]
        if clone._keywords:
            clone._keyword_automaton = ahocorasick_rs.AhoCorasick([k for k, _ in clone._keywords])
        return clone

    # ------------------------------------------------------------ predicting
    def probabilities(self, text: str, feats: Features | None = None) -> np.ndarray:
        feats = feats or self.featurizer.transform_one(text)
        raw = feats.values @ self.coef[feats.indices] + self.intercept if len(feats.indices) else self.intercept.copy()
        return 1.0 / (1.0 + np.exp(self.calib_a * raw + self.calib_b))

    def probabilities_batch(self, texts: Sequence[str]) -> np.ndarray:
        matrix = self.featurizer.transform(texts)
        raw = np.asarray(matrix @ self.coef) + self.intercept
        probabilities: np.ndarray = 1.0 / (1.0 + np.exp(self.calib_a * raw + self.calib_b))
        return probabilities

    def predict(self, text: str, explain: bool = True) -> Prediction:
        feats = self.featurizer.transform_one(text)
        return self._decide(text, self.probabilities(text, feats), explain, feats)

    def predict_batch(self, texts: Sequence[str], explain: bool = False) -> list[Prediction]:
        probs = self.probabilities_batch(texts) if texts else np.zeros((0, len(self.labels)))
        return [self._decide(t, p, explain) for t, p in zip(texts, probs, strict=True)]

    def _decide(self, text: str, probs: np.ndarray, explain: bool, feats: Features | None = None) -> Prediction:
        # Every intent that clears its dev-tuned threshold; if none does, the most likely label.
        # ``other`` is a trained label too, but never reported beside a real intent.
        scores = {self.labels[i]: float(probs[i]) for i in np.flatnonzero(probs >= self.thresholds)}
        real = {k: v for k, v in scores.items() if k != OTHER}
        if real:
            best_score = max(real.values())
            scores = {k: v for k, v in real.items() if v == best_score or v >= self.secondary_floor}
        elif len(probs):
            best = int(np.argmax(probs))
            scores = {} if self.labels[best] == OTHER else {self.labels[best]: float(probs[best])}
        evidence: list[Evidence] = []
        if self._keyword_automaton is not None:
            compact = normalise(text).text
            for index, _s, _e in self._keyword_automaton.find_matches_as_indexes(compact, overlapping=True):
                keyword, intent = self._keywords[index]
                scores[intent] = max(scores.get(intent, 0.0), KEYWORD_SCORE)
                evidence.append(Evidence(intent, "keyword", keyword, 1.0))
        ranked = tuple(IntentScore(i, s) for i, s in sorted(scores.items(), key=lambda kv: -kv[1]))
        if explain and ranked:
            evidence.extend(self._ngram_evidence(feats or self.featurizer.transform_one(text), [s.intent for s in ranked]))
        top = ranked[0].intent if ranked else OTHER
        return Prediction(text, top, ranked, tuple(evidence))

    def _ngram_evidence(self, feats: Features, intents: Sequence[str], per_intent: int = 3) -> list[Evidence]:
        out: list[Evidence] = []
        if not len(feats.indices):
            return out
        for intent in intents:
            if intent not in self.labels:
                continue
            column = self.labels.index(intent)
            contributions = feats.values * self.coef[feats.indices, column]
            for k in np.argsort(-contributions)[:per_intent]:
                if contributions[k] <= 0:
                    break
                index = int(feats.indices[k])
                kind = "word" if index >= self.featurizer.n_chars_ else "ngram"
                name = self.featurizer.feature_name(index).strip("^$")
                out.append(Evidence(intent, kind, name, float(contributions[k])))
        return out

    # ------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"labels": self.labels, "featurizer": self.featurizer.state(), "meta": self.meta}
        with path.open("wb") as handle:
            np.savez_compressed(
                handle, header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), dtype=np.uint8),
                idf=self.featurizer.idf_, coef=self.coef, intercept=self.intercept,
                calib_a=self.calib_a, calib_b=self.calib_b, thresholds=self.thresholds,
            )

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL_PATH) -> IntentModel:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            featurizer = Featurizer.from_state(header["featurizer"], data["idf"])
            return cls(featurizer, header["labels"], data["coef"].astype(np.float32), data["intercept"],
                       data["calib_a"], data["calib_b"], data["thresholds"], header.get("meta"))
