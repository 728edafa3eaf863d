"""Server-side cost per Redis command and per durable script, from SLOWLOG with a 0 µs threshold.

Used by `--profile`: while one drain runs, Redis logs every command with its execution time
(excluding network and queueing); scripts are named by matching their SHA1 to durable/lua/*.lua.
Redis 7 also logs the commands a script runs, so a script's time includes the commands listed
under it; the two sections must not be added up.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from redis.asyncio import Redis

from durable.settings import Settings
from durable.store import SCRIPTS, script_source

SLOWLOG_MAX = 500_000
# The benchmark's own traffic (gate, polls, this module), not the workers' work.
DRIVER_COMMANDS = frozenset({"blpop", "config", "info", "llen", "rpush", "slowlog", "zcard"})


def script_names(settings: Settings) -> dict[str, str]:
    """SHA1 -> script name, for the scripts as this deployment's settings render them."""
    sources = {name: script_source(name, settings) for name in SCRIPTS}
    return {hashlib.sha1(src.encode()).hexdigest(): name for name, src in sources.items()}


async def start(redis: Redis) -> None:
    await redis.config_set("slowlog-max-len", SLOWLOG_MAX)
    await redis.slowlog_reset()
    await redis.config_set("slowlog-log-slower-than", 0)


async def stop(redis: Redis, settings: Settings, units: int) -> list[dict[str, Any]]:
    """Per command (scripts by name): calls and µs per unit of work, µs per call."""
    await redis.config_set("slowlog-log-slower-than", 10_000)
    entries = await redis.slowlog_get(SLOWLOG_MAX)
    names = script_names(settings)
    calls: dict[str, int] = defaultdict(int)
    micros: dict[str, int] = defaultdict(int)
    for entry in entries:
        words = _text(entry["command"]).split()
        name = words[0].lower() if words else "?"
        if name in DRIVER_COMMANDS:
            continue
        if name == "evalsha" and len(words) > 1:
            name = f"script {names.get(words[1], words[1][:8])}"
        calls[name] += 1
        micros[name] += int(entry["duration"])
    rows = [
        {
            "command": name,
            "calls_per_unit": calls[name] / units,
            "us_per_unit": micros[name] / units,
            "us_per_call": micros[name] / calls[name],
        }
        for name in calls
    ]
    return sorted(rows, key=lambda row: -row["us_per_unit"])


def render(rows: list[dict[str, Any]], unit: str) -> str:
    scripts = [r for r in rows if r["command"].startswith("script ")]
    commands = [r for r in rows if not r["command"].startswith("script ")]
    total = sum(r["us_per_unit"] for r in scripts)
    return "\n".join(
        [
            "Scripts (time includes the commands they run):",
            *_lines(scripts, unit),
            f"{'all scripts':<24} {'':>12} {total:>10.1f}",
            "",
            "Commands, top-level and inside scripts:",
            *_lines(commands, unit),
        ]
    )


def _lines(rows: list[dict[str, Any]], unit: str) -> list[str]:
    lines = [f"{'command':<24} {'calls/' + unit:>12} {'µs/' + unit:>10} {'µs/call':>8}"]
    for row in rows:
        lines.append(
            f"{row['command']:<24} {row['calls_per_unit']:>12.2f} "
            f"{row['us_per_unit']:>10.1f} {row['us_per_call']:>8.1f}"
        )
    return lines


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
