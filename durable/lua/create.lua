-- ARGV[A+1] params JSON, A+2 idempotency key (optional; kept on the instance as 'ik', so a
-- retried create with the same key reports the instance as created, like the first call).
-- A+3 the workflow's code version ('' for none; indexed for listing by version).
-- Returns {1|0, instance fields...}: 1 when this call, or an earlier one with its key, created it.
local idem, version = ARGV[A + 2], ARGV[A + 3]
if redis.call('EXISTS', ikey) == 1 then
  local mine = idem ~= nil and idem ~= '' and hget('ik') == idem
  return {mine and 1 or 0, redis.call('HGETALL', ikey)}
end
redis.call('HSET', ikey, 'v', 1, 'wf', wf, 'id', iid, 'run', 0, 'params', ARGV[A + 1],
  'created', now, 'updated', now, 'fence', 0)
if idem ~= nil and idem ~= '' then redis.call('HSET', ikey, 'ik', idem) end
redis.call('ZADD', wfidx, now, iid)
if version ~= nil and version ~= '' then
  redis.call('HSET', ikey, 'version', version)
  redis.call('HSET', P .. ':w:' .. wf .. ':ver', iid, version)
  redis.call('ZADD', version_stem(version) .. 'all', now, iid)
end
set_status('queued')
schedule(now)
return {1, redis.call('HGETALL', ikey)}
