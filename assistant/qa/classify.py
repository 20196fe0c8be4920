"""The intent classifier and draft checker as replay uses them: the real ones, memoised.

Replay calls the same trained model and the same wording checker as the live service; it only
remembers answers for texts it has already seen (agents paste the same template hundreds of
times a day, buyers say 在吗 and 好的 constantly).  Both functions are pure, so memoising
cannot change a score.  Without a trained model, intents come from the phrasebook's
supervisor keywords alone (``keyword_classifier``), which is what the model adds on top anyway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import ahocorasick_rs

from classifiers.intent.model import KEYWORD_SCORE, OTHER, Evidence, IntentScore, Prediction
from classifiers.text import normalise
from classifiers.wording import CheckContext, Flag
from phrasebook.schema import Phrasebook

from ..policy import CompiledPolicy

__all__ = ["Classify", "keyword_classifier", "replay_classifier", "memo_classify", "memo_policy", "MemoChecker",
           "classifier_info"]

Classify = Callable[[str], Prediction]
DEFAULT_MEMO = 20_000  # texts remembered per function (LRU); ~10 MB each


def keyword_classifier(book: Phrasebook) -> Classify:
    """Intents from the phrasebook's trigger keywords only (the model's keyword step, alone)."""
    pairs = [(normalise(k).text, intent.id) for intent in book.intents if intent.id != OTHER
             for k in intent.keywords]
    pairs = [(k, i) for k, i in pairs if k]
    automaton = ahocorasick_rs.AhoCorasick([k for k, _ in pairs]) if pairs else None

    def classify(text: str) -> Prediction:
        if automaton is None:
            return Prediction(text, OTHER, ())
        found: dict[str, float] = {}
        evidence: list[Evidence] = []
        for index, _s, _e in automaton.find_matches_as_indexes(normalise(text).text, overlapping=True):
            keyword, intent = pairs[index]
            found.setdefault(intent, KEYWORD_SCORE)
            evidence.append(Evidence(intent, "keyword", keyword, 1.0))
        ranked = tuple(IntentScore(i, s) for i, s in found.items())
        return Prediction(text, ranked[0].intent if ranked else OTHER, ranked, tuple(evidence))

    return classify


def replay_classifier(policy: CompiledPolicy) -> Classify:
    """The policy's trained model (without per-n-gram explanations), else the keyword classifier.

    The model's function also carries ``batch`` (many texts in one call, ~2× faster per text),
    which the memo uses to classify a whole batch of conversations' new buyer texts at once.
    """
    model = policy.model
    if model is not None:
        def classify(text: str) -> Prediction:
            return model.predict(text, explain=False)

        def batch(texts: list[str]) -> list[Prediction]:
            return model.predict_batch(texts, explain=False)

        classify.batch = batch  # type: ignore[attr-defined]
        return classify
    return keyword_classifier(policy.book)


def classifier_info(policy: CompiledPolicy) -> dict[str, Any]:
    """What classified the buyer messages, for the report's header."""
    model = policy.model
    if model is None:
        return {"kind": "keywords", "note": "未加载意图模型，只按话术库关键词识别意图"}
    meta = model.meta or {}
    return {"kind": "model", "labels": list(model.labels),
            **{k: meta[k] for k in ("trained_at", "train_hash", "train_examples") if k in meta}}


def _keep(cache: dict[str, Any], size: int, key: str, value: Any) -> None:
    """Put ``key`` last in an LRU dict (callers pop it on a hit), dropping the oldest when full."""
    if key not in cache and len(cache) >= size:
        del cache[next(iter(cache))]
    cache[key] = value


def memo_classify(classify: Classify, size: int = DEFAULT_MEMO) -> Classify:
    cache: dict[str, Prediction] = {}

    def memoised(text: str) -> Prediction:
        hit = cache.pop(text, None)
        if hit is None:
            hit = classify(text)
        _keep(cache, size, text, hit)
        return hit

    def prefetch(texts: Iterable[str]) -> None:
        """Classify the texts not yet remembered in one batch call (when ``classify`` has one)."""
        batch = getattr(classify, "batch", None)
        if batch is None:
            return
        new = list(dict.fromkeys(t for t in texts if t not in cache))[:size]
        if not new:
            return
        for text, prediction in zip(new, batch(new), strict=True):
            _keep(cache, size, text, prediction)

    memoised.cache = cache  # type: ignore[attr-defined]
    memoised.prefetch = prefetch  # type: ignore[attr-defined]
    return memoised


class MemoChecker:
    """Wraps a ``Checker``: same flags, remembered per draft when the draft has no context."""

    def __init__(self, inner: Any, size: int = DEFAULT_MEMO) -> None:
        self.inner = inner
        self.size = size
        self.cache: dict[str, tuple[Flag, ...]] = {}

    def check(self, draft: str, context: CheckContext | None = None) -> list[Flag]:
        if context is not None and (context.known_values or context.placeholders):
            flags: list[Flag] = self.inner.check(draft, context)
            return flags
        hit = self.cache.pop(draft, None)
        if hit is None:
            hit = tuple(self.inner.check(draft, context))
        _keep(self.cache, self.size, draft, hit)
        return list(hit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def memo_policy(policy: CompiledPolicy, size: int = DEFAULT_MEMO) -> CompiledPolicy:
    """The same compiled policy with a memoising checker (the engine calls ``policy.check``)."""
    return dataclasses.replace(policy, checker=MemoChecker(policy.checker, size))  # type: ignore[arg-type]
