-- Claims a name for a session on one Redis: counts the client address's sign-in limit
-- (every attempt, refused ones too, so that names cannot be probed quickly), then holds
-- the name unless another session does, and releases the session's previous name.
--
-- Returns {1, now} when the session holds the name now (`now` in ms, Redis's clock: the
-- messages' ids come from it too), {0, ''} when another does, and {-2, wait µs} past the
-- sign-in limit.
local wait = gcra(K_signin, A_signin_interval, A_signin_burst)
if wait > 0 then return {-2, string.format('%d', wait)} end
local holder = redis.call('GET', K_hold)
if holder and holder ~= A_session then return {0, ''} end
redis.call('SET', K_hold, A_session, 'PX', A_hold_ttl)
if K_previous and K_previous ~= K_hold and redis.call('GET', K_previous) == A_session then
  redis.call('DEL', K_previous)
end
local t = redis.call('TIME')
return {1, string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))}
