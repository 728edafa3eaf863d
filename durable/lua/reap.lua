-- Housekeeping for a runner tick or a plain arq worker (durable workers do it as they take
-- work): recover instances whose lease expired (their worker died), re-issue jobs a dead worker
-- claimed but never started, and drop index entries of instances whose retention ran out.
-- KEYS: (none; each member of the lease and expiry sets is bound to its keys in turn)
-- ARGV: limit (members per set and call)
-- Replies: {recovered, expired, swept} (swept: outbox entries left behind, to carry over:
--   _children.lua)
local recovered, expired = housekeep(tonumber(limit))
return {recovered, expired, sweep_outbox(tonumber(limit))}
