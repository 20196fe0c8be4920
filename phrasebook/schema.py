"""The shop's policy as data: intents, reply templates, wording rules, timing and variants.

Everything a supervisor curates is one of these models.  They validate on load (a bad YAML
item is reported with its file and position, not discovered at request time), and they
serialise losslessly, which is what makes YAML/JSON/CSV import-export and storage round-trip.
This module imports nothing else of ours.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Intent", "Obligation", "Template", "WordingRule", "RuleExamples", "Shift", "ResponsePolicy",
    "ShopPolicy", "QaPolicy", "QaSection", "Placeholder", "Phrasebook", "PLACEHOLDER_RE", "Severity", "Status",
    "RULE_CATEGORIES",
]

Severity = Literal["block", "warn"]
Status = Literal["draft", "approved", "retired"]
PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")

#: Categories of wording rules, with their Chinese names (shown in the side panel and reports).
RULE_CATEGORIES: dict[str, str] = {
    "taboo": "服务禁语",
    "shift_blame": "推卸责任",
    "blame_buyer": "指责买家",
    "insult": "侮辱粗话",
    "off_platform": "站外引流",
    "absolute_claim": "广告法极限词",
    "categorical_promise": "绝对化承诺",
    "negative": "否定语气",
    "review_manipulation": "好评返现",
    "brush_off": "敷衍回复",
    "one_char": "单字回复",
    "no_honorific": "缺少敬语",
    "too_long": "回复过长",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Obligation(_Model):
    """What an answer to an intent must do, recognised by any of ``any_of`` in a later reply."""

    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    description: str
    any_of: tuple[str, ...] = Field(min_length=1)
    variant: dict[str, str] = Field(default_factory=dict)
    source: str = ""


class Intent(_Model):
    """A buyer intent the classifier knows, with supervisor trigger keywords and obligations."""

    id: str = Field(pattern=r"^[a-z][a-z_]*$")
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    source: str = ""


class Template(_Model):
    """A reply agents can insert; only ``approved`` ones are ever shown to agents."""

    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    intents: tuple[str, ...] = Field(min_length=1)
    text: str = Field(min_length=1)
    tags: tuple[str, ...] = ()
    variant: dict[str, str] = Field(default_factory=dict)
    status: Status = "draft"
    author: str = ""
    version: int = 1
    source: str = ""

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(PLACEHOLDER_RE.findall(self.text)))


class RuleExamples(_Model):
    """Drafts a rule must flag and drafts it must leave alone; run by the test suite."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, coerce_numbers_to_str=True)

    flag: tuple[str, ...] = ()
    pass_: tuple[str, ...] = Field(default=(), alias="pass")


class WordingRule(_Model):
    """One wording check: what it matches, why it matters and what to say instead.

    ``match``: ``phrase`` (any of ``patterns``, after normalisation), ``regex`` (on the view
    named by ``view``) or ``shape`` (a property of the whole draft, named by ``shape``).
    ``allow``: longer phrases that contain a pattern but are fine (女装 vs 装).
    ``unless``: words that, in the same sentence, make the hit acceptable (a hedge such as
    应该 next to a promise, or an offer to check next to 不清楚).
    ``requires`` (regex rules): literal strings of which at least one must occur in the
    compact (normalised) draft for the regex to be worth running; they are matched by the
    same automaton as the phrases, so most regexes never run.
    ``reach`` (regex rules with ``requires``): every match lies within this many characters of
    a required literal, so the regexes run only on those stretches of the draft.
    ``min_digits`` (regex rules): the compact draft must hold a run of at least this many
    digit-like characters (0-9, ①, 一…九, 幺) for the regex to run; phone and QQ numbers
    are long runs, and most drafts with a digit (3天, 2件) have none.
    """

    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    category: str
    severity: Severity
    match: Literal["phrase", "regex", "shape"] = "phrase"
    patterns: tuple[str, ...] = ()
    view: Literal["compact", "digits", "folded"] = "compact"
    requires: tuple[str, ...] = ()  # regex runs only if one of these occurs (speed; see docstring)
    min_digits: int | None = Field(None, ge=1)  # regex runs only beside such a digit run (speed)
    reach: int | None = Field(None, ge=1)  # regex runs only this near a required literal (speed)
    shape: Literal["one_char", "no_honorific", "too_long"] | None = None
    limit: int | None = None
    allow: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    noise_tolerant: bool = False
    max_draft_chars: int | None = None
    message: str
    suggestion: str = ""
    why: str = ""
    source: str = ""
    enabled: bool = True
    examples: RuleExamples = RuleExamples()

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in RULE_CATEGORIES:
            raise ValueError(f"unknown category {value!r} (expected one of: {', '.join(RULE_CATEGORIES)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WordingRule:
        if self.match in ("phrase", "regex") and not self.patterns:
            raise ValueError(f"rule {self.id}: match={self.match} needs patterns")
        if self.match == "shape" and self.shape is None:
            raise ValueError(f"rule {self.id}: match=shape needs shape")
        if self.reach is not None and (self.match != "regex" or not self.requires):
            raise ValueError(f"rule {self.id}: reach 只用于带 requires 的正则规则 / reach needs match=regex and requires")
        if self.min_digits is not None and self.match != "regex":
            raise ValueError(f"rule {self.id}: min_digits 只用于正则规则 / min_digits needs match=regex")
        if self.match == "regex":
            for pattern in self.patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"rule {self.id}: bad regex {pattern!r}: {exc}") from exc
        return self


