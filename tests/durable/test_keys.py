"""durable/keys.py is the whole schema: every key an instance's life writes is one of its kinds,
and no Lua script spells a key of its own."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from redis.asyncio import Redis

from durable import StepContext, keys, store, workflow
from durable.client import Client
from durable.workflow import RegistryLike
from tests.conftest import WorkerPool
from tests.helpers import assert_eventually, reply

pytestmark = pytest.mark.timeout(60)


@workflow("keyed", version="3")
async def keyed(event: Any, step: Any) -> Any:
    def flaky(ctx: StepContext) -> int:
        if ctx.attempt < 2:
            raise RuntimeError("first attempt fails")
        return ctx.attempt

    step.log.info("starting")
    attempts = await step.do("flaky", flaky, retries={"limit": 1, "delay": 1})
    got = await step.wait_for_event("signal", type="go", timeout="1 min")
    return {"attempts": attempts, "payload": got.payload}


async def _scan(redis: Redis, prefix: str) -> set[str]:
    """This test's keys: its prefix, and arq's keys of its jobs."""
    found: set[str] = set()
    for pattern in (f"{prefix}:*", f"arq:*{prefix}:*"):
        found |= {k.decode() async for k in redis.scan_iter(match=pattern, count=1000)}
    return found


async def _status(client: Client, status: str) -> bool:
    return bool((await client.get("keyed", "k1")).details.status == status)


async def _step_status(client: Client, step: str, status: str) -> bool:
    current = (await client.get("keyed", "k1")).meta.current_step
    return bool(current and current.step_key == step and current.status == status)


async def test_every_key_an_instance_writes_is_a_kind_of_keys_py(
    workers: WorkerPool,
    client_factory: Callable[[RegistryLike], Client],
    redis: Redis,
) -> None:
    await workers.start([keyed])
    client = client_factory([keyed])
    prefix = client.settings.prefix
    seen: set[str] = set()

    async def one_run(event_id: str) -> None:
        await assert_eventually(lambda: _step_status(client, "signal", "waiting"))
        seen.update(await _scan(redis, prefix))  # a pending wake-up: queue, lease, arq job
        await client.send_event("keyed", "k1", type="go", payload=[event_id], event_id=event_id)
        await assert_eventually(lambda: _status(client, "complete"))

    await client.create("keyed", instance_id="k1", idempotency_key="create-k1")
    await one_run("e1")
    await client.restart("keyed", "k1", idempotency_key="restart-k1")
    await client.restart("keyed", "k1", idempotency_key="restart-k1")  # answered, not re-run
    await one_run("e2")
    seen.update(await _scan(redis, prefix))

    # every key is a kind of keys.py in the instance's partition, or the deployment's own
    space = (await client.store.open()).space_of("keyed", "k1")
    parsed = {k: keys.parse(prefix, k) for k in seen}
    assert sorted(k for k, found in parsed.items() if found is None) == []
    kinds = {found[1] for found in parsed.values() if found}
    assert kinds >= {
        "instance", "steps", "events", "logs", "event_ids", "idempotency",
        "workflow_index", "status_index", "version_index", "version_status_index", "versions",
        "queue", "leases", "expiry", "arq_job", "meta",
    }  # fmt: skip
    # the instance's own keys are exactly those keys.py names for its two runs
    tag = "{" + keys.tag("keyed", "k1") + "}"
    expected = {
        keys.instance_key(space, "keyed", "k1"),
        keys.event_ids_key(space, "keyed", "k1"),
        keys.idempotency_key(space, "keyed", "k1", "restart", "restart-k1"),
        *(
            build(space, "keyed", "k1", run)
            for build in (keys.steps_key, keys.events_key, keys.logs_key)
            for run in (0, 1)
        ),
    }
    assert {k for k in seen if tag in k} == expected
    assert (await client.get("keyed", "k1")).details.run_number == 1


def test_describe_names_each_kind_and_nothing_else() -> None:
    p = "app"
    assert keys.describe(p, keys.steps_key(p, "wf", "a:b", 12)) == "steps"
    assert keys.describe(p, keys.status_index_key(p, "wf", "queued", "v1")) == (
        "version_status_index"
    )
    assert keys.describe(p, keys.arq_in_progress_key(keys.job_id(p, "wf", "i", 3))) == (
        "arq_in_progress"
    )
    assert keys.describe(p, keys.health_check_key(p)) == "health_check"
    assert keys.describe(p, "app:{wf/i}:s:x") is None  # runs are numbers
    assert keys.describe(p, keys.instance_key("other", "wf", "i")) is None
    assert keys.describe(p, keys.arq_job_key(keys.job_id("other", "wf", "i", 1))) is None


def test_job_ids_parse_back_to_their_instance() -> None:
    job = keys.job_id("app", "wf", "a:b", 7)
    assert keys.parse_job_id("app", job) == ("wf", "a:b")
    assert keys.parse_job_id("other", job) is None
    assert keys.parse_job_id("app", "app:job:wf/a:b:x") is None


def test_a_lua_binding_is_its_key_function_in_pieces() -> None:
    status = keys.lua_bindings("app")["status_index_key"]
    assert status == keys.Template(("wf", "status"), ("app:w:", ":st:", ""))
    assert keys.lua_bindings("app")["queue_key"] == keys.queue_key("app")


async def test_the_scripts_build_the_keys_keys_py_builds(redis: Redis) -> None:
    p = "a.b-c:d"
    script = (
        store.schema_source(p)
        + """
