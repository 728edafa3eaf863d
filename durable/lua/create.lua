-- ARGV[A+1] params JSON. Returns {1|0, instance fields...}.
if redis.call('EXISTS', ikey) == 1 then
  return {0, redis.call('HGETALL', ikey)}
end
redis.call('HSET', ikey, 'v', 1, 'wf', wf, 'id', iid, 'run', 0, 'params', ARGV[A + 1],
  'created', now, 'updated', now, 'fence', 0)
redis.call('ZADD', wfidx, now, iid)
set_status('queued')
schedule(now)
return {1, redis.call('HGETALL', ikey)}
