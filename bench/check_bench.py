"""Draft checker speed with 10,000 rules, beside a naive loop and flashtext in the same run.

    python bench/check_bench.py [--drafts 20000] [--rules 10000]

Prints drafts/s (one core), p50/p99 per draft, peak memory, and how many matches each
matcher found (flashtext misses Chinese matches that are not separated by spaces).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.text import normalise  # noqa: E402
from classifiers.wording import Checker  # noqa: E402
from phrasebook.files import load_default  # noqa: E402
from phrasebook.schema import WordingRule  # noqa: E402


def generated_rules(count: int, rng: random.Random) -> list[WordingRule]:
    """``count`` phrase patterns of 2-5 random CJK characters (thousands of distinct first chars)."""
    per_rule = 100
    rules = []
    for r in range(count // per_rule):
        patterns = ["".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 5))) for _ in range(per_rule)]
        rules.append(WordingRule(id=f"gen.{r}", category="taboo", severity="warn", patterns=patterns,
                                 message="生成的规则", suggestion="-"))
    return rules


def drafts(n: int, rng: random.Random, clean_only: bool = False) -> list[str]:
    """Drafts built from the checker corpora: polite replies and (unless ``clean_only``) violations."""
    pool = (ROOT / "tests/data/checker/polite_replies.txt").read_text(encoding="utf-8").splitlines()
    if not clean_only:
        pool += [line.split('"text": "')[1].split('"')[0] for line in
                 (ROOT / "tests/data/checker/violations.jsonl").read_text(encoding="utf-8").splitlines()]
    out = []
    for _ in range(n):
        target = rng.randint(20, 300)
        text = ""
        while len(text) < target:
            text += rng.choice(pool)
        out.append(text[:target])
    return out


def timed(label: str, fn, items: list[str]) -> tuple[float, float, float, int]:  # type: ignore[no-untyped-def]
    per = []
    found = 0
    start = time.perf_counter()
    for item in items:
        t = time.perf_counter_ns()
        found += len(fn(item))
        per.append(time.perf_counter_ns() - t)
    total = time.perf_counter() - start
    per.sort()
    p50 = statistics.median(per) / 1e6
    p99 = per[int(len(per) * 0.99) - 1] / 1e6
    rate = len(items) / total
    print(f"{label:34s} {rate:10,.0f} drafts/s   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   matches {found:,}")
    return rate, p50, p99, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drafts", type=int, default=20_000)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--naive-drafts", type=int, default=1_000)
    args = parser.parse_args()
    rng = random.Random(7)
    book = load_default()
    rules = list(book.rules) + generated_rules(args.rules, rng)
    patterns = sorted({normalise(p).text for r in rules if r.match == "phrase" for p in r.patterns} - {""})
    items = drafts(args.drafts, rng)
    print(f"{len(rules)} rules, {len(patterns):,} phrase patterns, {len({p[0] for p in patterns}):,} distinct first "
          f"characters; {len(items):,} drafts of 20-300 characters; Python {sys.version.split()[0]}")
    start = time.perf_counter()
    checker = Checker(rules, book.allow)
    print(f"checker build: {time.perf_counter() - start:.2f} s")
    ours = timed("Reply Coach Checker (all rules)", checker.check, items)
    timed("  same, polite drafts only", checker.check, drafts(args.drafts, random.Random(8), clean_only=True))

    def naive(text: str) -> list[str]:
        compact = normalise(text).text
        return [p for p in patterns if p in compact]

    base = timed("naive `pattern in text` loop", naive, items[: args.naive_drafts])
    try:
        from flashtext import KeywordProcessor

        processor = KeywordProcessor()
        for p in patterns:
            processor.add_keyword(p)
        timed("flashtext (same patterns)", lambda t: processor.extract_keywords(normalise(t).text), items[: args.naive_drafts])
    except ImportError:
        print("flashtext not installed (pip install -e '.[bench]')")
    naive_found_same = timed("Reply Coach on the naive subset", checker.check, items[: args.naive_drafts])
    del naive_found_same
    print(f"speed-up over naive loop: {ours[0] / base[0]:.1f}x")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
