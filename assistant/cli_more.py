"""Model, service and QA commands of ``coach`` (kept apart so ``coach check`` starts fast)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli import _open_input, _write_json_line, app, current_phrasebook, err, fail, out, token_app
from .lines import read_lines


def _load_model() -> object:
    from classifiers.intent.model import DEFAULT_MODEL_PATH, IntentModel

    if not DEFAULT_MODEL_PATH.exists():
        raise fail(f"没有训练好的模型 {DEFAULT_MODEL_PATH}；请先运行 coach train")
    book = current_phrasebook()
    model = IntentModel.load(DEFAULT_MODEL_PATH)
    return model.with_keywords({i.id: list(i.keywords) for i in book.intents if i.keywords})


@app.command()
def classify(file: Annotated[str, typer.Argument(help="每行一条买家消息；- 表示标准输入")] = "-") -> None:
    """识别买家消息的意图 / classify buyer messages (one JSON object per line)."""
    from classifiers.intent.model import IntentModel

    model = _load_model()
    assert isinstance(model, IntentModel)
    with _open_input(file) as stream:
        for line in read_lines(stream):
            if line.problem:
                err.print(f"[yellow]跳过 / skipped:[/yellow] {line.problem}")
                _write_json_line({"text": line.text, "intent": None, "intents": [], "evidence": [],
                                  "error": line.problem, "line": line.number})
                continue
            assert line.text is not None
            _write_json_line(model.predict(line.text).to_dict())


@app.command("eval")
def evaluate_command(
    file: Annotated[Path | None, typer.Argument(help="带标注的 JSONL（{text, intents}）；默认内置测试集")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """每个意图的精确率/召回率/F1、宏平均 F1 和混淆矩阵。"""
    from classifiers.intent.data import DATA_DIR, read_jsonl
    from classifiers.intent.evaluate import evaluate
    from classifiers.intent.model import IntentModel

    path = file or DATA_DIR / "test.jsonl"
    if not path.exists():
        raise fail(f"找不到 {path}")
    problems: list[str] = []
    examples = list(read_jsonl(path, problems))
    for problem in problems:
        err.print(f"[yellow]跳过 / skipped:[/yellow] {problem}")
    if not examples:
        raise fail(f"{path} 里没有可用的标注数据")
    model = _load_model()
    assert isinstance(model, IntentModel)
    report = evaluate(examples, model.predict_batch([e.text for e in examples]))
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"{path}  n={report.n}")
    for column in ("intent", "precision", "recall", "F1", "support"):
        table.add_column(column)
    for label, m in sorted(report.per_intent.items()):
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out.print(table)
    out.print(f"macro-F1 {report.macro_f1:.4f} (95% 区间 {report.macro_f1_ci95[0]:.3f}–{report.macro_f1_ci95[1]:.3f})   exact match {report.exact_match:.4f}")
    labels = sorted({k for k in report.confusion} | {p for row in report.confusion.values() for p in row})
    matrix = Table(title="confusion (true → predicted top intent, single-label items)")
    matrix.add_column("true \\ pred")
    for label in labels:
        matrix.add_column(label[:6])
    for true_label in labels:
        row = report.confusion.get(true_label, {})
        matrix.add_row(true_label, *[str(row.get(p, "")) for p in labels])
    out.print(matrix)


@app.command()
def train(
    with_corrections: Annotated[bool, typer.Option("--with-corrections", help="加入客服/主管提交的纠正")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="模型输出路径")] = None,
) -> None:
    """重新训练意图模型（训练集训练、开发集调阈值，测试集不参与）。"""
    from classifiers.intent.data import Example, load_split
    from classifiers.intent.evaluate import evaluate
    from classifiers.intent.model import DEFAULT_MODEL_PATH
    from classifiers.intent.train import fit

    train_set, dev_set = load_split("train"), load_split("dev")
    if with_corrections:
        from .service.store import open_store

        corrections = open_store().list_corrections()
        extra = [Example(c["text"], (c["intent"],))
                 for c in corrections if c["text"]]
        train_set += extra
        err.print(f"加入 {len(extra)} 条纠正 / added {len(extra)} corrections")
    err.print(f"训练 {len(train_set)} 条，开发集 {len(dev_set)} 条 …")
    model = fit(train_set, dev_set)
    dev_report = evaluate(dev_set, model.predict_batch([e.text for e in dev_set]))
    model.meta["dev_macro_f1"] = round(dev_report.macro_f1, 4)
    model.meta["with_corrections"] = with_corrections
    path = output or DEFAULT_MODEL_PATH
    model.save(path)
    out.print(f"已保存 {path}；开发集 macro-F1 {dev_report.macro_f1:.4f}；训练数据哈希 {model.meta['train_hash'][:12]}")


# --------------------------------------------------------------------------- service
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
) -> None:
    """启动教练服务（HTTP + WebSocket）/ run the coaching service."""
    import uvicorn

    from .service.app import create_app
    from .settings import get_settings

    settings = get_settings()
    err.print(f"话术教练服务：http://{host}:{port}/demo  （数据库 {settings.resolved_database_url()}）")
    uvicorn.run(create_app(settings), host=host, port=port, ws_max_size=1024 * 1024, log_level="warning",
                ws_ping_interval=20, ws_ping_timeout=20, ws_per_message_deflate=False)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="agent、supervisor 或 qa")],
    name: Annotated[str, typer.Option(help="使用人，如 小王")],
) -> None:
    """创建访问令牌并打印 / create an access token and print it."""
    from .service.store import ROLES, open_store

    if role not in ROLES:
        raise fail(f"角色只能是 {', '.join(ROLES)}，不是 {role!r}")
    token = open_store().create_token(role, name)
    out.print(token)


def _register_qa() -> None:
    try:
        from .cli_qa import register
    except ImportError:
        return
    register(app)


_register_qa()
