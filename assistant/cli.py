"""``coach``: the command line.  Each command calls one core function and prints the result.

User mistakes (missing files, bad input) end in one clear line and exit code 2, never a
traceback.  Line-oriented commands keep going after a bad line and report it in place.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.text import Text

from phrasebook.files import PhrasebookError, dump, load_default, load_file
from phrasebook.schema import RULE_CATEGORIES, Phrasebook

from .lines import read_lines

app = typer.Typer(add_completion=False, no_args_is_help=True, help="话术教练 Reply Coach")
phrasebook_app = typer.Typer(no_args_is_help=True, help="导入、导出、检查话术库 / phrasebook import, export, lint")
rules_app = typer.Typer(no_args_is_help=True, help="措辞规则说明与自测 / wording rules")
token_app = typer.Typer(no_args_is_help=True, help="访问令牌 / access tokens")
app.add_typer(phrasebook_app, name="phrasebook")
app.add_typer(rules_app, name="rules")
app.add_typer(token_app, name="token")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

PhrasebookOption = Annotated[
    Path | None,
    typer.Option("--phrasebook", "-p", help="话术库目录或导出文件；默认用服务数据库，没有则用内置话术库"),
]


def fail(message: str) -> typer.Exit:
    err.print(f"[red]错误 / error:[/red] {message}")
    return typer.Exit(2)


def _open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller's with-block
    except OSError as exc:
        raise fail(f"无法读取 {path}: {exc.strerror}") from exc


def current_phrasebook(path: Path | None = None) -> Phrasebook:
    """``path`` if given, else the service's stored phrasebook if there is one, else the bundled one."""
    try:
        if path is not None:
            return load_file(path)
        from .service.store import existing_phrasebook

        stored = existing_phrasebook()
        return stored if stored is not None else load_default()
    except PhrasebookError as exc:
        raise fail(str(exc)) from exc


def _write_json_line(item: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- check
@app.command()
def check(
    file: Annotated[str, typer.Argument(help="每行一条草稿；- 表示标准输入")] = "-",
    fmt: Annotated[str, typer.Option("--format", help="json（每行一个 JSON）或 text（高亮显示）")] = "json",
    phrasebook: PhrasebookOption = None,
) -> None:
    """检查客服草稿的措辞 / check agent drafts against the wording rules."""
    from .policy import CompiledPolicy

    if fmt not in ("json", "text"):
        raise fail(f"--format 只能是 json 或 text，不是 {fmt!r}")
    policy = CompiledPolicy.build(current_phrasebook(phrasebook))
    problems = 0
    with _open_input(file) as stream:
        for line in read_lines(stream):
            if line.problem:
                problems += 1
                err.print(f"[yellow]跳过 / skipped:[/yellow] {line.problem}")
                if fmt == "json":
                    _write_json_line({"text": line.text, "flags": [], "error": line.problem, "line": line.number})
                continue
            assert line.text is not None
            flags = policy.check(line.text)
            if fmt == "json":
                _write_json_line({"text": line.text, "flags": [f.to_dict() for f in flags]})
            else:
                _print_highlighted(line.text, flags)
    if problems:
        err.print(f"{problems} 行有问题已跳过 / {problems} line(s) skipped")


def _print_highlighted(text: str, flags: list) -> None:  # type: ignore[type-arg]
    rendered = Text(text)
    for flag in flags:
        style = "bold white on red" if flag.severity == "block" else "bold black on yellow"
        if flag.end > flag.start and flag.category not in ("no_honorific", "too_long"):
            rendered.stylize(style, flag.start, flag.end)
    status = Text("✗ " if any(f.severity == "block" for f in flags) else ("! " if flags else "✓ "),
                  style="red" if flags else "green")
    out.print(status + rendered)
    for flag in flags:
        tag = "拦截" if flag.severity == "block" else "提醒"
        out.print(f"    [{tag}] {RULE_CATEGORIES.get(flag.category, flag.category)} "
                  f"「{flag.match[:30]}」 {flag.message}；建议：{flag.suggestion}  ({flag.rule} {flag.start}-{flag.end})")


# --------------------------------------------------------------------------- rules
@rules_app.command("explain")
def rules_explain(rule_id: str, phrasebook: PhrasebookOption = None) -> None:
    """打印一条规则：做什么、为什么、例子、替代说法。"""
    book = current_phrasebook(phrasebook)
    rule = next((r for r in book.rules if r.id == rule_id), None)
    if rule is None:
        raise fail(f"没有规则 {rule_id!r}；可用：{', '.join(r.id for r in book.rules)}")
    out.print(f"[bold]{rule.id}[/bold]  {RULE_CATEGORIES[rule.category]} / {rule.category}  严重度：{rule.severity}")
    out.print(f"提示：{rule.message}")
    out.print(f"为什么：{rule.why}（出处 {rule.source}）")
    if rule.patterns:
        out.print(f"匹配（{rule.match}）：{'、'.join(rule.patterns)}")
    if rule.allow:
        out.print(f"放行：{'、'.join(rule.allow)}")
    if rule.unless:
        out.print(f"同句出现则不算：{'、'.join(rule.unless)}")
    out.print(f"建议改为：{rule.suggestion}")
    for example in rule.examples.flag:
        out.print(f"  ✗ {example}")
    for example in rule.examples.pass_:
        out.print(f"  ✓ {example}")


@rules_app.command("test")
def rules_test(phrasebook: PhrasebookOption = None) -> None:
    """运行每条规则自带的例子 / run every rule's own examples."""
    from .policy import CompiledPolicy

    policy = CompiledPolicy.build(current_phrasebook(phrasebook))
    failures = rule_example_failures(policy)
    for failure in failures:
        err.print(f"[red]✗[/red] {failure}")
    total = sum(len(r.examples.flag) + len(r.examples.pass_) for r in policy.checker.rules)
    out.print(f"{total - len(failures)}/{total} 个例子通过")
    if failures:
        raise typer.Exit(1)


def rule_example_failures(policy: object) -> list[str]:
    from .policy import CompiledPolicy

    assert isinstance(policy, CompiledPolicy)
    failures = []
    for rule in policy.checker.rules:
        for example in rule.examples.flag:
            if not any(f.rule == rule.id for f in policy.check(example)):
                failures.append(f"{rule.id}: 应命中却没有 / should flag: {example}")
        for example in rule.examples.pass_:
            if any(f.rule == rule.id for f in policy.check(example)):
                failures.append(f"{rule.id}: 不应命中 / should pass: {example}")
    return failures


# --------------------------------------------------------------------------- phrasebook
@phrasebook_app.command("export")
def phrasebook_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="输出文件；默认标准输出")] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml、json 或 csv（仅话术模板）")] = "yaml",
    phrasebook: PhrasebookOption = None,
) -> None:
    """导出整个话术库 / export the phrasebook."""
    book = current_phrasebook(phrasebook)
    if fmt == "csv":
        from phrasebook.tabular import templates_to_csv

        text = templates_to_csv(book.templates)
    elif fmt in ("yaml", "json"):
        text = dump(book, fmt)
    else:
        raise fail(f"--format 只能是 yaml、json 或 csv，不是 {fmt!r}")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"已导出到 {output}")


