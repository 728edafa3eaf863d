"""`python -m bench`: run the scenarios against a private Redis and print the results."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.config import FULL, QUICK
from bench.harness import Bench
from bench.machine import OtherLoad, describe
from bench.redis_server import RedisServer
from bench.report import Metric, table, write_json
from bench.scenarios import SCENARIOS

RESULTS = Path(__file__).parent / "results"
BUSY_WARNING = 0.10  # other processes' share of the CPUs above which a scenario is flagged


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a 1-2 minute smoke run")
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="run only this (repeatable)"
    )
    parser.add_argument("--repeat", type=int, default=None, help="repetitions per measurement")
    parser.add_argument(
        "--profile", action="store_true", help="also profile one 1-worker throughput drain"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    if args.profile and importlib.util.find_spec("pyinstrument") is None:
        parser.error("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    return args


async def run_scenario(bench: Bench, name: str, redis_pid: int) -> tuple[list[Metric], Any]:
    """One scenario, with its duration and how busy the rest of the machine was meanwhile."""
    print(f"== {name}", file=sys.stderr, flush=True)
    started, other = time.monotonic(), OtherLoad(redis_pid)
    found = await SCENARIOS[name](bench)
    timing = {"seconds": round(time.monotonic() - started, 1), "other_load": other.share()}
    print(table(found), file=sys.stderr)
    busy = f"other processes used {timing['other_load']:.0%} of the CPUs"
    print(f"({timing['seconds']} s; {busy})\n", file=sys.stderr, flush=True)
    return found, timing


def warnings(timing: dict[str, Any]) -> list[str]:
    return [
        f"warning: other processes used {t['other_load']:.0%} of the CPUs during {name!r}; "
        "its numbers are disturbed"
        for name, t in timing.items()
        if t["other_load"] > BUSY_WARNING
    ]


async def amain(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else FULL
    names = args.scenario or list(SCENARIOS)
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    for old in (RESULTS / "logs").glob("*.log"):
        old.unlink()  # each run's logs start empty
    metrics: list[Metric] = []
    timing: dict[str, Any] = {}
    with RedisServer() as server:
        bench = Bench(server.url, sizes, args.repeat or sizes.repeat, RESULTS / "logs")
        bench.profile = RESULTS / "profile-worker" if args.profile else None
        header: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "repeat": bench.repeat,
            "sizes": vars(sizes),
            "machine": describe(server.url),
            "load_average_at_start": os.getloadavg(),
        }
        try:
            for name in names:
                found, timing[name] = await run_scenario(bench, name, server.pid)
                metrics += found
        finally:
            await bench.aclose()
    header["scenarios"] = timing
    print(table(metrics))
    print("\n".join(["", *warnings(timing), f"JSON summary: {args.output}"]))
    write_json(args.output, header, metrics)
    return 1 if any(m.passed is False for m in metrics) else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
