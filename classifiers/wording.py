"""The draft checker: wording rules → one Aho-Corasick automaton → flags on the agent's own text.

``Checker(rules).check(draft)`` returns a ``Flag`` per problem with the span of the *original*
draft, the reason in Chinese and a compliant replacement.  All phrase rules, their allow-lists
and their ``unless`` words go into a single automaton (``ahocorasick-rs``: on Chinese lists with
thousands of distinct first characters it is the fastest Python-callable matcher we measured),
so a draft is scanned once whatever the number of rules.  Regex rules (phone numbers, links,
review bribes) and shape rules (one character, no honorific, too long) run beside it.

Build a ``Checker`` once per published phrasebook; ``check`` is pure and thread-safe.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

import ahocorasick_rs

from phrasebook.schema import PLACEHOLDER_RE, WordingRule

from .regex_windows import DIGIT_CLASS, DIGIT_RUN, DigitsView, digit_windows, digits_of, merged_windows
from .text import Normalised, fold_visible, normalise, sentence_of, sentence_starts

__all__ = ["Flag", "CheckContext", "Checker", "SEVERITY_RANK"]

SEVERITY_RANK = {"warn": 1, "block": 2}
_NOISE = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_NOISE_RE = re.compile(r"[0-9a-z]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_HIT, _ALLOW, _UNLESS, _REQUIRE = 0, 1, 2, 3
_GLOBAL = -1
_Armed = dict[int, list[tuple[int, int, int, int]]]  # regex rule → its literals' (compact, original) spans
_BY_POSITION = itemgetter(1, 0)  # hits by start, then rule
_new_flag = tuple.__new__  # a Flag from its eight fields in order, without the generated __new__
_KeyMeaning = tuple[int, tuple[int, ...], tuple[tuple[int, int], ...]]  # (only rule or -1, hit rules, other (rule, kind))


def _compile(entries: dict[str, list[tuple[int, int]]]) -> tuple[ahocorasick_rs.AhoCorasick | None, list[_KeyMeaning]]:
    """An automaton over the keys of ``entries`` and, per key index, what each key means:
    the rules it is a pattern of, and its other roles (allow, unless, requires) if any."""
    keys = list(entries)
    automaton = ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MatchKind.Standard) if keys else None
    meanings = []
    for k in keys:
        hit_rules = tuple(rule for rule, kind in entries[k] if kind == _HIT)
        roles = tuple((rule, kind) for rule, kind in entries[k] if kind != _HIT)
        # Most keys are a pattern of exactly one rule and nothing else: say so, for a fast path.
        only = hit_rules[0] if len(hit_rules) == 1 and not roles else -1
        meanings.append((only, hit_rules, roles))
    return automaton, meanings


class Flag(NamedTuple):
    """One problem in a draft; ``start``/``end`` are character offsets into the draft.

    A named tuple rather than a frozen dataclass: as immutable, and built three times faster,
    which matters when a draft against 10,000 rules yields several flags.
    """

    rule: str
    category: str
    severity: str
    start: int
    end: int
    match: str
    message: str
    suggestion: str

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the checker knows beyond the draft.

    ``known_values``: the conversation's own facts (order and tracking numbers) that must
    never be mistaken for a phone number.  ``placeholders``: fill ``{name}`` with these before
    checking (templates are checked the way agents will see them).
    """

    known_values: frozenset[str] = frozenset()
    placeholders: dict[str, str] = field(default_factory=dict)


_EMPTY_CONTEXT = CheckContext()


#: A hit is (rule index, original start, original end): plain tuples, because a draft
#: against 10,000 rules can produce dozens and object creation was a measurable share.
_Hit = tuple[int, int, int]


class _RegexRule(NamedTuple):
    """A compiled regex rule and what limits where it looks."""

    rule: int  # index into Checker.rules
    view: str  # compact, digits or folded
    patterns: list[re.Pattern[str]]
    gated: bool  # runs only when one of its ``requires`` literals occurs
    min_digits: int | None  # ... only in windows around digit runs this long
    reach: int | None  # ... only within this many characters of a required literal


