"""Replay: transcripts → messages → conversations → scores → one report.

``replay_items`` is the whole pipeline over any iterable of ``Message``/``Problem``; the entry
points wrap it for files on disk (``replay_files``, streaming), uploaded bytes
(``replay_bytes``, for ``POST /api/qa/replay``) and the live service's stored events
(``replay_events``).

``workers > 1`` scores conversations in forked worker processes.  The main process reads,
groups and adds up in input order, and results come back in submission order, so the report
is identical to a single-process run.  At most ``3 × workers`` batches are in flight, which
keeps memory flat whatever the input size.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from phrasebook.files import to_document

from ..policy import CompiledPolicy
from .classify import Classify, classifier_info
from .findings import ConversationScore
from .grouping import DEFAULT_SESSION_GAP_S, Conversation, Grouper
from .messages import Message, Problem
from .readers import Item, ReadOptions, messages_from_events, read_transcript
from .report import AggregateRecord, Report, aggregate_record
from .scorecard import ScorecardConfig, Scorer

__all__ = ["ReplayOptions", "Sink", "Scored", "ReportBuilder", "replay_items", "replay_files", "replay_bytes",
           "replay_events", "iter_files", "rules_hash", "FileStats"]


def scorecard_for(policy: CompiledPolicy, options: ReplayOptions) -> ScorecardConfig:
    """The scorecard in force: an explicit one, else the shop's from the phrasebook."""
    return options.scorecard or ScorecardConfig.from_phrasebook(policy.book)


@dataclass(frozen=True)
class ReplayOptions:
    read: ReadOptions = ReadOptions()
    scorecard: ScorecardConfig | None = None  # None: the phrasebook's ``qa`` section
    session_gap_s: float = DEFAULT_SESSION_GAP_S
    streaming: bool = True  # False: hold every message (exact for any input order)
    min_idle_messages: int = 1000  # streaming flush rules, see grouping.py
    max_idle_messages: int = 20000
    workers: int = 1
    keep: int | None = None  # conversations kept in the Report: None = all, N = the N lowest scores
    batch_messages: int = 2000
    max_problems: int = 1000  # problems listed in the report (all are counted)
    memo: bool = True


class Sink(Protocol):
    """A per-conversation output, e.g. a streaming JSON or CSV writer.

    ``render`` turns a scored conversation into what will be written (it runs where the
    conversation was scored: in a worker process when ``workers > 1``, so the costly
    serialisation is parallel too); ``write`` runs in the main process, in input order.
    """

    def render(self, conversation: ConversationScore) -> Any: ...

    def write(self, rendered: Any) -> None: ...


class Scored(NamedTuple):
    """One scored conversation as the main process receives it."""

    key: str
    score: float
    record: AggregateRecord
    rendered: tuple[Any, ...]  # one item per sink
    conversation: ConversationScore | None  # scored in this process
    text: str | None  # scored in a worker: the conversation's JSON, when the report keeps conversations

    def full(self) -> ConversationScore:
        if self.conversation is not None:
            return self.conversation
        assert self.text is not None
        return ConversationScore.from_dict(json.loads(self.text))


def _score(scorer: Scorer, conversation: Conversation, sinks: Sequence[Sink], in_worker: bool,
           keeps: bool) -> Scored:
    scored = scorer.score(conversation)
    rendered = tuple(sink.render(scored) for sink in sinks)
    text = None
    if in_worker and keeps:
        text = next((r for sink, r in zip(sinks, rendered, strict=True) if getattr(sink, "renders_json", False)),
                    None) or json.dumps(scored.to_dict(), ensure_ascii=False)
    return Scored(scored.key, scored.score, aggregate_record(scored), rendered, None if in_worker else scored, text)


@dataclass
class FileStats:
    name: str
    messages: int = 0
    errors: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "messages": self.messages, "errors": self.errors}


