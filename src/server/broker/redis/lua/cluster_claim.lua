-- On a cluster, a name's hold (its own slot): 1 when the session holds the name now, 0
-- when another does.
local holder = redis.call('GET', K.hold)
if holder and holder ~= A.session then return 0 end
redis.call('SET', K.hold, A.session, 'PX', A.hold_ttl)
return 1
