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
_DIGIT_RUN = re.compile("[0-9" + "".join(CHINESE_DIGITS) + "]{4,}")
_NOISE_RE = re.compile(r"[0-9a-z]+")
_NOISE_INSIDE_WORD = re.compile(r"[\u3400-\u9fff][0-9a-z]{1,3}[\u3400-\u9fff]")  # 傻1逼, not 165cm
_CJK = re.compile(r"[\u3400-\u9fff]")
_HIT, _ALLOW, _UNLESS, _REQUIRE = 0, 1, 2, 3
_GLOBAL = -1


def _compile(entries: dict[str, list[tuple[int, int]]]) -> tuple[ahocorasick_rs.AhoCorasick | None, list[list[tuple[int, int]]]]:
    """An automaton over the keys of ``entries`` and, per key index, what each key means."""
    keys = list(entries)
    automaton = ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MatchKind.Standard) if keys else None
    return automaton, [entries[k] for k in keys]


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
    """The compact text with digit runs read as ASCII digits (same length, same offsets).

    Only runs of four or more digit-like characters (一三八…, ①③⑧ are already digits after
    folding) are translated: phone and QQ numbers are long runs, while 一下 or 三天 are not.
    """

    __slots__ = ("text", "_compact")

    def __init__(self, compact: Normalised) -> None:
        text = compact.text
        self.text = _DIGIT_RUN.sub(lambda m: m.group().translate(_DIGIT_TABLE), text) if _DIGIT_RUN.search(text) else text
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

        self._regex: list[tuple[int, str, list[re.Pattern[str]], bool]] = []
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
                self._regex.append((index, rule.view, [re.compile(p) for p in rule.patterns],
                                    bool(rule.requires)))
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
        self._has_noise_rules = bool(self._noise_rules)
        self._honorifics = {i: [w for w in (normalise(p).text for p in self.rules[i].patterns) if w]
                            for i in self._shapes}

    # ------------------------------------------------------------------ scanning
    def _scan(self, view: Normalised, only_noise: bool = False,
              armed: set[int] | None = None) -> tuple[list[_Hit], list[_Hit], list[_Hit]]:
        """Phrase hits, allow spans and ``unless`` spans; regex rules whose ``requires`` occur go in ``armed``."""
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
        for key_index, start, end in matches:
            if offsets is None:
                o_start, o_end = start, end
            else:
                o_start, o_end = offsets[start], offsets[end - 1] + 1
            for rule, kind in entries[key_index]:
                if kind == _HIT:
                    hits.append(_Hit(rule, o_start, o_end))
                elif kind == _ALLOW:
                    allows.append(_Hit(rule, o_start, o_end))
                elif only_noise:
                    continue
                elif kind == _UNLESS:
                    unless.append(_Hit(rule, o_start, o_end))
                elif armed is not None:
                    armed.add(rule)
        return hits, allows, unless

    def _regex_hits(self, draft: str, compact: Normalised, context: CheckContext, armed: set[int]) -> list[_Hit]:
        hits: list[_Hit] = []
        digits_view: _DigitsView | None = None
        folded: str | None = None
        known: set[str] | None = None
        for index, view_name, patterns, gated in self._regex:
            if gated and index not in armed:
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
                    if context.known_values:
                        if known is None:
                            known = {re.sub(r"\D", "", v) for v in context.known_values} - {""}
                        if re.sub(r"\D", "", m.group()) in known:
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
            elif (rule.shape == "no_honorific" and len(compact.text) >= (rule.limit or 8)
                  and not any(w in compact.text for w in self._honorifics[index])
                  and len(_CJK.findall(compact.text)) >= (rule.limit or 8)):
                hits.append(_Hit(index, 0, len(draft)))
        return hits

    # ------------------------------------------------------------------ public
    def check(self, draft: str, context: CheckContext | None = None) -> list[Flag]:
        """Flags for ``draft``, ordered by position; at most one per span (the most severe)."""
        context = context or _EMPTY_CONTEXT
        if context.placeholders:
            draft = PLACEHOLDER_RE.sub(lambda m: context.placeholders.get(m.group(1), m.group(0)), draft)
        compact = normalise(draft)
        armed: set[int] = set()
        hits, allows, unless = self._scan(compact, armed=armed)
        if self._has_noise_rules and _NOISE_INSIDE_WORD.search(compact.text):
            # Noise inside words (傻1逼): scan a view without digits and letters, but build
            # its offset map only if a noise-tolerant rule actually matches there.
            noise_text = _NOISE_RE.sub("", compact.text)
            if self._noise_automaton is not None and any(
                kind == _HIT
                for key, _s, _e in self._noise_automaton.find_matches_as_indexes(noise_text, overlapping=True)
                for _rule, kind in self._noise_entries[key]
            ):
                more, more_allows, _ = self._scan(compact.without(_NOISE), only_noise=True)
                hits += more
                allows += more_allows
        hits += self._regex_hits(draft, compact, context, armed)
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
