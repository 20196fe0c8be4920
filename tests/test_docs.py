"""Docs kept honest: every frame type, setting and command is documented."""

from pathlib import Path

from assistant.cli import app
from assistant.service.protocol import CLIENT_FRAMES, SERVER_FRAMES
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_frame_type_is_in_the_protocol_doc() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    for frame in [*CLIENT_FRAMES, *SERVER_FRAMES]:
        assert f"`{frame}`" in doc, frame


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`{name}`" in doc or f"`{name}`," in doc or name in doc, name


def test_every_command_is_in_the_readme() -> None:
    from assistant import cli_more  # noqa: F401  registers all commands

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    names += [g.name for g in app.registered_groups]
    for name in names:
        assert f"coach {name}" in readme, name
