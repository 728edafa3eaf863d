-- Mark the run of a leased instance as granted by its gate: later takes of the run (after a
-- sleep, an event, a lease recovery) run it without asking the gate again.
-- KEYS: ikey
-- ARGV (after wf, iid): fence, run, key_value (JSON: the gate's, kept as 'gate' so a control
--   call can release it)
-- Replies: {'ok'} | {'fenced'}
if not holds(fence) then return {'fenced'} end
redis.call('HSET', ikey, 'grant', run, 'gate', key_value)
redis.call('HDEL', ikey, 'gwait', 'gkick')
return {'ok'}
