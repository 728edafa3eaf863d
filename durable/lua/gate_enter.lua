-- An instance whose run has no grant yet arrives at its gate: it joins the FIFO (by creation
-- time, then id) unless it holds the gate already, and the heads are granted while the limits
-- allow. The limits are the caller's (the workflow's as its worker's registry declares them).
-- KEYS: holders_key, waiting_key, waiting_runs_key, starts_key, config_key (the gate's)
-- ARGV: iid, run, created_ms, concurrency_limit, rate_limit, period_ms (0: no such limit),
--   key_value (JSON)
-- Replies: {'ok', ...} (_gate.lua's answer; 1 in second place: this run holds the gate)
redis.call('HSET', config_key, 'concurrency', concurrency_limit, 'rate', rate_limit,
  'period', period_ms, 'key', key_value)
local mine = tonumber(run)
local held = run_in(holders_key, iid)
-- an earlier run's entry is over (a restart); a later run's wins (this caller is stale)
if held >= 0 and held < mine then redis.call('HDEL', holders_key, iid) end
if held < mine and run_in(waiting_runs_key, iid) <= mine then
  redis.call('ZADD', waiting_key, created_ms, iid)
  redis.call('HSET', waiting_runs_key, iid, run)
end
return answer(iid, run)
