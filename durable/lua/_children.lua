-- Child workflows (durable/children.py), included after _lib.lua. A parent and its child
-- usually live in different partitions, so no script touches both: what one owes the other is
-- an entry of its own partition's outbox (outbox_key), JSON built here and decoded only by
-- durable/children.py:
--   {"k":"done","w":child wf,"i":child id,"r":child run}  the child ended: tell its parent
--   {"k":"stop","w":child wf,"i":child id,"by":parent}     terminate this child of `by`
-- The caller of the script that writes an entry carries it over at once and then removes it;
-- an entry a crash left behind comes due a lease TTL later, and a take hands it to its worker
-- (sweep_outbox in _housekeeping.lua).

local function outbox_add(entry)
  redis.call('ZADD', outbox_key, now + lease_ttl_ms, entry)
  return entry
end

local function outbox_entry(kind, m, tail)
  local at = string.find(m, member_separator, 1, true)
  return '{"k":"' .. kind .. '","w":' .. cjson.encode(string.sub(m, 1, at - 1)) .. ',"i":' ..
    cjson.encode(string.sub(m, at + #member_separator)) .. tail .. '}'
end

local function stop_entry(child)
  return outbox_add(outbox_entry('stop', child, ',"by":' .. cjson.encode(member)))
end

-- What the end of this instance's run owes other partitions: its outcome, to a parent that
-- awaits it (`outcome`), and the termination of its active children (`stop_children`); the
-- children set goes either way. Returns the entries written.
local function outbox_on_end(outcome, stop_children)
  local out = {}
  local rel = redis.call('HMGET', ikey, 'pw', 'kids', 'run')
  if outcome and rel[1] == '1' then
    out[#out + 1] = outbox_add(outbox_entry('done', member, ',"r":' .. rel[3]))
  end
  if rel[2] then
    if stop_children then
      for _, child in ipairs(redis.call('SMEMBERS', children_key)) do
        out[#out + 1] = stop_entry(child)
      end
    end
    redis.call('DEL', children_key)
    redis.call('HDEL', ikey, 'kids')
  end
  return out
end
