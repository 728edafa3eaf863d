"""The embedded Redis of `durable dev`: good enough for the engine's scripts and for arq."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.cli_support import service_env

EMBEDDED_REDIS_CHECK = """
import json
import redis
from durable.cli.embedded_redis import EmbeddedRedis

server = EmbeddedRedis()
client = redis.Redis.from_url(server.url)
assert client.ping()
client.set("k", "v")
assert client.eval("return redis.call('GET', KEYS[1])", 1, "k") == b"v"
# The engine's create script runs and writes an arq job whose kwargs are an object.
import asyncio
from redis.asyncio import Redis
from durable.settings import Settings
from durable.store import Ref, Store

async def create():
    conn = Redis.from_url(server.url)
    store = Store(conn, Settings(redis_url=server.url))
    assert (await store.create(Ref("wf", "i1"), params="{}")).created
    await conn.aclose()

asyncio.run(create())
job_id = client.zrange("durable:queue", 0, -1)[0].decode()
assert json.loads(client.get("arq:job:" + job_id))["k"] == {}
# An error reply (EVALSHA of an unknown script) must not drop the connection...
try:
    client.evalsha("0" * 40, 0)
except redis.exceptions.NoScriptError:
    pass
assert client.register_script("return 7")() == 7
# ...and arq's start-up INFO gets an (empty) answer.
assert client.info("server") == {}
client.close()
server.stop()
print("ok")
"""


def test_embedded_redis_is_good_enough_for_the_engine() -> None:
    # In a subprocess: EmbeddedRedis patches fakeredis, which other tests here must not see.
    out = subprocess.run(
        [sys.executable, "-c", EMBEDDED_REDIS_CHECK],
        capture_output=True, text=True, timeout=60, env=service_env(),
    )  # fmt: skip
    assert out.stdout == "ok\n", out.stderr
