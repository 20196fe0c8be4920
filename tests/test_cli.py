"""``coach`` as a user runs it: one JSON object per input line, clear errors, round trips."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def coach(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "assistant", *args], input=stdin, capture_output=True,
                          cwd=ROOT, env=dict(os.environ, **(env or {})), timeout=120)


def test_check_json_lines_with_bad_input(tmp_path: Path) -> None:
    huge = "亲" * 20_000
    result = coach("check", "-", stdin="不關我的事\n".encode() + b"\xff\xfe\n\n" + huge.encode() + "\n亲，您好呀\n".encode(),
                   env={"COACH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr.decode()
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(lines) == 5
    assert lines[0]["flags"][0]["rule"] == "taboo.not_my_business"
    assert set(lines[0]["flags"][0]) == {"rule", "category", "severity", "start", "end", "match", "message", "suggestion"}
    assert "UTF-8" in lines[1]["error"] and "空行" in lines[2]["error"] and "太长" in lines[3]["error"]
    assert lines[4] == {"text": "亲，您好呀", "flags": []}
    assert b"Traceback" not in result.stderr


def test_check_text_format_and_missing_file(tmp_path: Path) -> None:
    result = coach("check", "--format", "text", stdin="你自己没看清楚\n".encode(), env={"COACH_DATA_DIR": str(tmp_path)})
    assert "指责买家" in result.stdout.decode()
    missing = coach("check", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "无法读取" in missing.stderr.decode() and b"Traceback" not in missing.stderr


def test_classify_shape() -> None:
    result = coach("classify", "-", stdin="能便宜点吗\n颜色不对，还少了一件\n".encode())
    first, second = (json.loads(line) for line in result.stdout.decode().splitlines())
    assert first["intent"] == "bargaining" and first["intents"][0]["score"] > 0.5 and first["evidence"]
    assert {"colour_difference", "missing_item"} <= {i["intent"] for i in second["intents"]}


def test_phrasebook_export_import_round_trip(tmp_path: Path) -> None:
    env = {"COACH_DATA_DIR": str(tmp_path / "data")}
    exported = coach("phrasebook", "export", "-o", str(tmp_path / "a.yaml"), env=env)
    assert exported.returncode == 0, exported.stderr.decode()
    imported = coach("phrasebook", "import", str(tmp_path / "a.yaml"), env=env)
    assert imported.returncode == 0, imported.stderr.decode()
    again = coach("phrasebook", "export", "-o", str(tmp_path / "b.yaml"), env=env)
    assert again.returncode == 0
    a = yaml.safe_load((tmp_path / "a.yaml").read_text(encoding="utf-8"))
    b = yaml.safe_load((tmp_path / "b.yaml").read_text(encoding="utf-8"))
    a.pop("revision"), b.pop("revision")
    assert a == b
    csv_out = coach("phrasebook", "export", "--format", "csv", env=env)
    (tmp_path / "t.csv").write_bytes(csv_out.stdout + b"broken,row\n")
    csv_in = coach("phrasebook", "import", str(tmp_path / "t.csv"), env=env)
    assert csv_in.returncode == 0 and "t.csv:" in csv_in.stderr.decode()
    assert coach("phrasebook", "lint").returncode == 0
    assert coach("rules", "test").returncode == 0


def test_bad_phrasebook_file_names_the_place(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("templates: [\n", encoding="utf-8")
    result = coach("phrasebook", "lint", "--phrasebook", str(tmp_path / "bad.yaml"))
    assert result.returncode == 2 and "bad.yaml:" in result.stderr.decode() and b"Traceback" not in result.stderr
