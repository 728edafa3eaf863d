-- Start a new run from any status; earlier runs stay readable.
-- ARGV[A+1] request token (a retried call with the same token starts no second run).
-- Returns {'ok', new run} | {'notfound'}.
local status = hget('status')
if not status then return {'notfound'} end
if hget('rt') == ARGV[A + 1] then return {'ok', hget('run')} end
redis.call('HSET', ikey, 'rt', ARGV[A + 1])
persist_all()
redis.call('HINCRBY', ikey, 'fence', 1)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'output', 'error', 'started', 'completed', 'pause', 'wake', 'cur', 'evn', 'logn', 'lost')
local run = redis.call('HINCRBY', ikey, 'run', 1)
set_status('queued')
schedule(now)
return {'ok', run}
