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
    # Score every candidate first; fill and check only the few that are shown.
    best: dict[str, tuple[float, str, Template]] = {}  # template id → (score, intent, template)
    for intent, probability in intents:
        for template in policy.templates_by_intent.get(intent, ()):
            similarity = fuzz.partial_ratio(compact_message, policy.compact_templates[template.id]) / 100.0
            used = math.log1p(usage.get(template.id, 0)) / math.log1p(100)
            score = 0.6 * probability + 0.3 * similarity + 0.1 * min(used, 1.0)
            known = best.get(template.id)
            if known is None or known[0] < score:
                best[template.id] = (score, intent, template)
    ordered = sorted(best.values(), key=lambda entry: -entry[0])
    # Spread suggestions over intents: the best of each intent first, then the rest.
    firsts: list[tuple[float, str, Template]] = []
    rest: list[tuple[float, str, Template]] = []
    seen: set[str] = set()
    for entry in ordered:
        (rest if entry[1] in seen else firsts).append(entry)
        seen.add(entry[1])
    result = []
    known_values = frozenset(variables.values())
    for score, intent, template in firsts + rest:
        text = fill(template, variables, policy.fallbacks)
        if policy.is_blocked(text, known_values):
            continue
        result.append(Suggestion(template.id, intent, text, score))
        if len(result) == limit:
            break
    return tuple(result)
