"""Suggested replies: approved templates of the buyer's intents, filled and ranked.

Score = intent probability (0.6) + rapidfuzz similarity between the buyer's message and the
template (0.3) + how often agents used the template (0.1, log-scaled).  Placeholders take the
conversation's variables (order number, tracking number ...) or the phrasebook's fallback
wording; a filled text that the draft checker would block is never suggested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz

from classifiers.intent.model import OTHER, Prediction
from classifiers.text import normalise
from phrasebook.schema import PLACEHOLDER_RE, Template

from .policy import CompiledPolicy

__all__ = ["Suggestion", "suggest", "fill"]

MAX_SUGGESTIONS = 4


@dataclass(frozen=True)
class Suggestion:
    template_id: str
    intent: str
    text: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"template_id": self.template_id, "intent": self.intent, "text": self.text,
                "score": round(self.score, 4)}


def fill(template: Template, variables: Mapping[str, str], fallbacks: Mapping[str, str]) -> str:
    """The template's text with ``{name}`` replaced by the conversation's value or the fallback."""
    return PLACEHOLDER_RE.sub(
        lambda m: variables.get(m.group(1)) or fallbacks.get(m.group(1), m.group(0)), template.text)


def suggest(policy: CompiledPolicy, prediction: Prediction, message: str,
            variables: Mapping[str, str], usage: Mapping[str, int], limit: int = MAX_SUGGESTIONS) -> tuple[Suggestion, ...]:
    intents = [(s.intent, s.score) for s in prediction.intents] or [(OTHER, 1.0)]
    compact_message = normalise(message).text
    ranked: dict[str, Suggestion] = {}
    for intent, probability in intents:
        for template in policy.templates_by_intent.get(intent, ()):
            similarity = fuzz.partial_ratio(compact_message, policy.compact_templates[template.id]) / 100.0
            used = math.log1p(usage.get(template.id, 0)) / math.log1p(100)
            score = 0.6 * probability + 0.3 * similarity + 0.1 * min(used, 1.0)
            best = ranked.get(template.id)
            if best is None or best.score < score:
                ranked[template.id] = Suggestion(template.id, intent, fill(template, variables, policy.fallbacks), score)
    ordered = sorted(ranked.values(), key=lambda s: -s.score)
    # Spread suggestions over intents: the best of each intent first, then the rest.
    firsts: list[Suggestion] = []
    rest: list[Suggestion] = []
    seen: set[str] = set()
    for suggestion in ordered:
        (rest if suggestion.intent in seen else firsts).append(suggestion)
        seen.add(suggestion.intent)
    result = []
    known = frozenset(variables.values())
    for suggestion in firsts + rest:
        if policy.is_blocked(suggestion.text, known):
            continue
        result.append(suggestion)
        if len(result) == limit:
            break
    return tuple(result)
