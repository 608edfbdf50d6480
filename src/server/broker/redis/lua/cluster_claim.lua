-- On a cluster, a name's hold (its own slot): 1 when the session holds the name now, 0
-- when another does.
local holder = redis.call('GET', K_hold)
if holder and holder ~= A_session then return 0 end
redis.call('SET', K_hold, A_session, 'PX', A_hold_ttl)
return 1
