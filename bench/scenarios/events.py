"""Scenario 2: event -> resume latency through the HTTP API.

Instances wait on an event. The driver POSTs one event per instance at a steady rate (open
loop); each payload carries the wall clock read just before its request is written to the
socket, and the step after the wait reads the clock when it runs. Latency = run time - send
time (one machine, one clock).

The driver writes its requests itself on keep-alive HTTP/1.1 connections (`Poster`) rather
than through httpx: httpx spends ~0.4 ms of CPU before a request leaves and as much after the
answer arrives (measured against a bare uvicorn app on this machine: 0.67 ms per request
against 0.14 ms written by hand), which is the client's cost, not the system's.
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


class Poster:
    """Keep-alive HTTP/1.1 connections to the API, one request at a time on each: a request
    takes an idle connection or opens one (an open loop can have several in flight)."""

    def __init__(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        self.host, self.port, self.path = url.host, url.port or 80, url.path.rstrip("/")
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post_event(self, instance_id: str) -> float:
        """POST one event; returns how long the request took in ms. A kept-alive connection
        the server closed meanwhile (uvicorn closes idle ones after 5 s) is replaced."""
        path = f"{self.path}/{AWAIT_EVENT}/instances/{instance_id}/events"
        if self.idle:
            try:
                return await self._post(*self.idle.pop(), path)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # closed while idle: nothing was stored, since nothing was answered
        return await self._post(*await asyncio.open_connection(self.host, self.port), path)

    async def _post(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
    ) -> float:
        sent = time.time()
        body = json.dumps({"type": EVENT_TYPE, "payload": {"sent": sent}}).encode()
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
        try:
            writer.write(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body)
            status, length = await read_head(reader)
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        took = 1e3 * (time.time() - sent)
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}")
        self.idle.append((reader, writer))
        return took

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, int]:
    """An HTTP/1.1 response's status code and content-length."""
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return int(lines[0].split()[1]), length


async def send_all(http: Poster, instance_ids: list[str], rate: float) -> list[float]:
    """Open loop: the i-th POST starts at i/rate s, whether or not earlier ones finished."""
    start = time.perf_counter()
    tasks = []
    for i, iid in enumerate(instance_ids):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(http.post_event(iid)))
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


async def one_round(bench: Bench, http: Poster, tag: str) -> list[list[float]]:
    n = bench.sizes.events
    instance_ids = ids(tag, n)
    await bench.flush()
    await bench.create(AWAIT_EVENT, instance_ids)
    await bench.wait_for_count(AWAIT_EVENT, "waiting", n, 60 + n / 50)
    http.close()  # connections idle since the last round: the server may have closed them
    posts = await send_all(http, instance_ids, bench.sizes.event_rate_per_s)
    await bench.wait_for_count(AWAIT_EVENT, "complete", n, 60)
    total, to_store = await latencies_ms(bench, instance_ids)
    return [total, to_store, posts]


async def run(bench: Bench) -> list[Metric]:
    found: dict[str, list[float]] = {k: [] for k in ("p50", "p99", "max", "post", "stored")}
    api = ApiServer(bench.redis_url, PREFIX, free_port(), bench.logdir)
    async with api:
        http = Poster(api.base_url)
        with bench.workers(WORKERS) as group:
            await group.release(bench.redis)
            for rep in range(bench.repeat):
                total, to_store, posts = await one_round(bench, http, f"e{rep}")
                found["p50"].append(percentile(total, 50))
                found["p99"].append(percentile(total, 99))
                found["max"].append(max(total))
                found["post"].append(percentile(posts, 50))
                found["stored"].append(percentile(to_store, 50))
        http.close()
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
