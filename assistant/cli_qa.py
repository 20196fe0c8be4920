"""``coach replay``: score chat transcripts and write the QA report (JSON, CSV, HTML).

The main CLI calls ``register(app)``.  The command only parses options, opens files and shows
progress; the scoring is ``assistant.qa.replay.replay_files``.  Bad rows are reported with
``file:line`` on stderr and in the report, and never stop the run.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["register", "replay"]

PROGRESS_MIN_BYTES = 2_000_000
SHOWN_PROBLEMS = 20

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]错误 / error:[/red] {message}")
    return typer.Exit(2)


def replay(
    files: Annotated[list[Path], typer.Argument(help="聊天记录文件：JSONL、CSV 或纯文本导出（可多个）")],
    json_out: Annotated[Path | None, typer.Option("--json", help="完整报告 JSON（含每个会话的扣分和聊天记录）")] = None,
    agents_csv: Annotated[Path | None, typer.Option("--csv", help="每个客服一行的 CSV")] = None,
    conversations_csv: Annotated[Path | None, typer.Option("--conversations-csv", help="每个会话一行的 CSV")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="自包含的中文 HTML 报告")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto、jsonl、csv 或 text（默认按扩展名判断）")] = "auto",
    column_map: Annotated[list[str] | None, typer.Option(
        "--map", help="CSV 列名映射，如 conversation_id=会话ID,role=角色,agent_id=客服,text=内容,ts=时间")] = None,
    agents: Annotated[str, typer.Option(
        "--agents", help="纯文本导出里客服的昵称，逗号分隔；以 * 结尾表示前缀（如 优品旗舰店*）")] = "",
    encoding: Annotated[str, typer.Option("--encoding", help="文件编码，如 utf-8、gbk")] = "utf-8",
    tz: Annotated[str, typer.Option("--tz", help="不带时区的时间按此时区理解")] = "Asia/Shanghai",
    session_gap: Annotated[float, typer.Option(
        "--session-gap", help="同一会话停顿超过这么多秒，后面的消息算新的一次接待")] = 7200.0,
    workers: Annotated[int, typer.Option("--workers", "-w", help="并行计分的进程数（结果与 1 个进程完全相同）")] = 1,
    phrasebook: Annotated[Path | None, typer.Option(
        "--phrasebook", "-p", help="话术库目录或导出文件；默认用服务数据库，没有则用内置话术库")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="意图模型 .npz；默认用内置训练好的模型")] = None,
    no_model: Annotated[bool, typer.Option("--no-model", help="不加载意图模型，只按话术库关键词识别意图")] = False,
    in_memory: Annotated[bool, typer.Option(
        "--in-memory", help="把所有消息读入内存再分组（输入既不按时间也不按会话排序时用）")] = False,
    drilldown: Annotated[int, typer.Option("--drilldown", help="HTML 里展开的会话数（得分最低的）")] = 300,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="不显示进度条和问题行")] = False,
) -> None:
    """回放聊天记录并质检打分 / replay transcripts and score them."""
    from assistant.qa.exports import ConversationCsvWriter, JsonReportWriter, write_agents_csv
    from assistant.qa.readers import FORMATS, ReadOptions, parse_column_map
    from assistant.qa.render import render_html
    from assistant.qa.replay import ReplayOptions, replay_files

    if fmt not in FORMATS:
        raise _fail(f"--format 只能是 {'、'.join(FORMATS)}，不是 {fmt!r}")
    if workers < 1:
        raise _fail("--workers 至少是 1")
    if session_gap <= 0:
        raise _fail("--session-gap 必须大于 0")
    try:
        mapping = parse_column_map(column_map)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    try:
        from assistant.qa.messages import zone

        zone(tz)
    except Exception as exc:  # noqa: BLE001 - any bad zone name is a user mistake
        raise _fail(f"未知时区 {tz!r}") from exc
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise _fail(f"未知编码 {encoding!r}") from exc
    for path in (json_out, agents_csv, conversations_csv, html_out):
        if path is not None and not path.parent.exists():
            raise _fail(f"输出目录不存在：{path.parent}")

    policy = _policy(phrasebook, model, no_model)
    read = ReadOptions(fmt=fmt, column_map=mapping, agents=tuple(a for a in agents.split(",") if a.strip()),
                       encoding=encoding, tz=tz)
    options = ReplayOptions(read=read, session_gap_s=session_gap, streaming=not in_memory, workers=workers,
                            keep=drilldown if html_out is not None else 0)
    sinks: list[Any] = []
    json_writer = csv_writer = None
    try:
        if json_out is not None:
            json_writer = JsonReportWriter(json_out)
            sinks.append(json_writer)
        if conversations_csv is not None:
            csv_writer = ConversationCsvWriter(conversations_csv, tz)
            sinks.append(csv_writer)
    except OSError as exc:
        raise _fail(f"无法写入 {exc.filename}: {exc.strerror}") from exc

    total = sum(p.stat().st_size for p in files if p.is_file())
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    started = time.perf_counter()
    show_progress = not quiet and total >= PROGRESS_MIN_BYTES
    try:
        if show_progress:
            columns = (TextColumn("回放"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
            with Progress(*columns, console=err, transient=True) as progress:
                task = progress.add_task("replay", total=total)
                report = replay_files(files, policy, None, options, sinks, meta,
                                      on_bytes=lambda n: progress.advance(task, n))
        else:
            report = replay_files(files, policy, None, options, sinks, meta)
    except BaseException:
        if json_writer is not None:
            json_writer.abort()
        if csv_writer is not None:
            csv_writer.finish()
        raise
    elapsed = time.perf_counter() - started

    try:
        if json_writer is not None:
            json_writer.finish(report)
        if csv_writer is not None:
            csv_writer.finish()
        if agents_csv is not None:
            write_agents_csv(report, agents_csv)
        if html_out is not None:
            html_out.write_text(render_html(report, drilldown), encoding="utf-8")
    except OSError as exc:
        raise _fail(f"无法写入 {exc.filename}: {exc.strerror}") from exc

    _print_problems(report, quiet)
    _print_summary(report, elapsed, [p for p in (json_out, agents_csv, conversations_csv, html_out) if p])
    if report.summary["messages"] == 0:
        raise typer.Exit(1)


def _policy(phrasebook: Path | None, model_path: Path | None, no_model: bool) -> Any:
    from assistant.cli import current_phrasebook
    from assistant.policy import CompiledPolicy
    from classifiers.intent.model import DEFAULT_MODEL_PATH, IntentModel

    book = current_phrasebook(phrasebook)
    model = None
    if not no_model:
        path = model_path or DEFAULT_MODEL_PATH
        if path.exists():
            try:
                model = IntentModel.load(path)
            except Exception as exc:  # noqa: BLE001 - a broken model file is reported, not a traceback
                raise _fail(f"无法加载意图模型 {path}: {exc}") from exc
        elif model_path is not None:
            raise _fail(f"找不到意图模型 {model_path}")
        else:
            err.print("[yellow]提示：[/yellow]没有找到训练好的意图模型，只按话术库关键词识别意图")
    return CompiledPolicy.build(book, model)


def _print_problems(report: Any, quiet: bool) -> None:
    counts = report.problem_counts
    if not counts:
        return
    if not quiet:
        for problem in report.problems[:SHOWN_PROBLEMS]:
            tag = "[yellow]警告 / warning:[/yellow]" if problem.level == "warning" else "[yellow]跳过 / skipped:[/yellow]"
            err.print(f"{tag} {escape(problem.where)}: {escape(problem.message)}", soft_wrap=True)
    errors, warnings = counts.get("error", 0), counts.get("warning", 0)
    shown = min(len(report.problems), SHOWN_PROBLEMS) if not quiet else 0
    rest = errors + warnings - shown
    err.print(f"{errors} 行有问题已跳过，{warnings} 条警告" + (f"（另有 {rest} 条见报告）" if rest > 0 else "")
              + f" / {errors} row(s) skipped, {warnings} warning(s)")


def _print_summary(report: Any, elapsed: float, written: list[Path]) -> None:
    summary = report.summary
    messages = summary["messages"]
    rate = messages / elapsed if elapsed > 0 else 0.0
    avg = summary["avg_score"]
    out.print(f"会话 {report.conversations_total} 个，消息 {messages} 条，平均分 "
              f"{'—' if avg is None else f'{avg:g}'}，自动判零 {summary['auto_fails']} 个，"
              f"罚款合计 ¥{summary['fines_yuan']:g}，未回复 {summary['unanswered']} 次；"
              f"规则版本 r{report.rules_revision}；用时 {elapsed:.1f} 秒（{rate:,.0f} 条/秒）")
    for path in written:
        out.print(f"已写入 {path}")


def register(app: typer.Typer) -> None:
    """Add ``replay`` to the ``coach`` command line."""
    app.command("replay")(replay)
