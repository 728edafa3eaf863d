-- ARGV[A+1] fence, A+2 lease ttl ms. Returns {'ok'|'fenced', pause requested}.
local fence, ttl = ARGV[A + 1], tonumber(ARGV[A + 2])
if not holds(fence) then return {'fenced', 0} end
redis.call('HSET', ikey, 'lease', now + ttl)
redis.call('ZADD', leases, now + ttl, member)
return {'ok', tonumber(hget('pause') or 0)}
