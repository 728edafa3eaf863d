-- Stop an instance for good; bumping the fence makes any in-flight write of its worker fail.
-- ARGV[A+1] request token (a retried call with the same token answers 'ok' again).
-- Returns {'ok', status before} | {'notfound'} | {'terminal', status}.
local status = hget('status')
if not status then return {'notfound'} end
if status == 'terminated' and hget('rt') == ARGV[A + 1] then return {'ok', status} end
if is_terminal(status) then return {'terminal', status} end
redis.call('HSET', ikey, 'rt', ARGV[A + 1])
redis.call('HINCRBY', ikey, 'fence', 1)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'pause', 'wake')
redis.call('HSET', ikey, 'completed', now)
set_status('terminated')
expire_all()
return {'ok', status}
