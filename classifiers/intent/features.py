"""Features of a buyer message: character n-grams of the normalised text plus lexicon words.

One ``Featurizer`` serves training and inference, so what was trained is exactly what runs.
Words come from jieba at *fit* time (it segments the training corpus and the frequent words
become the lexicon); at predict time the lexicon words are found with an Aho-Corasick
automaton, which is ~50× faster than segmenting and needs no dictionary load.  Both kinds of
feature are TF-IDF weighted (sublinear tf) and L2-normalised per block, like scikit-learn's
``TfidfVectorizer`` in a ``FeatureUnion``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs
import numpy as np
from scipy import sparse

from classifiers.text import normalise

__all__ = ["Featurizer", "Features"]


@dataclass(frozen=True, slots=True)
class Features:
    """Sparse features of one message: column indices and their weights."""

    indices: np.ndarray
    values: np.ndarray


def _char_ngrams(text: str, n_min: int, n_max: int) -> Iterable[str]:
    padded = f"^{text}$"
    for n in range(n_min, n_max + 1):
        for i in range(len(padded) - n + 1):
            gram = padded[i:i + n]
            if gram not in ("^", "$"):
                yield gram


class Featurizer:
    """Fit on a corpus, then turn messages into sparse TF-IDF vectors."""

    def __init__(self, ngram_range: tuple[int, int] = (1, 3), min_df: int = 2, min_word_df: int = 2) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.min_word_df = min_word_df
        self.vocabulary_: dict[str, int] = {}
        self.words_: list[str] = []
        self.idf_: np.ndarray = np.zeros(0, dtype=np.float32)
        self.n_chars_: int = 0
        self._automaton: ahocorasick_rs.AhoCorasick | None = None

    # ----------------------------------------------------------------- fitting
    def fit(self, texts: Sequence[str]) -> Featurizer:
        import jieba  # training-time only

        jieba.setLogLevel(60)
        compact = [normalise(t).text for t in texts]
        char_df: Counter[str] = Counter()
        word_df: Counter[str] = Counter()
        for text in compact:
            char_df.update(set(_char_ngrams(text, *self.ngram_range)))
            word_df.update({w for w in jieba.lcut(text) if len(w) >= 2})
        chars = sorted(g for g, df in char_df.items() if df >= self.min_df)
        words = sorted(w for w, df in word_df.items() if df >= self.min_word_df)
        self.vocabulary_ = {g: i for i, g in enumerate(chars)}
        self.n_chars_ = len(chars)
        self.words_ = words
        for j, w in enumerate(words):
            self.vocabulary_[f"w:{w}"] = self.n_chars_ + j
        self._build_automaton()
        n_docs = len(compact)
        df = np.zeros(len(self.vocabulary_), dtype=np.float64)
        for i, g in enumerate(chars):
            df[i] = char_df[g]
        for j, w in enumerate(words):
            df[self.n_chars_ + j] = self._word_df(compact, w)
        self.idf_ = (np.log((1 + n_docs) / (1 + df)) + 1).astype(np.float32)
        return self

    @staticmethod
    def _word_df(texts: Sequence[str], word: str) -> int:
        return sum(1 for t in texts if word in t)

    def _build_automaton(self) -> None:
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self.words_, matchkind=ahocorasick_rs.MatchKind.Standard)
            if self.words_ else None
        )

    # --------------------------------------------------------------- transform
    def counts(self, compact: str) -> tuple[Counter[int], Counter[int]]:
        """Raw counts of char n-gram columns and word columns in a normalised text."""
        lo, hi = self.ngram_range
        padded = f"^{compact}$"
        grams = [padded[i:i + n] for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)]
        chars: Counter[int] = Counter(map(self.vocabulary_.get, grams))  # type: ignore[arg-type]
        chars.pop(None, None)  # type: ignore[call-overload]
        words: Counter[int] = Counter()
        if self._automaton is not None and compact:
            base = self.n_chars_
            words.update(base + w for w, _s, _e in self._automaton.find_matches_as_indexes(compact, overlapping=True))
        return chars, words

    def _weights(self, text: str) -> tuple[list[int], list[float]]:
        """Column indices and TF-IDF weights (sublinear tf, L2 per block) of one message."""
        chars, words = self.counts(normalise(text).text)
        idf = self._idf_list
        indices: list[int] = []
        values: list[float] = []
        for block in (chars, words):
            if not block:
                continue
            idx = list(block)
            vals = [(1.0 + math.log(block[i])) * idf[i] for i in idx]
            norm = math.sqrt(sum(v * v for v in vals)) or 1.0
            indices += idx
            values += [v / norm for v in vals]
        return indices, values

    def transform_one(self, text: str) -> Features:
        """Sparse TF-IDF features of one message (already normalised or not)."""
        indices, values = self._weights(text)
        return Features(np.asarray(indices, dtype=np.int64), np.asarray(values, dtype=np.float32))

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Features of many messages as one CSR matrix.

        Counting n-grams is per message; the TF-IDF weighting and the per-block L2 norms are
        done once for the whole batch with NumPy (the same arithmetic as ``_weights``, in
        float64, then stored as float32).
        """
        indptr = [0]
        indices: list[int] = []
        counts: list[int] = []
        block_sizes: list[int] = []  # one entry per non-empty block (char n-grams, words) per message
        for text in texts:
            for block in self.counts(normalise(text).text):
                if block:
                    indices += block.keys()
                    counts += block.values()
                    block_sizes.append(len(block))
            indptr.append(len(indices))
        columns = np.asarray(indices, dtype=np.int64)
        weights = (1.0 + np.log(np.asarray(counts, dtype=np.float64))) * self._idf64[columns]
        if len(weights):
            starts = np.concatenate(([0], np.cumsum(block_sizes[:-1]))).astype(np.int64)
            norms = np.sqrt(np.add.reduceat(weights * weights, starts))
            norms[norms == 0] = 1.0
            weights /= np.repeat(norms, block_sizes)
        return sparse.csr_matrix(
            (weights.astype(np.float32), columns, np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), len(self.vocabulary_)),
        )

    @property
    def _idf64(self) -> np.ndarray:
        cached = getattr(self, "_idf64_cache", None)
        if cached is None or len(cached) != len(self.idf_):
            cached = self._idf64_cache = self.idf_.astype(np.float64)
        return cached

    @property
    def _idf_list(self) -> list[float]:
        cached = getattr(self, "_idf_cache", None)
        if cached is None or len(cached) != len(self.idf_):
            cached = self._idf_cache = [float(x) for x in self.idf_]
        return cached

    def feature_name(self, index: int) -> str:
        if index >= self.n_chars_:
            return self.words_[index - self.n_chars_]
        return self._names()[index]

    def _names(self) -> list[str]:
        names = getattr(self, "_name_cache", None)
        if names is None:
            names = [""] * self.n_chars_
            for gram, index in self.vocabulary_.items():
                if index < self.n_chars_:
                    names[index] = gram
            self._name_cache = names
        return names

    # ----------------------------------------------------------- persistence
    def state(self) -> dict[str, Any]:
        chars = self._names()
        return {
            "ngram_range": list(self.ngram_range), "min_df": self.min_df, "min_word_df": self.min_word_df,
            "chars": chars, "words": self.words_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], idf: np.ndarray) -> Featurizer:
        ngram = state["ngram_range"]
        featurizer = cls((int(ngram[0]), int(ngram[1])), int(state["min_df"]), int(state["min_word_df"]))
        chars = list(state["chars"])
        words = list(state["words"])
        featurizer.vocabulary_ = {g: i for i, g in enumerate(chars)}
        featurizer.n_chars_ = len(chars)
        featurizer.words_ = words
        for j, w in enumerate(words):
            featurizer.vocabulary_[f"w:{w}"] = featurizer.n_chars_ + j
        featurizer._name_cache = chars
        featurizer.idf_ = idf.astype(np.float32)
        featurizer._build_automaton()
        return featurizer
