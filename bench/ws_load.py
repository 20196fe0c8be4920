"""Load on ``/ws/agent``: N agents sending buyer messages and drafts, and idle connections held.

    python bench/ws_load.py [--agents 500] [--duration 60] [--rate 2] [--idle 2000] [--pin]
    python bench/ws_load.py --capacity [--capacity-step 50] [--step-duration 20] [--target-ms 20] --pin

Starts a real ``coach serve`` on loopback (or use ``--url`` for one already running), connects
the agents with the ``websockets`` client, each sending ``rate`` buyer messages and ``rate``
drafts per second, and prints round-trip p50/p99, frames/s, server RSS, error frames and
lost answers.  Then it opens ``--idle`` more connections that only say hello and keeps them
open, and prints the server's RSS with all of them held.  The baseline in the same run is the
round trip of ``ping`` (no coaching work) at the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import websockets

TOKEN = "bench-supervisor-token"
MESSAGES = ["在吗", "能便宜点吗", "怎么还没发货", "收到的杯子碎了", "少发了一件", "颜色和图片不一样",
            "这个165穿多大", "发什么快递", "质量太差了要退货", "你们客服态度太差", "地址写错了帮我改一下", "好的谢谢"]
DRAFTS = ["亲，您好，这边马上帮您查询物流哦", "不关我的事", "亲，这款已经是活动最优惠的价格了哦",
          "加我微信 138 1234 5678", "亲，非常抱歉，麻烦您拍照发给我们看一下"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(coro):  # type: ignore[no-untyped-def]
    """Run with uvloop when available: the client must not be the bottleneck it measures."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Stats:
    def __init__(self) -> None:
        self.rtt: dict[str, list[float]] = {"coaching": [], "draft_check": [], "pong": []}
        self.sent = 0
        self.answered = 0
        self.errors = 0
        self.frames_in = 0


async def agent(url: str, index: int, stop_at: float, rate: float, stats: Stats, ping_only: bool,
                phase: str = "") -> None:
    rng = random.Random(index)
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "hello", "token": TOKEN, "agent_id": f"bench-{index}"}))
        json.loads(await ws.recv())
        pending: dict[str, float] = {}

        async def reader() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                stats.frames_in += 1
                kind = frame["type"]
                if kind == "error":
                    stats.errors += 1
                key = frame.get("message_id") or frame.get("draft_id") or ("ping" if kind == "pong" else None)
                started = pending.pop(key, None) if key else None
                if started is not None:
                    stats.answered += 1
                    stats.rtt.setdefault(kind, []).append(time.perf_counter() - started)

        task = asyncio.create_task(reader())
        n = 0
        interval = 1.0 / (2 * rate)
        await asyncio.sleep(rng.random() * interval)
        while time.monotonic() < stop_at:
            n += 1
            conversation = f"c{phase}{index}-{n // 20}"
            if ping_only:
                key, frame = "ping", {"type": "ping"}
            elif n % 2:
                key = f"m{phase}{index}-{n}"
                frame = {"type": "buyer_message", "conversation_id": conversation, "message_id": key,
                         "text": rng.choice(MESSAGES)}
            else:
                key = f"d{phase}{index}-{n}"
                frame = {"type": "draft", "conversation_id": conversation, "draft_id": key, "text": rng.choice(DRAFTS)}
            if ping_only and "ping" in pending:
                await asyncio.sleep(interval)
                continue
            pending[key] = time.perf_counter()
            stats.sent += 1
            await ws.send(json.dumps(frame, ensure_ascii=False))
            await asyncio.sleep(interval)
        await asyncio.sleep(1.0)  # let the last answers arrive
        task.cancel()


async def run_load(url: str, agents: int, duration: float, rate: float, ping_only: bool) -> Stats:
    stats = Stats()
    stop_at = time.monotonic() + duration
    # Fresh conversation and message ids for every phase: the server answers a repeated
    # message_id from its resend cache without classifying it again (idempotency), which
    # would make a second phase measure the cache instead of the coaching.
    phase = f"{time.monotonic_ns():x}."
    await asyncio.gather(*(agent(url, i, stop_at, rate, stats, ping_only, phase) for i in range(agents)))
    return stats


