"""Scenario 2: event -> resume latency through the HTTP API.

Instances wait on an event. The driver POSTs one event per instance at a steady rate (open
loop); each payload carries the wall clock read just before its POST, and the step after the
wait reads the clock when it runs. Latency = run time - send time (one machine, one clock).
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from bench.harness import PREFIX, Bench, ids
from bench.processes import ApiServer
from bench.redis_server import free_port
from bench.report import Metric, metric
from bench.stats import percentile
from bench.workflows import AWAIT_EVENT, EVENT_TYPE
from durable import keys

NAME = "events"
WORKERS = 2
# Before push wake-ups (workers polling every 5 ms; docs/benchmarks.md, commit f3f96d2)
BEFORE = {"p50": 5.06, "p99": 8.44}


async def post_event(http: httpx.AsyncClient, instance_id: str) -> float:
    """POST one event; returns how long the request took in ms."""
    sent = time.time()
    body = {"type": EVENT_TYPE, "payload": {"sent": sent}}
    response = await http.post(f"/{AWAIT_EVENT}/instances/{instance_id}/events", json=body)
    response.raise_for_status()
    return 1e3 * (time.time() - sent)


async def send_all(http: httpx.AsyncClient, instance_ids: list[str], rate: float) -> list[float]:
    """Open loop: the i-th POST starts at i/rate s, whether or not earlier ones finished."""
    start = time.perf_counter()
    tasks = []
    for i, iid in enumerate(instance_ids):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post_event(http, iid)))
    return list(await asyncio.gather(*tasks))


async def latencies_ms(bench: Bench, instance_ids: list[str]) -> tuple[list[float], list[float]]:
    """Per instance: send -> next step ran, and send -> event stored (its Redis-clock `c`)."""
    async with bench.redis.pipeline(transaction=False) as pipe:
        for iid in instance_ids:
            pipe.hget(keys.instance_key(PREFIX, AWAIT_EVENT, iid), "output")
            pipe.hget(keys.events_key(PREFIX, AWAIT_EVENT, iid, 0), "1")
        replies = await pipe.execute()
    outputs = [json.loads(r) for r in replies[0::2]]
    stored = [json.loads(r)["c"] for r in replies[1::2]]
    total = [1e3 * (o["ran"] - o["sent"]) for o in outputs]
    to_store = [c - 1e3 * o["sent"] for o, c in zip(outputs, stored, strict=True)]
    return total, to_store


async def one_round(bench: Bench, http: httpx.AsyncClient, tag: str) -> list[list[float]]:
    n = bench.sizes.events
    instance_ids = ids(tag, n)
    await bench.flush()
    await bench.create(AWAIT_EVENT, instance_ids)
    await bench.wait_for_count(AWAIT_EVENT, "waiting", n, 60 + n / 50)
    posts = await send_all(http, instance_ids, bench.sizes.event_rate_per_s)
    await bench.wait_for_count(AWAIT_EVENT, "complete", n, 60)
    total, to_store = await latencies_ms(bench, instance_ids)
    return [total, to_store, posts]


async def run(bench: Bench) -> list[Metric]:
    found: dict[str, list[float]] = {k: [] for k in ("p50", "p99", "max", "post", "stored")}
    api = ApiServer(bench.redis_url, PREFIX, free_port(), bench.logdir)
    async with api, httpx.AsyncClient(base_url=api.base_url) as http:
        with bench.workers(WORKERS) as group:
            await group.release(bench.redis)
            for rep in range(bench.repeat):
                total, to_store, posts = await one_round(bench, http, f"e{rep}")
                found["p50"].append(percentile(total, 50))
                found["p99"].append(percentile(total, 99))
                found["max"].append(max(total))
                found["post"].append(percentile(posts, 50))
                found["stored"].append(percentile(to_store, 50))
    rate = f"{bench.sizes.event_rate_per_s}/s open loop, {bench.sizes.events} events"
    before = "before push wake-ups (5 ms polling): {} ms"
    return [
        metric(
            NAME,
            "event -> next step p50",
            "ms",
            found["p50"],
            bar="<= 2",
            ok=lambda v: v <= 2,
            note=before.format(BEFORE["p50"]),
        ),
        metric(
            NAME,
            "event -> next step p99",
            "ms",
            found["p99"],
            bar="<= 10",
            ok=lambda v: v <= 10,
            note=before.format(BEFORE["p99"]),
        ),
        metric(NAME, "event -> next step max", "ms", found["max"], note=rate),
        metric(NAME, "  of which POST -> event stored, p50", "ms", found["stored"]),
        metric(NAME, "POST /events response time p50", "ms", found["post"]),
    ]
