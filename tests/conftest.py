"""Shared fixtures: a real ``coach serve`` process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SUPERVISOR_TOKEN = "test-supervisor-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, base: str, data_dir: Path, process: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.ws = base.replace("http://", "ws://") + "/ws/agent"
        self.data_dir = data_dir
        self.process = process
        self.token = SUPERVISOR_TOKEN

    def tokens(self) -> dict[str, str]:
        """The first-start tokens the service printed and saved."""
        lines = (self.data_dir / "first-tokens.txt").read_text(encoding="utf-8").splitlines()
        return dict(line.split("\t") for line in lines)


def start_server(tmp_path: Path, *, port: int | None = None, data_dir: Path | None = None,
                 **env: str) -> Iterator[Server]:
    """Run ``coach serve`` on a loopback port until the generator is closed.

    ``env`` adds COACH_* variables; pass the same ``port`` and ``data_dir`` to start the same
    service again after stopping it (reconnect tests).
    """
    port = port or free_port()
    data_dir = data_dir or tmp_path / "coach-data"
    environment = dict(os.environ, COACH_DATA_DIR=str(data_dir), COACH_BOOTSTRAP_TOKEN=SUPERVISOR_TOKEN, **env)
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((tmp_path / "server.log").read_text(errors="replace"))
        time.sleep(0.1)
    try:
        yield Server(base, data_dir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh service with short reply limits (×0.1: first response 3 s, answers 2 s)."""
    yield from start_server(tmp_path, COACH_LIMIT_SCALE="0.1", COACH_SHIFT_OVERRIDE="day")


@pytest.fixture
def coach_server(tmp_path: Path) -> Iterator[str]:
    """Base URL of a fresh service for browser tests: day shift, limits ×0.2 (first reply 6 s)."""
    for server in start_server(tmp_path, COACH_LIMIT_SCALE="0.2", COACH_SHIFT_OVERRIDE="day"):
        yield server.base


def keyword_classify(text: str):  # type: ignore[no-untyped-def]
    """A deterministic stand-in for the model in QA tests, so they pin scoring, not the model.

    Module level (not a fixture) so ``--workers 2`` can pickle it.
    """
    from classifiers.intent.model import OTHER, IntentScore, Prediction

    found = []
    if any(k in text for k in ("还没发货", "催一下")):
        found.append("delivery_chase")
    if any(k in text for k in ("破损", "碎了")):
        found.append("damage")
    return Prediction(text, found[0] if found else OTHER, tuple(IntentScore(i, 0.9) for i in found))


@pytest.fixture(scope="session")
def policy():  # type: ignore[no-untyped-def]
    from assistant.policy import CompiledPolicy
    from classifiers.intent.model import IntentModel
    from phrasebook.files import load_default

    return CompiledPolicy.build(load_default(), IntentModel.load())
