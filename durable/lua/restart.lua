-- Start a new run from any status; earlier runs stay readable.
-- ARGV[A+1] request token (a retried call with the same token starts no second run),
-- A+2 idempotency key ('' for none), A+3 how long the key is remembered (ms).
-- Returns {'ok', new run} | {'notfound'}.
local token, idem, idemttl = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
local status = hget('status')
if not status then return {'notfound'} end
local again = recalled('restart', idem)
if again then return {'ok', again} end
if hget('rt') == token then return {'ok', hget('run')} end
redis.call('HSET', ikey, 'rt', token)
persist_all()
redis.call('HINCRBY', ikey, 'fence', 1)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'output', 'error', 'started', 'completed', 'pause', 'wake', 'cur', 'evn', 'logn', 'lost')
local run = redis.call('HINCRBY', ikey, 'run', 1)
set_status('queued')
schedule(now)
remember('restart', idem, idemttl, run)
return {'ok', run}
