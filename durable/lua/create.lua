-- Create an instance, queued to run now; an existing id is left alone.
-- KEYS: ikey
-- ARGV (after wf, iid): params (JSON), idempotency_key ('' for none; kept on the instance as
--   'ik', so a retried create with the same key reports the instance as created, like the
--   first call), version (the workflow's code version, '' for none; indexed for listing),
--   traceparent (W3C trace context of the request that creates it, '' for none; kept as 'tp'),
--   parent (the step of another instance that starts it as its child, JSON; '' for none; kept
--   as 'parent'), awaited ('1' when that step waits for its outcome; kept as 'pw')
-- Replies: {1|0, instance fields}: 1 when this call, or an earlier one with its key, created it.
if redis.call('EXISTS', ikey) == 1 then
  local mine = idempotency_key ~= '' and hget('ik') == idempotency_key
  return {mine and 1 or 0, redis.call('HGETALL', ikey)}
end
redis.call('HSET', ikey, 'v', 1, 'wf', wf, 'id', iid, 'run', 0, 'params', params,
  'created', now, 'updated', now, 'fence', 0)
if idempotency_key ~= '' then redis.call('HSET', ikey, 'ik', idempotency_key) end
if traceparent ~= '' then redis.call('HSET', ikey, 'tp', traceparent) end
if parent ~= '' then redis.call('HSET', ikey, 'parent', parent, 'pw', awaited) end
redis.call('ZADD', workflow_index_key(wf), now, iid)
if version ~= '' then
  redis.call('HSET', ikey, 'version', version)
  redis.call('HSET', versions_key(wf), iid, version)
  redis.call('ZADD', version_index_key(wf, version), now, iid)
end
set_status('queued')
schedule(now)
return {1, redis.call('HGETALL', ikey)}