def rules_hash(policy: CompiledPolicy) -> str:
    """A fingerprint of the phrasebook content the replay was scored against."""
    document = json.dumps(to_document(policy.book), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


class ReportBuilder:
    """Adds scored conversations up, feeds the sinks and keeps the ones the report should carry."""

    def __init__(self, meta: dict[str, Any], keep: int | None, max_problems: int,
                 sinks: Sequence[Sink] = ()) -> None:
        self.report = Report(meta=meta)
        self.keep = keep
        self.max_problems = max_problems
        self.sinks = sinks
        self._kept: list[tuple[float, int, Scored]] = []  # heap of (-score, -seq, scored)
        self._all: list[Scored] = []
        self._seq = 0

    def problem(self, problem: Problem) -> None:
        report = self.report
        report.problem_counts[problem.level] += 1
        if len(report.problems) < self.max_problems:
            report.problems.append(problem)

    def add(self, scored: Scored) -> None:
        self._seq += 1
        self.report.aggregator.add_record(scored.record)
        self.report.conversations_total += 1
        for sink, rendered in zip(self.sinks, scored.rendered, strict=True):
            sink.write(rendered)
        if self.keep is None:
            self._all.append(scored)
        elif self.keep > 0:
            entry = (-scored.score, -self._seq, scored)
            if len(self._kept) < self.keep:
                heapq.heappush(self._kept, entry)
            elif entry[:2] > self._kept[0][:2]:
                heapq.heapreplace(self._kept, entry)

    def build(self) -> Report:
        if self.keep is None:
            chosen = self._all
        else:
            chosen = [scored for _s, _q, scored in sorted(self._kept, key=lambda e: -e[1])]
        self.report.conversations = [scored.full() for scored in chosen]
        return self.report


# --------------------------------------------------------------------------- scoring processes
_WORKER_ARGS: tuple[Any, ...] | None = None
_WORKER_SCORER: Scorer | None = None


def _init_worker() -> None:
    global _WORKER_SCORER
    assert _WORKER_ARGS is not None
    policy, classify, config, tz, memo, _sinks, _keeps = _WORKER_ARGS
    _WORKER_SCORER = Scorer(policy, classify, config, tz, memo)


def _score_batch(batch: list[tuple[Any, ...]]) -> list[Scored]:
    assert _WORKER_SCORER is not None and _WORKER_ARGS is not None
    sinks, keeps = _WORKER_ARGS[5], _WORKER_ARGS[6]
    conversations = [Conversation.unpack(packed) for packed in batch]
    _WORKER_SCORER.prefetch(conversations)
    return [_score(_WORKER_SCORER, conversation, sinks, True, keeps) for conversation in conversations]


class _Scoring:
    """Scores batches in this process or in forked workers, always returning results in order.

    Workers get conversations as plain tuples and send back ``Scored`` (tuples and strings):
    pickling dataclasses both ways cost more than the scoring saved.
    """

    def __init__(self, policy: CompiledPolicy, classify: Classify | None, options: ReplayOptions,
                 sinks: Sequence[Sink]) -> None:
        global _WORKER_ARGS
        self.pool: Any = None
        self.pending: deque[AsyncResult[list[Scored]]] = deque()
        self.max_pending = max(2, 3 * options.workers)
        self.sinks = sinks
        self.keeps = options.keep is None or options.keep > 0
        args = (policy, classify, scorecard_for(policy, options), options.read.tz, options.memo)
        self.scorer: Scorer | None = None
        if options.workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            _WORKER_ARGS = (*args, tuple(sinks), self.keeps)
            self.pool = multiprocessing.get_context("fork").Pool(options.workers, initializer=_init_worker)
        else:
            self.scorer = Scorer(*args)

    def submit(self, batch: list[Conversation]) -> list[Scored]:
        if self.pool is None:
            assert self.scorer is not None
            self.scorer.prefetch(batch)
            return [_score(self.scorer, conversation, self.sinks, False, self.keeps) for conversation in batch]
        self.pending.append(self.pool.apply_async(_score_batch, ([c.pack() for c in batch],)))
        out: list[Scored] = []
        while self.pending and (len(self.pending) > self.max_pending or self.pending[0].ready()):
            out.extend(self.pending.popleft().get())
        return out

    def drain(self) -> list[Scored]:
        out: list[Scored] = []
        while self.pending:
            out.extend(self.pending.popleft().get())
        return out

    def close(self, failed: bool = False) -> None:
        if self.pool is not None:
            if failed:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()
            self.pool = None


# --------------------------------------------------------------------------- pipeline
def _meta(policy: CompiledPolicy, options: ReplayOptions, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "rules_revision": policy.revision,
        "rules_hash": rules_hash(policy),
        "classifier": classifier_info(policy),
        "timezone": options.read.tz,
        "session_gap_s": options.session_gap_s,
        "scorecard": scorecard_for(policy, options).to_dict(),
        "response": policy.book.response.model_dump(mode="json"),
        "intents": {intent.id: intent.name for intent in policy.book.intents},
        "generated_at": None,
    }
    meta.update(extra or {})
    return meta


def replay_items(items: Iterable[Item], policy: CompiledPolicy, classify: Classify | None = None,
                 options: ReplayOptions | None = None, sinks: Sequence[Sink] = (),
                 meta: Mapping[str, Any] | None = None,
                 on_conversation: Callable[[int], None] | None = None) -> Report:
    """Score every conversation in ``items`` and add them up (the whole pipeline)."""
    options = options or ReplayOptions()
    builder = ReportBuilder(_meta(policy, options, meta), options.keep, options.max_problems, sinks)
    grouper = Grouper(options.session_gap_s, options.streaming, min_idle_messages=options.min_idle_messages,
                      max_idle_messages=options.max_idle_messages,
                      sweep_every=max(16, min(1024, options.min_idle_messages // 2)))
    scoring = _Scoring(policy, classify, options, sinks)

    def take(results: list[Scored]) -> None:
        for result in results:
            builder.add(result)
        if on_conversation is not None and results:
            on_conversation(len(results))

    batch: list[Conversation] = []
    size = 0
    failed = True
    try:
        for item in items:
            if isinstance(item, Problem):
                builder.problem(item)
                continue
            for conversation in grouper.add(item):
                for warning in conversation.warnings:
                    builder.problem(warning)
                batch.append(conversation)
                size += len(conversation.messages)
            if size >= options.batch_messages:
                take(scoring.submit(batch))
                batch, size = [], 0
        for conversation in grouper.finish():
            for warning in conversation.warnings:
                builder.problem(warning)
            batch.append(conversation)
        if batch:
            take(scoring.submit(batch))
        take(scoring.drain())
        failed = False
    finally:
        scoring.close(failed)
    report = builder.build()
    report.meta["peak_buffered_messages"] = grouper.peak_buffered
    return report


def iter_files(paths: Sequence[str | Path], read: ReadOptions, stats: list[FileStats] | None = None,
               on_bytes: Callable[[int], None] | None = None) -> Iterator[Item]:
    """Items of every file in turn; an unreadable file is one Problem, never the end of the run."""
    for path in paths:
        name = str(path)
        entry = FileStats(name)
        if stats is not None:
            stats.append(entry)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            entry.errors += 1
            yield Problem(name, f"无法读取文件 / cannot read: {exc.strerror or exc}")
            continue
        with handle:
            done = 0
            count = 0
            try:
                for item in read_transcript(handle, name, read):
                    if isinstance(item, Message):
                        entry.messages += 1
                    else:
                        entry.errors += item.level == "error"
                    yield item
                    count += 1
                    if on_bytes is not None and count % 2048 == 0:
                        position = handle.tell()
                        on_bytes(position - done)
                        done = position
            except OSError as exc:
                entry.errors += 1
                yield Problem(name, f"读取中断 / read error: {exc.strerror or exc}")
            if on_bytes is not None:
                try:
                    end = handle.seek(0, io.SEEK_END)
                except OSError:
                    end = done
                on_bytes(end - done)


def replay_files(paths: Sequence[str | Path], policy: CompiledPolicy, classify: Classify | None = None,
                 options: ReplayOptions | None = None, sinks: Sequence[Sink] = (),
                 meta: Mapping[str, Any] | None = None, on_bytes: Callable[[int], None] | None = None) -> Report:
    """Replay transcript files (streaming by default)."""
    options = options or ReplayOptions()
    stats: list[FileStats] = []
    report = replay_items(iter_files(paths, options.read, stats, on_bytes), policy, classify, options, sinks, meta)
    report.meta["files"] = [s.to_dict() for s in stats]
    return report


def replay_bytes(files: Sequence[tuple[str, bytes]], policy: CompiledPolicy, classify: Classify | None = None,
                 options: ReplayOptions | None = None, meta: Mapping[str, Any] | None = None) -> Report:
    """Parse uploaded files and score them, all in memory (for ``POST /api/qa/replay``).

    ``options`` defaults to exact in-memory grouping in this process; ``read`` options carry
    the format, CSV column map and text-export agents as for the CLI.
    """
    options = options or ReplayOptions(streaming=False)
    stats: list[FileStats] = []

    def items() -> Iterator[Item]:
        for name, data in files:
            entry = FileStats(name, bytes=len(data))
            stats.append(entry)
            for item in read_transcript(io.BufferedReader(io.BytesIO(data)), name, options.read):
                if isinstance(item, Message):
                    entry.messages += 1
                else:
                    entry.errors += item.level == "error"
                yield item

    report = replay_items(items(), policy, classify, options, (), meta)
    report.meta["files"] = [s.to_dict() for s in stats]
    return report


def replay_events(rows: Iterable[Mapping[str, Any]], policy: CompiledPolicy, classify: Classify | None = None,
                  options: ReplayOptions | None = None, meta: Mapping[str, Any] | None = None) -> Report:
    """Re-score conversations stored by the live service (rows of the events table)."""
    options = options or ReplayOptions(streaming=False)
    return replay_items(messages_from_events(rows), policy, classify, options, (), meta)
