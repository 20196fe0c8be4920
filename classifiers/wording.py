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
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import ahocorasick_rs

from phrasebook.schema import PLACEHOLDER_RE, WordingRule

from .text import CHINESE_DIGITS, Normalised, fold_visible, normalise, sentence_of, sentence_starts

__all__ = ["Flag", "CheckContext", "Checker", "SEVERITY_RANK"]

SEVERITY_RANK = {"warn": 1, "block": 2}
_NOISE = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_DIGIT_TABLE = str.maketrans(CHINESE_DIGITS)
_CHINESE_DIGIT_CHARS = frozenset(CHINESE_DIGITS)
_NOISE_TABLE = str.maketrans("", "", "".join(_NOISE))
_CJK = re.compile(r"[\u3400-\u9fff]")
_HIT, _ALLOW, _UNLESS = 0, 1, 2
_GLOBAL = -1


@dataclass(frozen=True, slots=True)
class Flag:
    """One problem in a draft; ``start``/``end`` are character offsets into the draft."""

    rule: str
    category: str
    severity: str
    start: int
    end: int
    match: str
    message: str
    suggestion: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


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


class _DigitsView:
    """The compact text with Chinese numerals as digits (same length, same offsets)."""

    __slots__ = ("text", "_compact")

    def __init__(self, compact: Normalised) -> None:
        text = compact.text
        self.text = text if _CHINESE_DIGIT_CHARS.isdisjoint(text) else text.translate(_DIGIT_TABLE)
        self._compact = compact

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self._compact.span(start, end)


@dataclass(frozen=True, slots=True)
class _Hit:
    rule: int
    start: int  # original offsets
    end: int