def _inside_longer(hit: _Hit, spans: Iterable[tuple[int, int]]) -> bool:
    """Does ``hit`` overlap a longer allowed span (女装 around 装)?"""
    _rule, start, end = hit
    length = end - start
    for a_start, a_end in spans:
        if a_start < end and start < a_end and a_end - a_start > length:
            return True
    return False


def _any_overlap(hits: list[_Hit]) -> bool:
    """Do any two of ``hits`` (sorted by start) overlap?"""
    reach = -1
    for _rule, start, end in hits:
        if start < reach:
            return True
        reach = max(reach, end)
    return False


class Checker:
    """All enabled wording rules of one phrasebook version, compiled for fast checking."""

    def __init__(self, rules: Sequence[WordingRule], allow: Iterable[str] = ()) -> None:
        self.rules: tuple[WordingRule, ...] = tuple(r for r in rules if r.enabled)
        entries: dict[str, list[tuple[int, int]]] = {}

        def add(phrase: str, rule: int, kind: int) -> None:
            key = normalise(phrase).text
            if key:
                entries.setdefault(key, []).append((rule, kind))

        self._regex: list[_RegexRule] = []
        self._shapes: list[int] = []
        self._noise_rules: set[int] = set()
        self._allow_folded: dict[int, list[str]] = {}
        for index, rule in enumerate(self.rules):
            if rule.match == "phrase":
                for pattern in rule.patterns:
                    add(pattern, index, _HIT)
                if rule.noise_tolerant:
                    self._noise_rules.add(index)
            elif rule.match == "regex":
                # ``requires`` literals ride in the phrase automaton: one scan arms the regexes.
                for literal in rule.requires:
                    add(literal, index, _REQUIRE)
                self._regex.append(_RegexRule(index, rule.view, [re.compile(p) for p in rule.patterns],
                                              bool(rule.requires), rule.min_digits,
                                              rule.reach if rule.requires else None))
                if rule.view == "folded":
                    self._allow_folded[index] = [fold_visible(a) for a in rule.allow]
            else:
                self._shapes.append(index)
            if rule.view != "folded":
                for phrase in rule.allow:
                    add(phrase, index, _ALLOW)
            for phrase in rule.unless:
                add(phrase, index, _UNLESS)
        for phrase in allow:
            add(phrase, _GLOBAL, _ALLOW)
        self._automaton, self._entries = _compile(entries)
        # A small second automaton for noise-tolerant rules (insults) and the allow-lists:
        # scanned over the draft with digits and letters removed, only when such noise sits
        # inside a word.
        noise_entries = {
            key: kept for key, values in entries.items()
            if (kept := [(r, k) for r, k in values
                         if (k == _HIT and r in self._noise_rules) or (k == _ALLOW and (r == _GLOBAL or r in self._noise_rules))])
        }
        self._noise_automaton, self._noise_entries = _compile(noise_entries)
        # Noise can only hide a pattern between two of its own characters (傻1逼, not 发3天).
        word_chars = sorted({ch for key, values in noise_entries.items() if any(k == _HIT for _r, k in values)
                             for ch in key if "\u3400" <= ch <= "\u9fff"})
        inside = f"[{''.join(word_chars)}]" if word_chars else None
        self._noise_inside_word = re.compile(f"{inside}[0-9a-z]{{1,3}}{inside}") if inside else None
        # ... and a probe with only their patterns: is that scan worth doing at all?
        self._noise_probe, _ = _compile({key: values for key, values in noise_entries.items()
                                          if any(kind == _HIT for _r, kind in values)})
        # Digit runs long enough for any ``min_digits`` rule: found once per draft, shared.
        shortest = min((r.min_digits for r in self.rules if r.match == "regex" and r.min_digits), default=None)
        self._digit_runs = re.compile(f"{DIGIT_CLASS}{{{shortest},}}") if shortest else None
        self._rank = [SEVERITY_RANK[r.severity] for r in self.rules]
        # What each rule's flags say, in ``Flag``'s field order around start/end/match.
        self._flag_texts = [((r.id, r.category, r.severity), (r.message, r.suggestion)) for r in self.rules]
        self._shape_set = frozenset(self._shapes)
        self._max_draft_chars = {i: r.max_draft_chars for i, r in enumerate(self.rules) if r.max_draft_chars is not None}
        self._shortest_draft_limit = min(self._max_draft_chars.values(), default=sys.maxsize)
        self._shape_specs: list[tuple[int, str, int, re.Pattern[str] | None]] = []
        for i in self._shapes:
            rule = self.rules[i]
            words = [w for w in (normalise(p).text for p in rule.patterns) if w]
            limit = rule.limit or (150 if rule.shape == "too_long" else 8)
            self._shape_specs.append((i, rule.shape or "", limit,
                                      re.compile("|".join(map(re.escape, words))) if words else None))

    # ------------------------------------------------------------------ scanning
    def _scan(self, view: Normalised, only_noise: bool = False,
              armed: _Armed | None = None) -> tuple[list[_Hit], list[_Hit], list[_Hit]]:
        """Phrase hits, allow spans and ``unless`` spans; regex rules whose ``requires`` occur go in
        ``armed``, with where each literal stands (compact and original offsets)."""
        hits: list[_Hit] = []
        allows: list[_Hit] = []
        unless: list[_Hit] = []
        automaton, entries = (self._noise_automaton, self._noise_entries) if only_noise else (
            self._automaton, self._entries)
        if automaton is None or not view.text:
            return hits, allows, unless
        matches = automaton.find_matches_as_indexes(view.text, overlapping=True)
        if not matches:
            return hits, allows, unless
        offsets = view.offsets
        for key_index, c_start, c_end in matches:
            start, end = (c_start, c_end) if offsets is None else (offsets[c_start], offsets[c_end - 1] + 1)
            only, hit_rules, roles = entries[key_index]
            if only >= 0:
                hits.append((only, start, end))
                continue
            for rule in hit_rules:
                hits.append((rule, start, end))
            for rule, kind in roles:
                if kind == _ALLOW:
                    allows.append((rule, start, end))
                elif only_noise:
                    continue
                elif kind == _UNLESS:
                    unless.append((rule, start, end))
                elif armed is not None:
                    armed.setdefault(rule, []).append((c_start, c_end, start, end))
        return hits, allows, unless

    def _regex_hits(self, draft: str, compact: Normalised, context: CheckContext, armed: _Armed) -> list[_Hit]:
        hits: list[_Hit] = []
        digits_view: DigitsView | None = None
        folded: str | None = None
        known: set[str] | None = None
        runs: list[tuple[int, int]] | None = None
        for index, view_name, patterns, gated, min_digits, reach in self._regex:
            if gated and index not in armed:
                continue
            segments: list[tuple[str, int]]  # (text, where it starts in the view)
            view: DigitsView | Normalised | None
            if min_digits is not None:
                if runs is None:
                    assert self._digit_runs is not None
                    runs = [m.span() for m in self._digit_runs.finditer(compact.text)]
                if not any(end - start >= min_digits for start, end in runs):
                    continue
            if min_digits is not None and view_name != "folded":
                # Only around the long digit runs (a phone number and the few characters before
                # it, such as 扣扣号是): a regex anchored by a lookbehind cannot skip ahead, so
                # scanning a whole 160-character draft cost ~14 µs where a window costs ~1.
                segments = digit_windows(compact.text, runs or [], min_digits, translate=view_name == "digits")
                view = compact
            elif reach is not None:
                # Only the stretches within ``reach`` of a required literal (好评, 喂 …).
                if view_name == "folded":
                    spans = merged_windows([(o_s, o_e) for _cs, _ce, o_s, o_e in armed[index]], reach, len(draft))
                    segments, view = [(fold_visible(draft[ws:we]), ws) for ws, we in spans], None
                else:
                    spans = merged_windows([(c_s, c_e) for c_s, c_e, _os, _oe in armed[index]], reach,
                                            len(compact.text), compact.text if view_name == "digits" else None)
                    segments = [(DIGIT_RUN.sub(digits_of, compact.text[ws:we]) if view_name == "digits"
                                 else compact.text[ws:we], ws) for ws, we in spans]
                    view = compact
            elif view_name == "folded":
                if folded is None:
                    folded = fold_visible(draft)
                segments, view = [(folded, 0)], None
            elif view_name == "digits":
                if digits_view is None:
                    digits_view = DigitsView(compact)
                segments, view = [(digits_view.text, 0)], digits_view
            else:
                segments, view = [(compact.text, 0)], compact
            for text, shift in segments:
                for pattern in patterns:
                    for m in pattern.finditer(text):
                        if m.end() == m.start():
                            continue
                        if context.known_values:
                            if known is None:
                                known = {re.sub(r"\D", "", v) for v in context.known_values} - {""}
                            if re.sub(r"\D", "", m.group()) in known:
                                continue
                        if view is None:
                            if any(a and a in m.group() for a in self._allow_folded.get(index, ())):
                                continue
                            hits.append((index, shift + m.start(), shift + m.end()))
                        else:
                            hits.append((index, *view.span(shift + m.start(), shift + m.end())))
        return hits

    def _shape_hits(self, draft: str, compact: Normalised) -> list[_Hit]:
        hits: list[_Hit] = []
        text = compact.text
        for index, shape, limit, honorific in self._shape_specs:
            if shape == "one_char":
                if len(text) <= 1 and draft.strip():
                    # one character, or nothing but a symbol/emoji ("?", "👌")
                    hits.append((index, *compact.span(0, 1)) if text else (index, 0, len(draft)))
            elif shape == "too_long":
                if len(draft) > limit and len(draft.strip()) > limit:
                    hits.append((index, 0, len(draft)))
            elif (shape == "no_honorific" and len(text) >= limit
                  and (honorific is None or not honorific.search(text)) and len(_CJK.findall(text)) >= limit):
                hits.append((index, 0, len(draft)))
        return hits

    # ------------------------------------------------------------------ public
    def check(self, draft: str, context: CheckContext | None = None) -> list[Flag]:
        """Flags for ``draft``, ordered by position; at most one per span (the most severe)."""
        context = context or _EMPTY_CONTEXT
        if context.placeholders:
            draft = PLACEHOLDER_RE.sub(lambda m: context.placeholders.get(m.group(1), m.group(0)), draft)
        compact = normalise(draft)
        armed: _Armed = {}
        hits, allows, unless = self._scan(compact, armed=armed)
        if self._noise_probe is not None and self._noise_makes_new_hit(compact.text):
            # Noise inside words (傻1逼): scan the view without digits and letters properly.
            more, more_allows, _ = self._scan(compact.without(_NOISE), only_noise=True)
            hits += more
            allows += more_allows
        hits += self._regex_hits(draft, compact, context, armed)
        shape_hits = self._shape_hits(draft, compact)
        if shape_hits:
            hits += shape_hits
        elif not hits:
            return []
        hits = self._filter(draft, compact, hits, allows, unless)
        return self._to_flags(draft, hits, bool(shape_hits))

    def _noise_makes_new_hit(self, text: str) -> bool:
        """Do digits or letters inside a word hide a noise-tolerant pattern (傻1逼, 傻x逼)?

        Only then is the view without them (and its offset map) worth building.  Removing
        noise cannot destroy a match of a pattern without digits or letters, so a pattern
        occurring more often without the noise than with it is a new, hidden hit.
        """
        if self._noise_inside_word is None or not self._noise_inside_word.search(text):
            return False
        probe = self._noise_probe
        assert probe is not None
        found = probe.find_matches_as_indexes(_NOISE_RE.sub("", text))
        if not found:
            return False
        plain = Counter(key for key, _s, _e in probe.find_matches_as_indexes(text))
        return any(count > plain[key] for key, count in Counter(key for key, _s, _e in found).items())

    def _filter(self, draft: str, compact: Normalised, hits: list[_Hit],
                allows: list[_Hit], unless: list[_Hit]) -> list[_Hit]:
        """Drop hits inside a longer allowed phrase, in too long a draft, or beside an ``unless`` word."""
        if allows:
            spans: dict[int, list[tuple[int, int]]] = {}
            for a_rule, a_start, a_end in allows:
                spans.setdefault(a_rule, []).append((a_start, a_end))
            everywhere = spans.pop(_GLOBAL, None)
            # Most allow spans belong to rules that did not hit: test only where one could apply.
            hits = [hit for hit in hits
                    if not (hit[0] in spans and _inside_longer(hit, spans[hit[0]]))
                    and not (everywhere and _inside_longer(hit, everywhere))]
        size = len(compact.text)
        if size > self._shortest_draft_limit:
            hits = [hit for hit in hits if size <= self._max_draft_chars.get(hit[0], size)]
        hit_rules = {hit[0] for hit in hits}
        unless = [u for u in unless if u[0] in hit_rules]
        if unless:
            starts = sentence_starts(draft)
            beside = {(u_rule, sentence_of(starts, u_start)) for u_rule, u_start, _ in unless}
            hedged = {u_rule for u_rule, _s, _e in unless}
            hits = [hit for hit in hits
                    if hit[0] not in hedged or (hit[0], sentence_of(starts, hit[1])) not in beside]
        return hits

    def _to_flags(self, draft: str, hits: list[_Hit], with_shapes: bool) -> list[Flag]:
        """One flag per span: overlapping hits of one rule merge (加V + V信 → 加V信), then a hit
        inside another hit of equal or higher severity is dropped."""
        merged: list[_Hit] = []
        last_rule = last_start = last_end = -2
        for rule, start, end in sorted(set(hits)):
            if rule == last_rule and start < last_end:
                last_end = max(last_end, end)
                merged[-1] = (rule, last_start, last_end)
            else:
                last_rule, last_start, last_end = rule, start, end
                merged.append((rule, start, end))
        if len(merged) > 1:
            # Shape hits (too long, no honorific) span the whole draft and never hide another
            # hit; when the other hits do not overlap each other, no ranking is needed.
            shapes = self._shape_set
            plain = sorted((h for h in merged if h[0] not in shapes) if with_shapes else merged, key=_BY_POSITION)
            if _any_overlap(plain):
                merged = self._most_severe(merged)
            elif with_shapes:
                plain += [h for h in merged if h[0] in shapes and not self._hidden(h, plain)]
                merged = sorted(plain, key=_BY_POSITION)
            else:
                merged = plain
        texts = self._flag_texts
        return [_new_flag(Flag, texts[index][0] + (start, end, draft[start:end]) + texts[index][1])
                for index, start, end in merged]

    def _hidden(self, shape_hit: _Hit, plain: list[_Hit]) -> bool:
        """Would ``_most_severe`` drop this shape hit (inside a hit ranked before it)?"""
        rank = self._rank
        rule, start, end = shape_hit
        mine = (-rank[rule], start - end, start, rule)
        return any(c_start <= start and end <= c_end and (-rank[c_rule], c_start - c_end, c_start, c_rule) < mine
                   for c_rule, c_start, c_end in plain)

    def _most_severe(self, hits: list[_Hit]) -> list[_Hit]:
        """Of overlapping hits keep the most severe, then the longest; back in position order."""
        rank, shapes = self._rank, self._shape_set
        ranked = [hit for _key, hit in sorted(((-rank[h[0]], h[1] - h[2], h[1], h[0]), h) for h in hits)]
        covering: list[tuple[int, int]] = []  # spans of chosen non-shape hits
        chosen: list[_Hit] = []
        for hit in ranked:
            _rule, start, end = hit
            for c_start, c_end in covering:
                if c_start <= start and end <= c_end:
                    break
            else:
                chosen.append(hit)
                if hit[0] not in shapes:
                    covering.append((start, end))
        chosen.sort(key=_BY_POSITION)
        return chosen
