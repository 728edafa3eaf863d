-- Extend the lease of a running execution.
-- KEYS: ikey
-- ARGV (after wf, iid): fence, ttl_ms (of the lease from now)
-- Replies: {'ok', pause requested 1|0} | {'fenced', 0}
local ttl = tonumber(ttl_ms)
if not holds(fence) then return {'fenced', 0} end
redis.call('HSET', ikey, 'lease', now + ttl)
redis.call('ZADD', leases_key, now + ttl, member)
return {'ok', tonumber(hget('pause') or 0)}
