-- On a cluster, a name's hold (its own slot): {1, now} (ms, this master's clock) when the
-- session holds the name now, {0, ''} when another does.
local holder = redis.call('GET', K_hold)
if holder and holder ~= A_session then return {0, ''} end
redis.call('SET', K_hold, A_session, 'PX', A_hold_ttl)
local t = redis.call('TIME')
return {1, string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))}
