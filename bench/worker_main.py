"""One benchmark worker process (a real arq worker built by `durable.worker.settings.build`).

    python -m bench.worker_main --redis-url URL --prefix P --mode durable|arq --gate KEY

It imports everything, reports ready on `KEY:ready` and blocks on `KEY:go`, so the driver can
start all workers at the same instant and time the work rather than Python start-up. In `arq`
mode the same arq options run a no-op function instead of durable's task (the raw-arq baseline).
On exit, and on SIGUSR1, it writes to `--stats` what it sent Redis since the gate opened:
`writes`, its network writes (a command, or a pipeline of them, is one), and `round_trips`, the
commands it waited for one by one (a durable worker pipelines the concurrent calls of its
executions, durable/worker/pipelining.py: each of those calls is one round trip for its
execution, however many share a write).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from types import FrameType
from typing import Any

from arq.worker import Worker, func
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from bench.workflows import workflows
from durable import logs
from durable.settings import Settings
from durable.worker import loops
from durable.worker.claim import DurableWorker
from durable.worker.pipelining import Pipelining
from durable.worker.settings import build
from durable.workflow import as_registry

NOOP_FUNCTION = "bench_noop"
ROUND_TRIPS = [0]  # network writes: every send_packed_command
PIPELINES: list[Pipelining] = []
DUMPS = [0]


async def bench_noop(ctx: dict[str, Any]) -> None:
    return None


def count_round_trips() -> None:
    """Every command or pipeline is one send_packed_command: counting them counts round trips.

    A plain function handing back the original coroutine adds no coroutine frame per send."""
    original = AbstractConnection.send_packed_command

    def counting(
        self: AbstractConnection, command: Any, check_health: bool = True
    ) -> Coroutine[Any, Any, None]:
        ROUND_TRIPS[0] += 1
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    original_init = Pipelining.__init__

    def registering(self: Pipelining, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        PIPELINES.append(self)

    Pipelining.__init__ = registering  # type: ignore[method-assign]


def stats() -> dict[str, int]:
    """Commands sent one by one through redis-py, plus the pipelined script calls (which
    write to their connection themselves, several calls a write)."""
    sent = ROUND_TRIPS[0]
    writes = sent + sum(p.writes for p in PIPELINES)
    return {
        "writes": writes,
        "round_trips": sent + sum(p.calls for p in PIPELINES),
        "dumps": DUMPS[0],
    }


def write_stats(path: Path | None) -> None:
    if path is not None:
        DUMPS[0] += 1
        path.write_text(json.dumps(stats()))


def dump_on_sigusr1(path: Path | None) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        write_stats(path)

    signal.signal(signal.SIGUSR1, handler)


def worker_options(mode: str, settings: Settings, concurrency: int | None) -> dict[str, Any]:
    options = build(settings, concurrency=concurrency)
    if mode == "arq":
        options.update(functions=[func(bench_noop, name=NOOP_FUNCTION)])
        options.update(on_startup=None, on_shutdown=None)
    else:
        options["ctx"]["durable_registry"] = as_registry(workflows)
    return options


async def wait_at_gate(redis_url: str, gate: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.rpush(f"{gate}:ready", os.getpid())
        await redis.blpop([f"{gate}:go"], timeout=0)
    finally:
        await redis.aclose()


def run(args: argparse.Namespace) -> None:
    settings = Settings(redis_url=args.redis_url, prefix=args.prefix)
    # durable runs on its own worker class, raw arq on stock arq: what each user would run
    worker_class = Worker if args.mode == "arq" else DurableWorker
    # the loop `durable worker` runs on (uvloop where installed), for raw arq too: the ratio
    # compares the work each does, not their event loops
    loops.install()
    worker = worker_class(**worker_options(args.mode, settings, args.concurrency))
    worker.loop.run_until_complete(wait_at_gate(args.redis_url, args.gate))
    ROUND_TRIPS[0] = 0
    for pipelining in PIPELINES:
        pipelining.writes = pipelining.calls = 0
    if args.profile is None:
        worker.run()
    else:
        run_profiled(worker, args.profile)


def run_profiled(worker: Worker, stem: Path) -> None:
    """Sample the whole process (event loop included) and save a tree, a flat list and HTML."""
    from pyinstrument import Profiler
    from pyinstrument.renderers import PstatsRenderer

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        worker.run()
    finally:
        session = profiler.stop()
        stem.with_suffix(".txt").write_text(profiler.output_text(show_all=False))
        stem.with_suffix(".html").write_text(profiler.output_html())
        stem.with_suffix(".pstats").write_bytes(
            PstatsRenderer().render(session).encode("utf-8", "surrogateescape")
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_main")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--mode", choices=("durable", "arq"), default="durable")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--gate", required=True)
    parser.add_argument("--stats", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None, help="pyinstrument output stem")
    args = parser.parse_args()
    logs.configure()  # the shipped default: INFO, text lines on stderr (both modes)
    count_round_trips()
    dump_on_sigusr1(args.stats)
    run(args)
    write_stats(args.stats)


if __name__ == "__main__":
    main()