class Shift(_Model):
    """A shift's hours and reply limits. ``end`` before ``start`` means it runs past midnight."""

    id: str
    name: str
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    first_response_s: float = Field(gt=0)
    answer_s: float = Field(gt=0)


class ResponsePolicy(_Model):
    """How fast buyers must be answered (POLICY.md §1) and what lateness costs."""

    shifts: tuple[Shift, ...]
    warning_fraction: float = Field(0.75, gt=0, lt=1)
    fine_yuan: float = 5.0
    fine_step_s: float = 30.0
    platform_limit_s: float = 180.0
    count_auto_replies: bool = False
    closing_phrases: tuple[str, ...] = ()

    def shift_at(self, minutes_of_day: int) -> Shift:
        """The shift covering ``minutes_of_day`` (0..1439); the last shift if none does."""
        for shift in self.shifts:
            start, end = _minutes(shift.start), _minutes(shift.end)
            inside = start <= minutes_of_day < end if start < end else (
                minutes_of_day >= start or minutes_of_day < end)
            if inside:
                return shift
        return self.shifts[-1]


@lru_cache(maxsize=256)
def _minutes(hhmm: str) -> int:
    """Minutes after midnight of "HH:MM" (asked for every buyer message, so remembered)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class ShopPolicy(_Model):
    """Where the source documents disagree, the shop chooses (defaults in POLICY.md)."""

    variants: dict[str, str] = Field(default_factory=dict)
    choices: dict[str, dict[str, str]] = Field(default_factory=dict)
    max_price_change: float = 0.5

    @model_validator(mode="after")
    def _valid_choices(self) -> ShopPolicy:
        for key, value in self.variants.items():
            options = self.choices.get(key)
            if options is not None and value not in options:
                raise ValueError(f"variant {key}={value!r} is not one of {sorted(options)}")
        return self


class QaSection(_Model):
    id: str
    name: str
    weight: float = Field(ge=0)


class QaPolicy(_Model):
    """How QA scorecards weigh things (000:91-113, 002:194-202 leave the numbers to the shop).

    ``sections`` weights add up to 100; ``points`` are deducted per finding of each kind (kinds
    the QA module knows: late_first_response, late_reply, unanswered, wording_block,
    wording_warn, no_thanks, obligation_missed, chased_again); ``thanks_words`` are looked for in
    the last ``thanks_window`` human replies.
    """

    sections: tuple[QaSection, ...]
    points: dict[str, float] = Field(default_factory=dict)
    thanks_words: tuple[str, ...] = ()
    thanks_window: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _weights_add_up(self) -> QaPolicy:
        total = sum(s.weight for s in self.sections)
        if abs(total - 100) > 1e-6:
            raise ValueError(f"qa section weights add up to {total:g}, not 100")
        return self


class Placeholder(_Model):
    """A ``{name}`` a template may use, with the wording used when the value is unknown."""

    label: str
    fallback: str


class Phrasebook(_Model):
    """One published version of everything above."""

    revision: int = 1
    intents: tuple[Intent, ...] = ()
    templates: tuple[Template, ...] = ()
    rules: tuple[WordingRule, ...] = ()
    allow: tuple[str, ...] = ()
    placeholders: dict[str, Placeholder] = Field(default_factory=dict)
    response: ResponsePolicy
    policy: ShopPolicy = ShopPolicy()
    qa: QaPolicy | None = None

    @model_validator(mode="after")
    def _references(self) -> Phrasebook:
        problems: list[str] = []
        for kind, items in (("intent", self.intents), ("template", self.templates), ("rule", self.rules)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    problems.append(f"duplicate {kind} id {item.id!r}")
                seen.add(item.id)
        intent_ids = {intent.id for intent in self.intents}
        for template in self.templates:
            for intent in template.intents:
                if intent_ids and intent not in intent_ids:
                    problems.append(f"template {template.id}: unknown intent {intent!r}")
            for name in template.placeholders:
                if self.placeholders and name not in self.placeholders:
                    problems.append(f"template {template.id}: unknown placeholder {{{name}}}")
            for key, value in template.variant.items():
                options = self.policy.choices.get(key)
                if options is not None and value not in options:
                    problems.append(f"template {template.id}: unknown variant {key}={value}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def obligations_for(self, intent_id: str) -> tuple[Obligation, ...]:
        """The obligations of ``intent_id`` that apply under the shop's chosen variants."""
        chosen = self.policy.variants
        for intent in self.intents:
            if intent.id == intent_id:
                return tuple(o for o in intent.obligations
                             if all(chosen.get(k, v) == v for k, v in o.variant.items()))
        return ()

    def approved_templates(self) -> tuple[Template, ...]:
        """Templates an agent of this shop may be shown (approved, variant chosen by the shop)."""
        chosen = self.policy.variants
        return tuple(
            t for t in self.templates
            if t.status == "approved" and all(chosen.get(k, v) == v for k, v in t.variant.items())
        )
