"""arq's Worker with a one-round-trip job claim.

Stock arq claims each job with WATCH, EXISTS, ZSCORE and MULTI/EXEC: four sequential round trips,
and two workers polling the same queue mostly lose those races to each other. The claim here is
one Lua script with the same checks and the same keys, so jobs, results and in-progress markers
stay arq's own.
"""

from __future__ import annotations

from typing import Any

from arq.utils import timestamp_ms
from arq.worker import Worker

from durable import keys

CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])
return score
"""


class DurableWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claim: Any = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """For each due job: take a slot, claim it atomically, run it in a task."""
        if self._claim is None:
            self._claim = self.pool.register_script(CLAIM)
        for raw in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            job_id = raw.decode()
            score = await self._claim(
                keys=[keys.arq_in_progress_key(job_id), self.queue_name],
                args=[job_id, timestamp_ms(), int(self.in_progress_timeout_s * 1000)],
            )
            if not score:  # running elsewhere, finished, or re-scheduled for later
                self.job_counter -= 1
                self.sem.release()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task
