-- Stop an instance for good; bumping the fence makes any in-flight write of its worker fail.
-- ARGV[A+1] request token (a retried call with the same token answers 'ok' again),
-- A+2 idempotency key ('' for none), A+3 how long the key is remembered (ms).
-- Returns {'ok', status before} | {'notfound'} | {'terminal', status}.
local token, idem, idemttl = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
local status = hget('status')
if not status then return {'notfound'} end
local again = recalled('terminate', idem)
if again then return {'ok', again} end
if status == 'terminated' and hget('rt') == token then return {'ok', status} end
if is_terminal(status) then return {'terminal', status} end
redis.call('HSET', ikey, 'rt', token)
redis.call('HINCRBY', ikey, 'fence', 1)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'pause', 'wake')
redis.call('HSET', ikey, 'completed', now)
set_status('terminated')
expire_all()
remember('terminate', idem, idemttl, status)
return {'ok', status}
