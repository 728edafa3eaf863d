-- Take the lease to advance an instance.
-- KEYS: ikey, steps_stem
-- ARGV (after wf, iid): job_id (the job being run, '' = any), owner, ttl_ms (of the lease)
-- Replies: {'ok', fence, now, instance fields, step fields of the run, due (of the job taken,
--   0 for none), status (before this call: 'waiting' means a timer came due)}
--   | {'early', job id, due, now} (this worker's clock runs ahead of Redis; job re-issued)
--   | {'gone'} | {'stale'} (another job is pending) | {'busy'} (leased elsewhere)
--   | {'inactive', status} (paused or ended)
return lease(job_id, owner, tonumber(ttl_ms), job_id, 0)
