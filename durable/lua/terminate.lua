-- Stop an instance for good; bumping the fence makes any in-flight write of its worker fail.
-- KEYS: ikey, steps_stem, events_stem, logs_stem, eids_key, children_key, answer_key (the
--   idempotency answer of this call's key, '' for none)
-- ARGV (after wf, iid): token (a retried call with the same request token answers 'ok'
--   again), answer_ttl_ms (how long the answer is remembered)
-- Replies: {'ok', status before, outbox entry...} (its outcome for an awaiting parent, its
--   active children to terminate: _children.lua) | {'notfound'} | {'terminal', status}
local status = hget('status')
if not status then return {'notfound'} end
local again = recalled()
if again then return {'ok', again} end
if status == 'terminated' and hget('rt') == token then return {'ok', status} end
if is_terminal(status) then return {'terminal', status} end
redis.call('HSET', ikey, 'rt', token)
redis.call('HINCRBY', ikey, 'fence', 1)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'pause', 'wake', 'ewf', 'ewk', 'ew')
redis.call('HSET', ikey, 'completed', now)
set_status('terminated')
expire_all()
remember(answer_ttl_ms, status)
return {'ok', status, unpack(outbox_on_end(true, true))}
