-- Start a new run from any status; earlier runs stay readable.
-- KEYS: ikey, steps_stem, events_stem, logs_stem, eids_key, children_key, answer_key (the
--   idempotency answer of this call's key, '' for none)
-- ARGV (after wf, iid): token (a retried call with the same request token starts no second
--   run), answer_ttl_ms (how long the answer is remembered)
-- Replies: {'ok', new run, outbox entry...} (the previous run's active children to terminate:
--   _children.lua) | {'notfound'}
local status = hget('status')
if not status then return {'notfound'} end
local again = recalled()
if again then return {'ok', again} end
if hget('rt') == token then return {'ok', hget('run')} end
redis.call('HSET', ikey, 'rt', token)
local owed = outbox_on_end(false, true)
persist_all()
redis.call('HINCRBY', ikey, 'fence', 1)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'output', 'error', 'started', 'completed', 'pause', 'wake', 'cur', 'evn', 'logn', 'lost', 'ewf', 'ewk', 'ew')
local run = redis.call('HINCRBY', ikey, 'run', 1)
set_status('queued')
schedule(now)
remember(answer_ttl_ms, run)
return {'ok', run, unpack(owed)}
