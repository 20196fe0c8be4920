"""``coach replay``: every output written, problems reported, options checked."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from assistant.cli_qa import register
from assistant.qa.report import Report

DATA = Path(__file__).parent / "data" / "qa"


@pytest.fixture()
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> typer.Typer:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "service"))  # no service database: bundled phrasebook
    application = typer.Typer()
    register(application)

    @application.callback()
    def _main() -> None:  # keeps "replay" a sub-command, as in the real CLI
        pass

    return application


def run(app: typer.Typer, *args: str) -> object:
    return CliRunner().invoke(app, ["replay", *args], catch_exceptions=False)


def test_replay_writes_every_output(app: typer.Typer, tmp_path: Path) -> None:
    out = {name: tmp_path / name for name in ("out.json", "agents.csv", "conv.csv", "report.html")}
    result = run(app, str(DATA / "cases.jsonl"), str(DATA / "chat_export.txt"), str(DATA / "broken.jsonl"),
                 "--agents", "阿强", "--no-model",
                 "--json", str(out["out.json"]), "--csv", str(out["agents.csv"]),
                 "--conversations-csv", str(out["conv.csv"]), "--html", str(out["report.html"]))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    output = result.output  # type: ignore[attr-defined]
    assert "会话 13 个" in output and "规则版本 r1" in output
    assert f"{DATA / 'broken.jsonl'}:2" in output and "8 行有问题已跳过" in output

    data = json.loads(out["out.json"].read_text(encoding="utf-8"))
    assert data["conversations_total"] == 13 and data["conversations_complete"] is True
    assert data["meta"]["rules_revision"] == 1 and data["meta"]["classifier"]["kind"] == "keywords"
    assert data["meta"]["generated_at"]
    assert [p["where"].rsplit("/", 1)[1] for p in data["problems"]] == [
        f"broken.jsonl:{n}" for n in (2, 3, 4, 5, 6, 7, 8, 11)]
    report = Report.from_dict(data)
    assert report.to_dict() == data  # the streamed file is exactly the report's JSON form
    block = next(c for c in data["conversations"] if c["key"] == "c-block")
    assert block["score"] == 0.0 and block["auto_fail"] is True

    with out["agents.csv"].open(encoding="utf-8-sig") as handle:
        agents = {row["客服"]: row for row in csv.DictReader(handle)}
    assert set(agents) == {"小美", "小丽", "阿强", "客服小丽", "优品旗舰店:小美"}
    assert agents["小丽"]["罚款(元)"] == "20" and agents["小丽"]["自动判零"] == "1"

    with out["conv.csv"].open(encoding="utf-8-sig") as handle:
        rows = {row["会话"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 13
    assert rows["c-late"]["首次响应(秒)"] == "75" and rows["c-late"]["罚款(元)"] == "10"
    assert rows["c-late"]["总分"] == "90" and rows["c-block"]["自动判零"] == "是"
    assert "response.shifts.day.first_response_s -10" in rows["c-late"]["扣分明细"]

    html = out["report.html"].read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'lang="zh-CN"' in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)  # self-contained: nothing fetched
    assert "http://" not in html and "https://" not in html
    assert html.count("<svg") == 2 and "响应时间分布" in html and "违规类型" in html
    assert '<mark class="block">微信</mark>' in html and '<mark class="warn">但是</mark>' in html
    assert "c-block" in html and "自动判零" in html


def test_two_workers_write_the_same_json(app: typer.Typer, tmp_path: Path) -> None:
    outputs = []
    for workers in ("1", "2"):
        path = tmp_path / f"w{workers}.json"
        result = run(app, str(DATA / "cases.jsonl"), str(DATA / "cases.csv"), "--no-model", "-q",
                     "--workers", workers, "--json", str(path))
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        data = json.loads(path.read_text(encoding="utf-8"))
        data["meta"].pop("generated_at")
        outputs.append(data)
    assert outputs[0] == outputs[1]


def test_csv_with_column_map_and_text_format(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    result = run(app, str(DATA / "mapped.csv"), "--no-model", "--json", str(path),
                 "--map", "conversation_id=对话编号,role=发送者身份,agent_id=坐席", "--map", "text=消息,ts=发送时间")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [c["key"] for c in data["conversations"]] == ["m-1"]
    assert data["conversations"][0]["deductions"][0]["kind"] == "late_first_response"


def test_progress_bar_on_large_inputs(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.cli_qa as cli_qa

    seen = []
    monkeypatch.setattr(cli_qa, "PROGRESS_MIN_BYTES", 0)
    original = cli_qa.Progress.advance
    monkeypatch.setattr(cli_qa.Progress, "advance", lambda self, task, n: (seen.append(n), original(self, task, n)))
    result = run(app, str(DATA / "cases.jsonl"), "--no-model")
    assert result.exit_code == 0
    assert sum(seen) == (DATA / "cases.jsonl").stat().st_size


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "xml"], "--format"),
    (["--map", "colour=颜色"], "colour"),
    (["--workers", "0"], "--workers"),
    (["--tz", "Mars/Base"], "时区"),
    (["--encoding", "klingon"], "编码"),
    (["--json", "/no/such/dir/out.json"], "输出目录不存在"),
    (["--model", "/no/such/model.npz"], "意图模型"),
])
def test_user_mistakes_are_one_clear_line(app: typer.Typer, args: list[str], message: str) -> None:
    result = run(app, str(DATA / "cases.jsonl"), *args)
    assert result.exit_code == 2
    assert message in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_nothing_readable_exits_1_but_reports(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result = run(app, str(tmp_path / "missing.jsonl"), "--no-model", "--json", str(path))
    assert result.exit_code == 1
    assert "无法读取文件" in result.output  # type: ignore[attr-defined]
    assert json.loads(path.read_text(encoding="utf-8"))["problems_total"] == 1


def test_default_model_is_used_when_present(app: typer.Typer, tmp_path: Path) -> None:
    from classifiers.intent.model import DEFAULT_MODEL_PATH

    if not DEFAULT_MODEL_PATH.exists():
        pytest.skip("no trained intent model in this checkout")
    path = tmp_path / "m.json"
    result = run(app, str(DATA / "cases.jsonl"), "--json", str(path))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert json.loads(path.read_text(encoding="utf-8"))["meta"]["classifier"]["kind"] == "model"


def test_every_option_is_documented(app: typer.Typer) -> None:
    command = typer.main.get_command(app).commands["replay"]  # type: ignore[attr-defined]
    docs = (Path(__file__).parents[1] / "docs" / "qa.md").read_text(encoding="utf-8")
    options = [opt for param in command.params for opt in param.opts if opt.startswith("--")]
    assert len(options) > 10
    missing = [opt for opt in options if f"`{opt}" not in docs]
    assert missing == []
