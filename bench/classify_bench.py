"""Intent classifier speed: single-message p50/p99 and batch throughput, beside a keyword-only
baseline (the phrasebook's trigger keywords through one Aho-Corasick automaton) in the same run.

    python bench/classify_bench.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ahocorasick_rs  # noqa: E402

from classifiers.intent.data import load_split  # noqa: E402
from classifiers.intent.model import DEFAULT_MODEL_PATH, IntentModel  # noqa: E402
from classifiers.text import normalise  # noqa: E402
from phrasebook.files import load_default  # noqa: E402


def per_message(label: str, fn, texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    times = []
    for text in texts:
        t = time.perf_counter_ns()
        fn(text)
        times.append(time.perf_counter_ns() - t)
    times.sort()
    print(f"{label:30s} single: p50 {statistics.median(times) / 1e6:.3f} ms  p99 {times[int(len(times) * .99) - 1] / 1e6:.3f} ms"
          f"  ({len(texts) / (sum(times) / 1e9):,.0f} msg/s one at a time)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    start = time.perf_counter()
    book = load_default()
    model = IntentModel.load(DEFAULT_MODEL_PATH).with_keywords({i.id: list(i.keywords) for i in book.intents})
    print(f"model load: {(time.perf_counter() - start) * 1000:.0f} ms, {len(model.featurizer.vocabulary_):,} features")
    corpus = [e.text for e in load_split("test")]
    texts = (corpus * (args.messages // len(corpus) + 1))[: args.messages]
    pairs = [(normalise(k).text, i.id) for i in book.intents for k in i.keywords]
    automaton = ahocorasick_rs.AhoCorasick([k for k, _ in pairs])

    def keyword_only(text: str) -> set[str]:
        return {pairs[i][1] for i, _s, _e in automaton.find_matches_as_indexes(normalise(text).text, overlapping=True)}

    per_message("keyword-only baseline", keyword_only, texts[:5000])
    per_message("model (with evidence)", model.predict, texts[:5000])
    per_message("model (no evidence)", lambda t: model.predict(t, explain=False), texts[:5000])
    for size in (1000,):
        start = time.perf_counter()
        for i in range(0, len(texts), size):
            model.predict_batch(texts[i:i + size])
        elapsed = time.perf_counter() - start
        print(f"model batch of {size}: {len(texts) / elapsed:,.0f} msg/s")
    start = time.perf_counter()
    for text in texts:
        keyword_only(text)
    print(f"keyword-only batch: {len(texts) / (time.perf_counter() - start):,.0f} msg/s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
