-- On a cluster, where a name's hold and limits are in another slot than the room's keys:
-- checks (and extends) the session's hold and counts the post limit, and for a post that
-- makes a new room its name's new-room limit (`new_room`), before the post or the change
-- itself. Returns {1, ''}, {-1, ''} when the session no longer holds the name, or
-- {-2, wait µs} past a limit.
if redis.call('GET', K_hold) ~= A_session then return {-1, ''} end
redis.call('PEXPIRE', K_hold, A_hold_ttl)
local wait = gcra(K_rate, A_rate_interval, A_rate_burst)
if wait > 0 then return {-2, string.format('%d', wait)} end
if K_new_room then
  wait = gcra(K_new_room, A_new_room_interval, A_new_room_burst)
  if wait > 0 then return {-2, string.format('%d', wait)} end
end
return {1, ''}
