-- A post on one Redis, in one step: the session must hold its name (the hold is
-- extended), a repeated `client_id` answers with the first message, the name's post
-- limit applies, then the message is appended and published, and the room index updated
-- (the rooms that fall out of it lose their keys).
--
-- Returns {1, id} for a new message, {0, "id\ntext"} for a repeat, {-1, ''} when the
-- session no longer holds its name, and {-2, wait µs} past the post limit.
if redis.call('GET', K_hold) ~= A_session then return {-1, ''} end
redis.call('PEXPIRE', K_hold, A_hold_ttl)
if K_post then
  local prior = redis.call('GET', K_post)
  if prior then return {0, prior} end
end
local wait = gcra(K_rate, A_rate_interval, A_rate_burst)
if wait > 0 then return {-2, string.format('%d', wait)} end
local id = append(K_log, K_ids, K_state, K_post)
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('ZADD', K_rooms, ms, A_room)
redis.call('ZREMRANGEBYSCORE', K_rooms, '-inf', '(' .. (ms - tonumber(A_room_ttl)))
local over = redis.call('ZCARD', K_rooms) - tonumber(A_max_rooms)
if over > 0 then
  for _, room in ipairs(redis.call('ZRANGE', K_rooms, 0, over - 1)) do
    local key = A_room_prefix .. room
    redis.call('DEL', key .. ':log', key .. ':ids', key .. ':state')
  end
  redis.call('ZREMRANGEBYRANK', K_rooms, 0, over - 1)
end
return {1, id}
