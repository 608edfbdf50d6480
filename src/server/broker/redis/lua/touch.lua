-- A name's hold, if the session has it: extended (with `hold_ttl`) or released (without).
-- Returns 1 when the session held the name, else 0.
if redis.call('GET', K.hold) ~= A.session then return 0 end
if A.hold_ttl then redis.call('PEXPIRE', K.hold, A.hold_ttl) else redis.call('DEL', K.hold) end
return 1