class Checker:
    """All enabled wording rules of one phrasebook version, compiled for fast checking."""

    def __init__(self, rules: Sequence[WordingRule], allow: Iterable[str] = ()) -> None:
        self.rules: tuple[WordingRule, ...] = tuple(r for r in rules if r.enabled)
        entries: dict[str, list[tuple[int, int]]] = {}

        def add(phrase: str, rule: int, kind: int) -> None:
            key = normalise(phrase).text
            if key:
                entries.setdefault(key, []).append((rule, kind))

        self._regex: list[tuple[int, str, list[re.Pattern[str]], tuple[str, ...]]] = []
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
                requires = tuple(r.lower() if rule.view == "folded" else normalise(r).text for r in rule.requires)
                self._regex.append((index, rule.view, [re.compile(p) for p in rule.patterns], requires))
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
        self._keys = list(entries)
        self._entries = [entries[k] for k in self._keys]
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self._keys, matchkind=ahocorasick_rs.MatchKind.Standard)
            if self._keys else None
        )
        self._has_noise_rules = bool(self._noise_rules)
        self._honorifics = {i: [w for w in (normalise(p).text for p in self.rules[i].patterns) if w]
                            for i in self._shapes}

    # ------------------------------------------------------------------ scanning
    def _scan(self, view: Normalised, only_noise: bool = False) -> tuple[list[_Hit], list[_Hit], list[_Hit]]:
        hits: list[_Hit] = []
        allows: list[_Hit] = []
        unless: list[_Hit] = []
        if self._automaton is None or not view.text:
            return hits, allows, unless
        matches = self._automaton.find_matches_as_indexes(view.text, overlapping=True)
        if not matches:
            return hits, allows, unless
        offsets = view.offsets
        for key_index, start, end in matches:
            if offsets is None:
                o_start, o_end = start, end
            else:
                o_start, o_end = offsets[start], offsets[end - 1] + 1
            for rule, kind in self._entries[key_index]:
                if kind == _HIT:
                    if only_noise and rule not in self._noise_rules:
                        continue
                    hits.append(_Hit(rule, o_start, o_end))
                elif kind == _ALLOW:
                    allows.append(_Hit(rule, o_start, o_end))
                elif not only_noise:
                    unless.append(_Hit(rule, o_start, o_end))
        return hits, allows, unless

    def _regex_hits(self, draft: str, compact: Normalised, context: CheckContext) -> list[_Hit]:
        hits: list[_Hit] = []
        digits_view: _DigitsView | None = None
        folded: str | None = None
        known = {re.sub(r"\D", "", v) for v in context.known_values} - {""}
        lowered: str | None = None
        for index, view_name, patterns, requires in self._regex:
            if requires:
                if view_name == "folded":
                    if lowered is None:
                        lowered = draft.lower()
                    haystack = lowered
                else:
                    haystack = compact.text
                if not any(r in haystack for r in requires):
                    continue
            if view_name == "folded":
                if folded is None:
                    folded = fold_visible(draft)
                text, view = folded, None
            elif view_name == "digits":
                if digits_view is None:
                    digits_view = _DigitsView(compact)
                text, view = digits_view.text, digits_view
            else:
                text, view = compact.text, compact  # type: ignore[assignment]
            for pattern in patterns:
                for m in pattern.finditer(text):
                    if m.end() == m.start():
                        continue
                    if known and re.sub(r"\D", "", m.group()) in known:
                        continue
                    if view is None:
                        if any(a and a in m.group() for a in self._allow_folded.get(index, ())):
                            continue
                        hits.append(_Hit(index, m.start(), m.end()))
                    else:
                        hits.append(_Hit(index, *view.span(m.start(), m.end())))
        return hits

    def _shape_hits(self, draft: str, compact: Normalised) -> list[_Hit]:
        hits: list[_Hit] = []
        for index in self._shapes:
            rule = self.rules[index]
            if rule.shape == "one_char" and len(compact.text) <= 1 and draft.strip():
                # one character, or nothing but a symbol/emoji ("?", "👌")
                hits.append(_Hit(index, *compact.span(0, 1)) if compact.text else _Hit(index, 0, len(draft)))
            elif rule.shape == "too_long" and len(draft.strip()) > (rule.limit or 150):
                hits.append(_Hit(index, 0, len(draft)))
            elif rule.shape == "no_honorific" and len(_CJK.findall(compact.text)) >= (rule.limit or 8):
                if not any(w in compact.text for w in self._honorifics[index]):
                    hits.append(_Hit(index, 0, len(draft)))
        return hits

    # ------------------------------------------------------------------ public
    def check(self, draft: str, context: CheckContext | None = None) -> list[Flag]:
        """Flags for ``draft``, ordered by position; at most one per span (the most severe)."""
        context = context or _EMPTY_CONTEXT
        if context.placeholders:
            draft = PLACEHOLDER_RE.sub(lambda m: context.placeholders.get(m.group(1), m.group(0)), draft)
        compact = normalise(draft)
        hits, allows, unless = self._scan(compact)
        if self._has_noise_rules and _NOISE.intersection(compact.text):
            # Noise inside words (傻1逼): scan a view without digits and letters, but build
            # its offset map only if a noise-tolerant rule actually matches there.
            noise_text = compact.text.translate(_NOISE_TABLE)
            if self._automaton is not None and any(
                kind == _HIT and rule in self._noise_rules
                for key, _s, _e in self._automaton.find_matches_as_indexes(noise_text, overlapping=True)
                for rule, kind in self._entries[key]
            ):
                more, more_allows, _ = self._scan(compact.without(_NOISE), only_noise=True)
                hits += more
                allows += more_allows
        hits += self._regex_hits(draft, compact, context)
        hits += self._shape_hits(draft, compact)
        if not hits:
            return []
        hits = self._filter(draft, compact, hits, allows, unless)
        return self._to_flags(draft, hits)

    def _filter(self, draft: str, compact: Normalised, hits: list[_Hit],
                allows: list[_Hit], unless: list[_Hit]) -> list[_Hit]:
        kept: list[_Hit] = []
        starts: list[int] | None = None
        for hit in hits:
            rule = self.rules[hit.rule]
            length = hit.end - hit.start
            if any(
                (a.rule == hit.rule or a.rule == _GLOBAL)
                and a.start < hit.end and hit.start < a.end and a.end - a.start > length
                for a in allows
            ):
                continue
            if rule.max_draft_chars is not None and len(compact.text) > rule.max_draft_chars:
                continue
            mine = [u for u in unless if u.rule == hit.rule]
            if mine:
                if starts is None:
                    starts = sentence_starts(draft)
                sentence = sentence_of(starts, hit.start)
                if any(sentence_of(starts, u.start) == sentence for u in mine):
                    continue
            kept.append(hit)
        return kept

    @staticmethod
    def _merge_same_rule(hits: list[_Hit]) -> list[_Hit]:
        """Overlapping hits of one rule (加V + V信) become one span (加V信)."""
        merged: list[_Hit] = []
        for hit in sorted(set(hits), key=lambda h: (h.rule, h.start, h.end)):
            last = merged[-1] if merged else None
            if last is not None and last.rule == hit.rule and hit.start < last.end:
                merged[-1] = _Hit(hit.rule, last.start, max(last.end, hit.end))
            else:
                merged.append(hit)
        return merged

    def _to_flags(self, draft: str, hits: list[_Hit]) -> list[Flag]:
        # One flag per span: drop a hit inside another hit of equal or higher severity.
        ranked = sorted(
            self._merge_same_rule(hits),
            key=lambda h: (-SEVERITY_RANK[self.rules[h.rule].severity], -(h.end - h.start), h.start, h.rule),
        )
        chosen: list[_Hit] = []
        for hit in ranked:
            if any(c.start <= hit.start and hit.end <= c.end and c.rule not in self._shapes for c in chosen):
                continue
            chosen.append(hit)
        chosen.sort(key=lambda h: (h.start, h.rule))
        flags = []
        for hit in chosen:
            rule = self.rules[hit.rule]
            flags.append(Flag(
                rule=rule.id, category=rule.category, severity=rule.severity,
                start=hit.start, end=hit.end, match=draft[hit.start:hit.end],
                message=rule.message, suggestion=rule.suggestion,
            ))
        return flags
