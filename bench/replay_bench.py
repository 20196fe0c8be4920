"""QA replay throughput and memory: ``python bench/replay_bench.py [--messages N] [--workers 1,2]``.

1. Generates N messages of canonical JSONL (default 1,000,000), streaming to disk: shop-like
   conversations (buyer texts from the intent corpus, agent replies from the approved templates
   with order numbers filled in, a few violations, late and unanswered rounds), interleaved and
   sorted by time the way a console export is.
2. Baselines over the same file, in the same run: a bare ``json.loads`` pass, and the QA
   reader (parse + validate + timestamps).
3. The full replay (read → group → engine → score → add up), each configuration in a fresh
   process so its peak RSS is its own: with the trained intent model and with keywords only,
   one process and ``--workers 2``.  RSS is also sampled as the replay goes, to show it is flat.

``--profile`` runs cProfile on a single-process replay of the first 100,000 messages and prints
what dominates.  Figures go to stdout as a table; ``--json PATH`` saves them too.
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CST = timezone(timedelta(hours=8))
AGENTS = [f"客服{n:02d}" for n in range(1, 21)]
BAD_REPLIES = ["不知道", "加我微信吧", "但是这个没办法", "嗯", "这个保证明天到", "你自己没看清楚详情", "好评返现5元"]
CLOSING = ["好的", "谢谢", "好的谢谢", "嗯嗯"]
SUFFIXES = ["", "", "", "？", "。", "！", "呀", "哦", "~", "[图片]", "亲"]


def _corpus() -> tuple[list[str], list[str]]:
    from classifiers.intent.data import DATA_DIR
    from phrasebook.files import load_default

    buyers: list[str] = []
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        path = DATA_DIR / name
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                buyers.extend(json.loads(line)["text"] for line in handle if line.strip())
    book = load_default()
    replies = [t.text for t in book.approved_templates()]
    return buyers or ["在吗", "什么时候发货"], replies


def _fill(text: str, rng: random.Random) -> str:
    if "{" not in text:
        return text
    values = {
        "buyer_name": "亲", "order_no": str(rng.randrange(10**17, 10**18)), "tracking_no": f"SF{rng.randrange(10**12, 10**13)}",
        "courier": rng.choice(["顺丰", "中通", "圆通", "韵达"]), "days": rng.choice(["2-3", "3-5", "1-2"]),
        "coupon": "5元优惠券", "product": "这款宝贝", "shop_name": "小店", "agent_name": "小美",
        "amount": f"{rng.randint(5, 50)}元",
    }
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        return text


def generate(path: Path, messages: int, seed: int = 20240501) -> dict[str, Any]:
    """Write ``messages`` lines of time-sorted canonical JSONL; only open conversations are in memory."""
    rng = random.Random(seed)
    buyers, replies = _corpus()
    start = datetime(2024, 5, 1, 8, 0, tzinfo=CST).timestamp()
    heap: list[tuple[float, int, str]] = []
    written = 0
    conversations = 0
    seq = 0
    clock = start
    dumps = json.dumps
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        while written < messages:
            clock += rng.expovariate(1 / 12.0)  # a new conversation every ~12 s
            while heap and heap[0][0] <= clock and written < messages:
                _ts, _s, line = heapq.heappop(heap)
                out.write(line)
                written += 1
            conversations += 1
            cid = f"conv-{conversations:07d}"
            agent = rng.choice(AGENTS)
            t = clock
            for turn in range(rng.randint(1, 6)):
                rows: list[dict[str, Any]] = []
                text = rng.choice(buyers)
                if rng.random() < 0.4:
                    text += rng.choice(SUFFIXES) + (str(rng.randrange(100, 9999)) if rng.random() < 0.3 else "")
                rows.append({"conversation_id": cid, "role": "buyer", "agent_id": agent, "text": text, "ts": t})
                if turn == 0 and rng.random() < 0.2:
                    t += 1
                    rows.append({"conversation_id": cid, "role": "agent", "agent_id": agent, "auto": True,
                                 "text": "您好，欢迎光临小店，客服马上为您服务", "ts": t})
                if rng.random() < 0.03:  # unanswered
                    t += rng.uniform(60, 600)
                else:
                    t += rng.choice((rng.uniform(2, 18), rng.uniform(2, 18), rng.uniform(2, 18), rng.uniform(15, 45),
                                     rng.uniform(40, 200)))
                    reply = rng.choice(BAD_REPLIES) if rng.random() < 0.03 else _fill(rng.choice(replies), rng)
                    rows.append({"conversation_id": cid, "role": "agent", "agent_id": agent, "text": reply, "ts": t})
                    t += rng.uniform(5, 120)
                for row in rows:
                    row["ts"] = datetime.fromtimestamp(row["ts"], CST).isoformat(timespec="seconds")
                    seq += 1
                    heapq.heappush(heap, (datetime.fromisoformat(row["ts"]).timestamp(), seq,
                                          dumps(row, ensure_ascii=False) + "\n"))
            if rng.random() < 0.5:
                t += rng.uniform(3, 30)
                seq += 1
                row = {"conversation_id": cid, "role": "buyer", "agent_id": agent, "text": rng.choice(CLOSING),
                       "ts": datetime.fromtimestamp(t, CST).isoformat(timespec="seconds")}
                heapq.heappush(heap, (t, seq, dumps(row, ensure_ascii=False) + "\n"))
        while heap and written < messages:
            out.write(heapq.heappop(heap)[2])
            written += 1
    return {"messages": written, "conversations": conversations, "bytes": path.stat().st_size,
            "days": round((clock - start) / 86400, 1)}


# --------------------------------------------------------------------------- measured passes
def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the worker pool, once joined)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _peak_mb(children: bool = False) -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024  # kB on Linux


def baseline_json(path: Path) -> dict[str, Any]:
    loads = json.loads
    cpu_before = _cpu_s()
    started = time.perf_counter()
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            loads(line)
            count += 1
    seconds = time.perf_counter() - started
    return {"name": "基线：只做 json.loads", "messages": count, "seconds": seconds, "cpu_s": _cpu_s() - cpu_before}


def baseline_reader(path: Path) -> dict[str, Any]:
    from assistant.qa.messages import Message
    from assistant.qa.readers import read_transcript

    cpu_before = _cpu_s()
    started = time.perf_counter()
    count = 0
    with path.open("rb") as handle:
        for item in read_transcript(handle, path.name):
            count += isinstance(item, Message)
    seconds = time.perf_counter() - started
    return {"name": "基线：QA 读取器（解析+校验+时间）", "messages": count, "seconds": seconds,
            "cpu_s": _cpu_s() - cpu_before}


def run_replay(path: Path, workers: int, model: bool, memo: bool, limit: int | None = None) -> dict[str, Any]:
    """One replay in this process; returns figures (used by the child processes)."""
    from assistant.policy import CompiledPolicy
    from assistant.qa.readers import read_transcript
    from assistant.qa.replay import ReplayOptions, replay_items
    from classifiers.intent.model import DEFAULT_MODEL_PATH, IntentModel
    from phrasebook.files import load_default

    intent_model = IntentModel.load(DEFAULT_MODEL_PATH) if model and DEFAULT_MODEL_PATH.exists() else None
    policy = CompiledPolicy.build(load_default(), intent_model)
    samples: list[tuple[int, float]] = []
    state = {"conversations": 0}

    def sample(count: int) -> None:
        state["conversations"] += count
        if state["conversations"] // 5000 != (state["conversations"] - count) // 5000:
            samples.append((state["conversations"], round(_rss_mb(), 1)))

    with path.open("rb") as handle:
        items = read_transcript(handle, path.name)
        if limit is not None:
            items = (item for index, item in zip(range(limit), items, strict=False))
        cpu_before = _cpu_s()
        started = time.perf_counter()
        report = replay_items(items, policy, None, ReplayOptions(workers=workers, keep=0, memo=memo),
                              on_conversation=sample)
        seconds = time.perf_counter() - started
        cpu = _cpu_s() - cpu_before
    return {
        "messages": report.summary["messages"], "conversations": report.conversations_total, "seconds": seconds,
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(_peak_mb(), 1), "children_peak_rss_mb": round(_peak_mb(children=True), 1),
        "rss_samples": samples[:: max(1, len(samples) // 8)], "classifier": report.meta["classifier"]["kind"],
        "avg_score": report.summary["avg_score"], "peak_buffered": report.meta["peak_buffered_messages"],
    }


def child(path: Path, workers: int, model: bool, memo: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(path), "--workers", str(workers),
               *([] if model else ["--no-model"]), *([] if memo else ["--no-memo"])]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"child failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def profile(path: Path, limit: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_replay(path, 1, True, True, limit)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(18)
    stream.write("\n---- cumulative ----\n")
    stats.sort_stats("cumulative").print_stats(25)
    return stream.getvalue()


def _table(rows: list[dict[str, Any]]) -> str:
    """Wall-clock rate, rate per CPU-second (= per core, robust to a busy machine) and peak RSS."""
    lines = [f"{'配置':<36}{'消息':>11}{'墙钟秒':>8}{'消息/秒':>10}{'CPU秒':>8}{'消息/CPU秒':>12}{'峰值RSS MB':>14}"]
    for row in rows:
        rate = row["messages"] / row["seconds"] if row["seconds"] else 0
        cpu = row.get("cpu_s") or 0
        per_cpu = row["messages"] / cpu if cpu else 0
        peak = row.get("peak_rss_mb")
        peak_text = "—" if peak is None else (f"{peak:.0f}" + (f"+{row['children_peak_rss_mb']:.0f}"
                                                                  if row.get("cores", 1) > 1 else ""))
        lines.append(f"{row['name']:<36}{row['messages']:>11,}{row['seconds']:>8.1f}{rate:>10,.0f}"
                     f"{cpu:>8.1f}{per_cpu:>12,.0f}{peak_text:>14}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    parser.add_argument("--file", type=Path, help="use/keep the generated file here")
    parser.add_argument("--no-keywords-run", action="store_true", help="skip the keywords-only configuration")
    parser.add_argument("--no-memo-run", action="store_true", help="skip the configuration without memoisation")
    parser.add_argument("--profile", action="store_true", help="cProfile a single-process replay")
    parser.add_argument("--profile-messages", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-model", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-memo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        print(json.dumps(run_replay(args.child, int(args.workers), not args.no_model, not args.no_memo)))
        return

    from classifiers.intent.model import DEFAULT_MODEL_PATH

    workdir = None if args.file else Path(tempfile.mkdtemp(prefix="replay-bench-"))
    path = args.file or Path(workdir or ".") / "transcripts.jsonl"
    if not path.exists() or sum(1 for _ in path.open("rb")) != args.messages:
        started = time.perf_counter()
        info = generate(path, args.messages)
        print(f"生成 {info['messages']:,} 条消息、{info['conversations']:,} 个会话、跨 {info['days']} 天、"
              f"{info['bytes'] / 1e6:.0f} MB，用时 {time.perf_counter() - started:.0f} 秒 → {path}")
    print(f"Python {sys.version.split()[0]}，{os.cpu_count()} 核，开始时负载 {os.getloadavg()[0]:.1f}；意图模型："
          f"{'有' if DEFAULT_MODEL_PATH.exists() else '无（只用关键词）'}")

    rows: list[dict[str, Any]] = [baseline_json(path), baseline_reader(path)]
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    configs = [(w, True, True) for w in workers]
    if not args.no_keywords_run:
        configs.append((1, False, True))
    if not args.no_memo_run:
        configs.append((1, True, False))
    for count, model, memo in configs:
        figures = child(path, count, model, memo)
        label = f"回放 {'模型' if figures['classifier'] == 'model' else '关键词'}"
        label += f"，{count} 进程" + ("" if memo else "，不缓存")
        rows.append({"name": label, "cores": count, **figures})
        samples = "、".join(f"{c:,}会话:{mb:.0f}MB" for c, mb in figures["rss_samples"])
        print(f"  {label}: 平均分 {figures['avg_score']}，分组缓冲峰值 {figures['peak_buffered']:,} 条消息；"
              f"RSS 采样 {samples}", flush=True)
    print()
    print(_table(rows))
    if args.profile:
        print()
        print(profile(path, args.profile_messages))
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    if workdir is not None:  # the generated file was ours to clean up
        path.unlink(missing_ok=True)
        workdir.rmdir()


if __name__ == "__main__":
    main()
