-- A name's hold, if the session has it: extended (with `hold_ttl`) or released (without).
-- Returns 1 when the session held the name, else 0.
if redis.call('GET', K_hold) ~= A_session then return 0 end
if A_hold_ttl then redis.call('PEXPIRE', K_hold, A_hold_ttl) else redis.call('DEL', K_hold) end
return 1