return {queue_key, leases_key, expiry_key, wake_key, outbox_key, instance_key('wf', 'i:1'),
  instance_steps_stem('wf', 'i:1'), take_receipt_key('host:12'),
  workflow_index_key('wf'), status_index_key('wf', 'queued'), version_index_key('wf', '7'),
  version_status_index_key('wf', '7', 'queued'), versions_key('wf'),
  instance_job_id('wf', 'i:1', 3), arq_job_key('j'), arq_in_progress_key('j'),
  arq_retry_key('j'), member_separator}"""
    )
    built = [k.decode() for k in await reply(redis.eval(script, 0))]
    assert built == [
        keys.queue_key(p), keys.leases_key(p), keys.expiry_key(p), keys.wake_key(p),
        keys.outbox_key(p), keys.instance_key(p, "wf", "i:1"), keys.steps_stem(p, "wf", "i:1"),
        keys.take_receipt_key(p, "host:12"), keys.workflow_index_key(p, "wf"),
        keys.status_index_key(p, "wf", "queued"), keys.workflow_index_key(p, "wf", "7"),
        keys.status_index_key(p, "wf", "queued", "7"), keys.versions_key(p, "wf"),
        keys.job_id(p, "wf", "i:1", 3), keys.arq_job_key("j"), keys.arq_in_progress_key("j"),
        keys.arq_retry_key("j"), keys.TAG_SEPARATOR,
    ]  # fmt: skip
    assert len(built) == len(keys.lua_bindings(p))


def test_no_binding_shadows_a_script_argument() -> None:
    names = {n for script in store.SCRIPTS.values() for n in (*script.keys, *script.argv)}
    assert names.isdisjoint(keys.lua_bindings("app"))


def _schema_pieces() -> tuple[set[str], set[str]]:
    """The fixed text of every kind of key (':s:', '}:i', 'arq:job:', ...) and its words."""
    pieces: set[str] = set()
    for build in keys.kinds("P").values():
        for piece in keys.pieces(build):
            for part in re.split(r"[{}]|P(?=:)", piece):
                if len(part) > 1 and ":" in part:
                    pieces.add(part)
    words = {w for piece in pieces for w in piece.split(":") if len(w) > 1}
    return pieces, words


PIECES, WORDS = _schema_pieces()


def _spells_a_key(code: str) -> bool:
    """Whether a line of Lua has a string literal with a piece of a key name in it (key names
    never hold a double quote, so JSON being spliced together is not mistaken for one)."""
    for literal in re.findall(r"'([^']*)'", code):
        if '"' in literal:
            continue
        if any(piece in literal for piece in PIECES):
            return True
        if ":" in literal and literal.strip(":") in WORDS:  # 'st:', 'v:'
            return True
    return False


def test_no_lua_script_spells_a_key() -> None:
    assert {":s:", ":e:", ":l:", ":w:", ":eid", ":job:", "arq:job:", "arq:in-progress:"} <= PIECES
    spelled = []
    for entry in resources.files("durable").joinpath("lua").iterdir():
        if entry.name.endswith(".lua"):
            for number, line in enumerate(entry.read_text().splitlines(), 1):
                if _spells_a_key(line.split("--", 1)[0]):
                    spelled.append(f"{entry.name}:{number}: {line.strip()}")
    assert spelled == []


@pytest.mark.parametrize(
    "line",
    [
        "fn(base .. ':s:' .. r)",
        "local ikey = base .. ':i'",
        "redis.call('DEL', 'arq:job:' .. old)",
        "local queue, leases = P .. ':queue', P .. ':leases'",
        "local vst = version_stem(cur[3]) .. 'st:'",
    ],
)
def test_the_check_finds_a_spelled_key(line: str) -> None:
    assert _spells_a_key(line)


def test_the_check_leaves_json_and_hash_fields_alone() -> None:
    assert not _spells_a_key("""return save('event', 'completed', ',"r":{"type":' .. t)""")
    assert not _spells_a_key("redis.call('HSET', ekey, seq .. ':k', key, seq .. ':d', now)")
    assert not _spells_a_key("local status, job = hget('status'), hget('job')")
