"""The FastAPI application: REST routes, the ``/ws/agent`` websocket, pages and metrics.

Roles are enforced here on every route (``require``): agents coach; supervisors also curate the
phrasebook; QA staff (and supervisors) see transcripts and reports.  Every change is audited.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, WebSocket
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from ..settings import Settings, get_settings
from .console_api import console_router
from .hub import Hub
from .qa_api import qa_router
from .runtime_metrics import watch_loop_lag
from .session import AgentSession
from .store import TokenInfo, open_store

__all__ = ["create_app"]

STATIC = Path(__file__).with_name("static")


class TextIn(BaseModel):
    text: str = Field(max_length=10_000)


class SuggestIn(BaseModel):
    text: str = Field(max_length=10_000)
    variables: dict[str, str] = Field(default_factory=dict)


def _bootstrap_tokens(hub: Hub, settings: Settings) -> None:
    store = hub.store
    first_start = not store.has_tokens()
    if settings.bootstrap_token and store.lookup_token(settings.bootstrap_token) is None:
        store.create_token("supervisor", "bootstrap", settings.bootstrap_token)
    if first_start:
        created = {role: store.create_token(role, name) for role, name in
                   (("agent", "首个客服"), ("supervisor", "首个主管"), ("qa", "首个质检"))}
        path = settings.data_dir / "first-tokens.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{role}\t{token}\n" for role, token in created.items()), encoding="utf-8")
        path.chmod(0o600)
        print(f"首次启动，已创建访问令牌 / first start, tokens created (also in {path}):", flush=True)
        for role, token in created.items():
            print(f"  {role:10s} {token}", flush=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await asyncio.to_thread(open_store, settings)
        hub = await asyncio.to_thread(Hub, settings, store)
        _bootstrap_tokens(hub, settings)
        await asyncio.to_thread(hub.start_fanout, asyncio.get_running_loop())
        app.state.hub = hub
        app.state.started = time.time()
        # The model, automata and phrasebook live as long as the process: move them out of the
        # collector's sight, so a full collection under load does not rescan them (measured:
        # p99 round trip at 500 agents, see docs/performance.md).
        gc.collect()
        gc.freeze()
        hub.gc_pauses.install()
        lag_watch = asyncio.create_task(watch_loop_lag(hub.loop_lag))
        yield
        lag_watch.cancel()
        hub.gc_pauses.remove()
        hub.writer.flush()
        hub.writer.close()
        if hub.fanout is not None:
            hub.fanout.close()

    app = FastAPI(title="话术教练 Reply Coach", version="0.1.0", lifespan=lifespan,
                  description="Live reply coaching for online-shop customer service. WebSocket protocol: docs/protocol.md")

    def hub_of(request: Request) -> Hub:
        return request.app.state.hub  # type: ignore[no-any-return]

    def require(*roles: str) -> Callable[..., TokenInfo]:
        def dependency(request: Request, authorization: str = Header(default="")) -> TokenInfo:
            token = authorization.removeprefix("Bearer ").strip()
            info = hub_of(request).store.lookup_token(token)
            if info is None:
                raise HTTPException(401, "需要有效的访问令牌 / a valid bearer token is required")
            if roles and info.role not in roles:
                raise HTTPException(403, f"角色 {info.role} 无权访问 / role {info.role} may not use this (needs {', '.join(roles)})")
            return info
        return dependency

    any_role = require()

    # ------------------------------------------------------------ health and metrics
    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, Any]:
        hub = hub_of(request)
        return {"ok": True, "phrasebook_revision": hub.policy.revision, "model": hub.model is not None,
                "agents": len(hub.agents)}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request) -> str:
        hub = hub_of(request)
        connections = sum(len(a.connections) for a in hub.agents.values())
        lines = [
            "# HELP coach_connections Open agent websockets.", "# TYPE coach_connections gauge",
            f"coach_connections {connections}",
            "# HELP coach_agents Agents with state in this process.", "# TYPE coach_agents gauge",
            f"coach_agents {len(hub.agents)}",
            "# HELP coach_frames_in_total Client frames received.", "# TYPE coach_frames_in_total counter",
            f"coach_frames_in_total {hub.frames_in}",
            "# HELP coach_frames_out_total Frames sent.", "# TYPE coach_frames_out_total counter",
            f"coach_frames_out_total {hub.frames_out}",
            "# HELP coach_frame_errors_total Error frames sent, by code.", "# TYPE coach_frame_errors_total counter",
        ]
        lines += [f'coach_frame_errors_total{{code="{code}"}} {n}' for code, n in sorted(hub.errors.items())]
        lines += hub.runtime_metrics()
        lines += ["# HELP coach_phrasebook_revision Published phrasebook revision.",
                  "# TYPE coach_phrasebook_revision gauge", f"coach_phrasebook_revision {hub.policy.revision}"]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------ coaching REST
    @app.post("/api/classify")
    def classify(body: TextIn, request: Request, _: TokenInfo = Depends(any_role)) -> dict[str, Any]:
        policy = hub_of(request).policy
        if policy.model is None:
            raise HTTPException(503, "意图模型未加载，请先运行 coach train / no intent model: run coach train")
        return policy.model.predict(body.text).to_dict()

    @app.post("/api/check")
    def check(body: TextIn, request: Request, _: TokenInfo = Depends(any_role)) -> dict[str, Any]:
        flags = hub_of(request).policy.check(body.text)
        return {"text": body.text, "flags": [f.to_dict() for f in flags],
                "ok": not any(f.severity == "block" for f in flags)}

    @app.post("/api/suggest")
    def suggest_route(body: SuggestIn, request: Request, _: TokenInfo = Depends(any_role)) -> dict[str, Any]:
        from ..suggest import suggest

        hub = hub_of(request)
        policy = hub.policy
        prediction = policy.model.predict(body.text) if policy.model else None
        if prediction is None:
            raise HTTPException(503, "意图模型未加载 / no intent model")
        suggestions = suggest(policy, prediction, body.text, body.variables, hub.usage)
        return {"intents": prediction.to_dict()["intents"], "suggestions": [s.to_dict() for s in suggestions]}

    # ------------------------------------------------------------ phrasebook (supervisors)
    @app.get("/api/phrasebook")
    def phrasebook(request: Request, who: TokenInfo = Depends(any_role)) -> dict[str, Any]:
        """The published phrasebook; agents see only the templates they may be offered."""
        book = hub_of(request).policy.book
        data = book.model_dump(mode="json", by_alias=True)
        if who.role == "agent":
            data["templates"] = [t.model_dump(mode="json") for t in book.approved_templates()]
        return data

    # ------------------------------------------------------------ websocket
    @app.websocket("/ws/agent")
    async def ws_agent(websocket: WebSocket) -> None:
        hub: Hub = websocket.app.state.hub
        origin = websocket.headers.get("origin")
        if origin is not None and not _origin_allowed(origin, websocket, hub.settings):
            await websocket.accept()  # accept first so the client sees the close code, not a bare 403
            await websocket.close(code=4403, reason="origin not allowed")
            return
        await AgentSession(hub, websocket).run()

    # Supervisor console and QA dashboard (GET /console, /api/console/..., /api/qa/...).
    app.include_router(console_router(hub_of, require))
    app.include_router(qa_router(hub_of, require))

    # ------------------------------------------------------------ pages
    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/demo")

    @app.get("/demo", include_in_schema=False)
    def demo() -> FileResponse:
        return FileResponse(STATIC / "demo.html")

    if STATIC.exists():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _origin_allowed(origin: str, websocket: WebSocket, settings: Settings) -> bool:
    """The service's own pages, browser extensions, and origins the shop lists."""
    if origin.startswith("chrome-extension://"):
        return True
    host = websocket.headers.get("host", "")
    if origin in (f"http://{host}", f"https://{host}"):
        return True
    extra = {o.strip().rstrip("/") for o in settings.allowed_origins.split(",") if o.strip()}
    return origin.rstrip("/") in extra
