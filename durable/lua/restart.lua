-- Start a new run from any status; earlier runs stay readable.
-- Returns {'ok', new run} | {'notfound'}.
local status = hget('status')
if not status then return {'notfound'} end
persist_all()
redis.call('HINCRBY', ikey, 'fence', 1)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'output', 'error', 'started', 'completed', 'pause', 'wake', 'cur', 'evn', 'logn', 'lost')
local run = redis.call('HINCRBY', ikey, 'run', 1)
set_status('queued')
schedule(now)
return {'ok', run}
