"""What the process itself costs the agents' round trips: event-loop lag and garbage-collector pauses.

Handling times per frame (``coach_frame_seconds``) can all be short while answers still wait:
every frame is served by one event loop, so anything that holds it — a full garbage collection,
a thread holding the GIL — delays every agent at once.  These two histograms, exposed on
``/metrics``, show such stalls directly (they were how the 130 ms collections under load were
found, docs/performance.md).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

__all__ = ["BUCKETS", "Histogram", "GcPauses", "watch_loop_lag"]

BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class Histogram:
    """Prometheus-style cumulative buckets per label value."""

    def __init__(self, name: str, help_text: str, label: str) -> None:
        self.name, self.help_text, self.label = name, help_text, label
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, value: str, seconds: float) -> None:
        counts = self.counts.get(value)
        if counts is None:
            counts = self.counts[value] = [0] * (len(BUCKETS) + 1)
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.sums[value] = self.sums.get(value, 0.0) + seconds

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} histogram"]
        for value, counts in sorted(self.counts.items()):
            tag = f'{self.label}="{value}"'
            for bound, count in zip(BUCKETS, counts, strict=False):
                out.append(f'{self.name}_bucket{{{tag},le="{bound}"}} {count}')
            out.append(f'{self.name}_bucket{{{tag},le="+Inf"}} {counts[-1]}')
            out.append(f"{self.name}_sum{{{tag}}} {self.sums[value]:.6f}")
            out.append(f"{self.name}_count{{{tag}}} {counts[-1]}")
        return out


class GcPauses:
    """Times every garbage collection of this process, per generation."""

    def __init__(self) -> None:
        self.histogram = Histogram("coach_gc_pause_seconds", "Garbage-collector pauses (they stop every socket).",
                                   "generation")
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.histogram.observe(str(info.get("generation", "?")), time.perf_counter() - self._started)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


async def watch_loop_lag(histogram: Histogram, every_s: float = 0.01) -> None:
    """Forever: sleep ``every_s`` and record how late the loop woke us (0 when nothing blocks it)."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(every_s)
        histogram.observe("loop", max(0.0, time.perf_counter() - started - every_s))
