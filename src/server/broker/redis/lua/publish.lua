-- A post on one Redis, in one step: the session must hold its name (the hold is
-- extended), a repeated `client_id` answers with the first message's id, the name's
-- post limit applies, and a post that makes a new room needs room for one (old rooms
-- are never forgotten for it) and its name and address within the new-room limit; then
-- the message is appended and published, and the room index updated.
--
-- Returns {1, id} for a new message, {0, id} for a repeat, {-1, ''} when the session no
-- longer holds its name, {-2, wait µs} past a limit, and {-3, ''} when no new room can
-- be made.
if redis.call('GET', K_hold) ~= A_session then return {-1, ''} end
redis.call('PEXPIRE', K_hold, A_hold_ttl)
if K_post then
  local prior = redis.call('GET', K_post)
  if prior then return {0, prior} end
end
local wait = gcra(K_rate, A_rate_interval, A_rate_burst)
if wait > 0 then return {-2, string.format('%d', wait)} end
if not redis.call('ZSCORE', K_rooms, A_room) then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', K_rooms, '-inf', '(' .. (now - tonumber(A_room_ttl)))
  if redis.call('ZCARD', K_rooms) >= tonumber(A_max_rooms) then return {-3, ''} end
  wait = gcra(K_new_room_by_name, A_new_room_interval, A_new_room_burst)
  if wait > 0 then return {-2, string.format('%d', wait)} end
  wait = gcra(K_new_room_by_client, A_new_room_interval, A_new_room_burst)
  if wait > 0 then return {-2, string.format('%d', wait)} end
end
local id = append(K_log, K_ids, K_state, K_post)
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('ZADD', K_rooms, ms, A_room)
redis.call('ZREMRANGEBYSCORE', K_rooms, '-inf', '(' .. (ms - tonumber(A_room_ttl)))
return {1, id}