def server_side(base: str) -> None:
    """Server-side histograms read back from /metrics: handling time per frame type, event-loop
    lag and garbage-collector pauses (what makes a round trip slow when handling is fast)."""
    import httpx

    text = httpx.get(base + "/metrics", timeout=10).text
    for metric, label, title in (("coach_frame_seconds", "type", "server handling"),
                                 ("coach_event_loop_lag_seconds", "loop", "event-loop lag"),
                                 ("coach_gc_pause_seconds", "generation", "GC pause, generation")):
        buckets: dict[str, list[tuple[float, int]]] = {}
        sums: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(metric + "_bucket"):
                labels, value = line.split("} ")
                kind = labels.split(f'{label}="')[1].split('"')[0]
                bound = labels.split('le="')[1].split('"')[0]
                buckets.setdefault(kind, []).append((float("inf") if bound == "+Inf" else float(bound), int(value)))
            elif line.startswith(metric + "_sum"):
                sums[line.split(f'{label}="')[1].split('"')[0]] = float(line.split("} ")[1])
        for kind, rows in sorted(buckets.items()):
            total = rows[-1][1]

            def quantile(q: float, rows: list[tuple[float, int]] = rows, total: int = total) -> str:
                bound = next(b for b, c in rows if c >= q * total)
                return f"≤ {bound * 1000:g} ms" if bound != float("inf") else "> 1 s"

            worst = next((b for b, c in reversed(rows) if c < total), 0.0)
            print(f"  {title} {kind:14s} n={total:,}  p50 {quantile(0.5)}  p99 {quantile(0.99)}  "
                  f"worst > {worst * 1000:g} ms  total {sums.get(kind, 0.0):.2f} s")


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured_load(label: str, url: str, args: argparse.Namespace, server: psutil.Process | None,
                  duration: float, ping_only: bool, agents: int | None = None) -> Stats:
    """One load phase: run it, report round trips, then the CPU both sides spent on it."""
    cpu_before, client_before = (sum(server.cpu_times()[:2]) if server else 0.0), client_cpu()
    stats = run(run_load(url, agents or args.agents, duration, args.rate, ping_only=ping_only))
    report(label, stats, duration)
    if server:
        cpu = sum(server.cpu_times()[:2]) - cpu_before
        print(f"  server CPU {cpu / duration:.0%} of one core, {cpu / max(stats.sent, 1) * 1000:.2f} ms per frame "
              f"answered; load generator CPU {(client_cpu() - client_before) / duration:.0%}")
    return stats


def p99_ms(stats: Stats) -> float | None:
    rtts = sorted(x for values in stats.rtt.values() for x in values)
    return rtts[int(len(rtts) * 0.99) - 1] * 1000 if rtts else None


