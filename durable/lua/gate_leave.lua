-- An instance's runs below `below` leave the gate (ended, terminated or restarted), and the
-- heads are granted while the limits allow; with no instance, only the granting (a pump).
-- KEYS: holders_key, waiting_key, waiting_runs_key, starts_key, config_key (the gate's)
-- ARGV: iid ('' for none), below
-- Replies: {'ok', ...} (_gate.lua's answer; 0 in second place)
if iid ~= '' then
  local held, waiting = run_in(holders_key, iid), run_in(waiting_runs_key, iid)
  if held >= 0 and held < tonumber(below) then redis.call('HDEL', holders_key, iid) end
  if waiting >= 0 and waiting < tonumber(below) then
    redis.call('ZREM', waiting_key, iid)
    redis.call('HDEL', waiting_runs_key, iid)
  end
end
return answer('', '')
