"""Scenario 6: create rate, through the HTTP API (single and batch routes, concurrent clients)
and directly through durable.Client for comparison. No workers run meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench.config import BATCH_SIZE, HTTP_CONCURRENCY
from bench.harness import PREFIX, Bench, fan_out, ids
from bench.processes import ApiServer
from bench.redis_server import free_port
from bench.report import Metric, metric
from bench.workflows import THREE_STEPS

NAME = "create"
Send = Callable[[httpx.AsyncClient, Any], Awaitable[None]]


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def rate(items: list[Any], fn: Callable[[Any], Awaitable[Any]], per_item: int) -> float:
    """Instances created per second when `fn` runs over `items` HTTP_CONCURRENCY at a time."""
    started = time.perf_counter()
    await fan_out(items, fn, HTTP_CONCURRENCY)
    return len(items) * per_item / (time.perf_counter() - started)


async def http_rate(base_url: str, items: list[Any], send: Send, per_item: int) -> float:
    """Like `rate`, over HTTP: one client (one keep-alive connection) per concurrent lane.

    One shared httpx.AsyncClient would measure httpx: its pool costs the driver several ms of CPU
    per request at 16 concurrent requests, more than the server spends on them."""
    clients = [httpx.AsyncClient(base_url=base_url) for _ in range(HTTP_CONCURRENCY)]
    free = asyncio.Queue[httpx.AsyncClient]()
    for client in clients:
        free.put_nowait(client)

    async def one(item: Any) -> None:
        client = await free.get()
        try:
            await send(client, item)
        finally:
            free.put_nowait(client)

    try:
        return await rate(items, one, per_item)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


async def api_rates(bench: Bench, base_url: str, tag: str) -> tuple[float, float]:
    path = f"/{THREE_STEPS}/instances"

    async def single(http: httpx.AsyncClient, iid: str) -> None:
        (await http.post(path, json={"id": iid})).raise_for_status()

    async def batch(http: httpx.AsyncClient, chunk: list[str]) -> None:
        body = {"instances": [{"id": iid} for iid in chunk]}
        (await http.post(f"{path}/batch", json=body)).raise_for_status()

    one = await http_rate(base_url, ids(f"{tag}a", bench.sizes.creates), single, 1)
    many = chunks(ids(f"{tag}b", bench.sizes.batch_creates), BATCH_SIZE)
    return one, await http_rate(base_url, many, batch, BATCH_SIZE)


async def client_rates(bench: Bench, tag: str) -> tuple[float, float]:
    client = bench.client

    async def single(iid: str) -> None:
        await client.create(THREE_STEPS, instance_id=iid)

    async def batch(chunk: list[str]) -> None:
        await client.create_batch(THREE_STEPS, [{"id": iid} for iid in chunk])

    one = await rate(ids(f"{tag}c", bench.sizes.creates), single, 1)
    many = chunks(ids(f"{tag}d", bench.sizes.batch_creates), BATCH_SIZE)
    return one, await rate(many, batch, BATCH_SIZE)


async def run(bench: Bench) -> list[Metric]:
    found: dict[str, list[float]] = {k: [] for k in ("api1", "apiN", "cli1", "cliN")}
    async with ApiServer(bench.redis_url, PREFIX, free_port(), bench.logdir) as api:
        for rep in range(bench.repeat):
            await bench.flush()
            api_one, api_batch = await api_rates(bench, api.base_url, f"c{rep}")
            direct_one, direct_batch = await client_rates(bench, f"c{rep}")
            found["api1"].append(api_one)
            found["apiN"].append(api_batch)
            found["cli1"].append(direct_one)
            found["cliN"].append(direct_batch)
    c, b = HTTP_CONCURRENCY, BATCH_SIZE
    return [
        metric(NAME, f"API POST /instances, {c} concurrent", "inst/s", found["api1"]),
        metric(NAME, f"API POST /instances/batch ({b}), {c} concurrent", "inst/s", found["apiN"]),
        metric(NAME, f"Client.create (direct), {c} concurrent", "inst/s", found["cli1"]),
        metric(NAME, f"Client.create_batch ({b}, direct), {c} conc.", "inst/s", found["cliN"]),
    ]