@phrasebook_app.command("import")
def phrasebook_import(
    source: Annotated[Path, typer.Argument(help="导出的 YAML/JSON 文件、话术库目录，或模板 CSV")],
    actor: Annotated[str, typer.Option(help="记入历史的操作人")] = "cli",
) -> None:
    """把文件导入服务数据库（每项变更都有版本和审计记录）。"""
    from .service.store import open_store

    if not source.exists():
        raise fail(f"找不到 {source}")
    store = open_store().phrasebook
    if source.suffix == ".csv":
        from phrasebook.tabular import CsvProblem, merge_templates, templates_from_csv

        current = store.load() if not store.is_empty() else load_default()
        try:
            templates, problems = templates_from_csv(source.read_bytes(), str(source))
        except CsvProblem as exc:
            raise fail(str(exc)) from exc
        for problem in problems:
            err.print(f"[yellow]跳过 / skipped:[/yellow] {problem}")
        try:
            book = merge_templates(current, templates)
        except ValueError as exc:
            raise fail(f"{source}: {exc}") from exc
    else:
        book = current_phrasebook(source)
    revision = store.replace_all(book, actor)
    out.print(f"已导入 {len(book.intents)} 个意图、{len(book.templates)} 条模板、{len(book.rules)} 条规则；话术库版本 {revision}")


@phrasebook_app.command("lint")
def phrasebook_lint(phrasebook: PhrasebookOption = None) -> None:
    """检查话术库：结构、规则自带例子、已审核模板是否会被拦截、每个意图的模板数。"""
    from .policy import CompiledPolicy

    book = current_phrasebook(phrasebook)
    policy = CompiledPolicy.build(book)
    problems = rule_example_failures(policy)
    for template in book.approved_templates():
        for flag in policy.check_template(template):
            if flag.severity == "block":
                problems.append(f"模板 {template.id} 会被拦截：{flag.rule}「{flag.match}」")
    for intent in book.intents:
        count = len(policy.templates_by_intent.get(intent.id, ()))
        if count < 5:
            problems.append(f"意图 {intent.id} 只有 {count} 条已审核模板（建议至少 5 条）")
    for problem in problems:
        err.print(f"[red]✗[/red] {problem}")
    out.print(f"{len(book.intents)} 个意图、{len(book.templates)} 条模板、{len(book.rules)} 条规则；{len(problems)} 个问题")
    if problems:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``coach`` console script."""
    from . import cli_more  # noqa: F401  registers the model, service and QA commands on ``app``

    app()


if __name__ == "__main__":
    main()
