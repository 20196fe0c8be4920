"""QA replay: transcripts (JSONL / CSV / text export / stored events) → engine → scorecards → reports.

Pure core: ``readers``/``chat_text`` (bytes → Message | Problem), ``grouping`` (messages →
conversations), ``scorecard`` (one conversation through ``ConversationEngine`` → deductions and a
score), ``report`` (totals per agent and day, overrides).  Around it: ``replay`` (the pipeline,
workers), ``exports`` (JSON/CSV files) and ``render`` (HTML).  See docs/qa.md.
"""

from .messages import Message, Problem
from .readers import ReadOptions, messages_from_events
from .render import render_html
from .replay import ReplayOptions, replay_bytes, replay_events, replay_files, replay_items
from .report import Override, OverrideError, Report, apply_overrides
from .scorecard import ScorecardConfig, Scorer

__all__ = [
    "Message", "Problem", "ReadOptions", "messages_from_events", "render_html", "ReplayOptions", "replay_bytes",
    "replay_events", "replay_files", "replay_items", "Override", "OverrideError", "Report", "apply_overrides",
    "ScorecardConfig", "Scorer",
]
