"""One published phrasebook, compiled once: checker automaton, templates by intent, keywords.

The service holds one ``CompiledPolicy`` and swaps it atomically when supervisors publish;
requests never rebuild anything.  QA replay compiles the rules in force for a transcript.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from classifiers.intent.model import IntentModel
from classifiers.text import normalise
from classifiers.wording import CheckContext, Checker, Flag
from phrasebook.schema import Phrasebook, Template

__all__ = ["CompiledPolicy"]


@dataclass(frozen=True)
class CompiledPolicy:
    book: Phrasebook
    checker: Checker
    model: IntentModel | None
    templates_by_intent: dict[str, tuple[Template, ...]]
    fallbacks: dict[str, str] = field(default_factory=dict)
    compact_templates: dict[str, str] = field(default_factory=dict)
    obligation_words: dict[str, tuple[str, ...]] = field(default_factory=dict)  # obligation id → compact words
    _blocked_cache: dict[tuple[str, frozenset[str]], bool] = field(default_factory=dict)

    @classmethod
    def build(cls, book: Phrasebook, model: IntentModel | None = None) -> CompiledPolicy:
        by_intent: dict[str, list[Template]] = defaultdict(list)
        for template in book.approved_templates():
            for intent in template.intents:
                by_intent[intent].append(template)
        keywords: dict[str, Sequence[str]] = {i.id: i.keywords for i in book.intents if i.keywords}
        return cls(
            book=book,
            checker=Checker(book.rules, book.allow),
            model=model.with_keywords(keywords) if model is not None else None,
            templates_by_intent={k: tuple(v) for k, v in by_intent.items()},
            fallbacks={name: p.fallback for name, p in book.placeholders.items()},
            compact_templates={t.id: normalise(t.text).text for t in book.approved_templates()},
            obligation_words={o.id: tuple(w for w in (normalise(x).text for x in o.any_of) if w)
                              for i in book.intents for o in i.obligations},
        )

    @property
    def revision(self) -> int:
        return self.book.revision

    def check(self, draft: str, known_values: frozenset[str] = frozenset()) -> list[Flag]:
        return self.checker.check(draft, CheckContext(known_values=known_values))

    def is_blocked(self, text: str, known_values: frozenset[str] = frozenset()) -> bool:
        """Whether ``text`` has a ``block`` flag; memoised, since suggestions repeat."""
        key = (text, known_values)
        blocked = self._blocked_cache.get(key)
        if blocked is None:
            if len(self._blocked_cache) > 20_000:
                self._blocked_cache.clear()
            blocked = self._blocked_cache[key] = any(f.severity == "block" for f in self.check(text, known_values))
        return blocked

    def check_template(self, template: Template) -> list[Flag]:
        """Check a template as agents will see it (placeholders filled with their fallbacks)."""
        return self.checker.check(template.text, CheckContext(placeholders=self.fallbacks))