def report(label: str, stats: Stats, duration: float) -> None:
    rtts = sorted(x for values in stats.rtt.values() for x in values)
    if not rtts:
        print(f"{label}: no answers")
        return
    p50 = statistics.median(rtts) * 1000
    p99 = p99_ms(stats)
    lost = stats.sent - stats.answered
    print(f"{label:28s} sent {stats.sent:,}  answered {stats.answered:,}  lost {lost:,}  errors {stats.errors:,}  "
          f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  {stats.frames_in / duration:,.0f} frames/s in")


async def hold_idle(url: str, count: int, server: psutil.Process | None) -> None:
    sockets = []
    start = time.perf_counter()
    for i in range(count):
        ws = await websockets.connect(url, max_queue=None)
        await ws.send(json.dumps({"type": "hello", "token": TOKEN, "agent_id": f"idle-{i}"}))
        await ws.recv()
        sockets.append(ws)
    print(f"idle: {count:,} connections opened and greeted in {time.perf_counter() - start:.1f} s")
    await asyncio.sleep(5)
    ok = 0
    for ws in sockets[:: max(1, count // 50)]:
        await ws.send(json.dumps({"type": "ping"}))
        ok += json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
    rss = f"{server.memory_info().rss / 2**20:.0f} MB" if server else "n/a"
    print(f"idle: all held 5 s, sampled {ok} answered ping; server RSS {rss}")
    for ws in sockets:
        await ws.close()


def capacity(url: str, args: argparse.Namespace, server: psutil.Process | None) -> None:
    """How many agents one process serves within the target: steps of ``--capacity-step`` agents
    until a step misses (p99 over the target, or any frame lost or errored).

    This is the figure to size a deployment by (processes = agents / capacity); the same
    server keeps its state from step to step, as a service does through a shift.
    """
    print(f"capacity: steps of {args.capacity_step} agents × {args.step_duration:g} s, target p99 ≤ {args.target_ms:g} ms")
    best = 0
    for agents in range(args.capacity_step, args.agents + 1, args.capacity_step):
        stats = measured_load(f"  {agents} agents", url, args, server, args.step_duration, ping_only=False, agents=agents)
        p99 = p99_ms(stats)
        if p99 is None or p99 > args.target_ms or stats.answered < stats.sent or stats.errors:
            break
        best = agents
    print(f"capacity: {best} agents per process at p99 ≤ {args.target_ms:g} ms "
          f"({args.rate:g} buyer messages + {args.rate:g} drafts per agent per second)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--rate", type=float, default=2.0, help="buyer messages (and drafts) per agent per second")
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--pin", action="store_true",
                        help="pin the server to CPU 0 and this client to the other CPUs (Linux)")
    parser.add_argument("--capacity", action="store_true",
                        help="instead of one load: step the number of agents and report how many meet the target")
    parser.add_argument("--capacity-step", type=int, default=50)
    parser.add_argument("--step-duration", type=float, default=20)
    parser.add_argument("--target-ms", type=float, default=20)
    parser.add_argument("--url", default="", help="an already running server's ws URL (token must be " + TOKEN + ")")
    args = parser.parse_args()
    raise_fd_limit()
    process = None
    url = args.url
    if not url:
        port = free_port()
        data = tempfile.mkdtemp(prefix="ws-load-")
        env = dict(os.environ, COACH_DATA_DIR=data, COACH_BOOTSTRAP_TOKEN=TOKEN, COACH_FLOOD_FRAMES_PER_S="1000")
        process = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent)
        url = f"ws://127.0.0.1:{port}/ws/agent"
        import httpx

        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
    server = psutil.Process(process.pid) if process else None
    if args.pin and server and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        # One machine plays both sides: give the server a core of its own, or the figure is
        # mostly the client's queueing, not the server's.
        os.sched_setaffinity(server.pid, {0})
        os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))
    try:
        print(f"{args.agents} agents × ({args.rate:g} buyer messages + {args.rate:g} drafts)/s for {args.duration:g} s; "
              f"client and server on one {os.cpu_count()}-core machine"
              + ("; server pinned to CPU 0, client to the rest" if args.pin and server else ""))
        measured_load("baseline: ping only", url, args, server, min(args.duration, 15), ping_only=True)
        if args.capacity:
            capacity(url, args, server)
            return
        stats = measured_load("coaching + draft checks", url, args, server, args.duration, ping_only=False)
        for kind in ("coaching", "draft_check"):
            values = sorted(stats.rtt.get(kind, []))
            if values:
                print(f"  {kind:14s} p50 {statistics.median(values) * 1000:.1f} ms  p99 {values[int(len(values) * .99) - 1] * 1000:.1f} ms")
        server_side(url.replace("ws://", "http://").removesuffix("/ws/agent"))
        if server:
            print(f"server RSS after load: {server.memory_info().rss / 2**20:.0f} MB")
        if args.idle:
            run(hold_idle(url, args.idle, server))
    finally:
        if process:
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
