"""Service settings from the environment (``COACH_*``) or a ``.env`` file (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Every knob of the service; each field is documented in docs/settings.md."""

    model_config = SettingsConfigDict(env_prefix="COACH_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path.home() / ".reply-coach", description="embedded SQLite and reports live here")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_origins: str = Field(
        default="",
        description="comma-separated extra Origins allowed on /ws/agent (the service's own origin and chrome-extension:// are always allowed)",
    )
    hello_timeout_s: float = 5.0
    max_frame_bytes: int = 64 * 1024
    flood_frames_per_s: float = 50.0
    flood_burst: int = 100
    resume_window_s: float = 300.0
    forget_idle_s: float = 4 * 3600.0  # conversation state dropped after this long without a message
    shift_override: str = Field(default="", description="force a shift id (e.g. for tests); empty = by clock")
    limit_scale: float = Field(default=1.0, description="multiply every reply limit (tests use small values)")
    timezone: str = "Asia/Shanghai"
    bootstrap_token: str = Field(default="", description="if set, created as a supervisor token on first start")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'coach.db'}"


def get_settings() -> Settings:
    return Settings()
