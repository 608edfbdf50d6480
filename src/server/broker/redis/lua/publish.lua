-- A post on one Redis, in one step: the session must hold its name (the hold is
-- extended), a repeated `client_id` answers with the first message, the name's post
-- limit applies, then the message is appended and published, and the room index updated
-- (the rooms that fall out of it lose their keys).
--
-- Returns {1, id} for a new message, {0, "id\ntext"} for a repeat, {-1, ''} when the
-- session no longer holds its name, and {-2, wait µs} past the post limit.
if redis.call('GET', K.hold) ~= A.session then return {-1, ''} end
redis.call('PEXPIRE', K.hold, A.hold_ttl)
if K.post then
  local prior = redis.call('GET', K.post)
  if prior then return {0, prior} end
end
local wait = gcra(K.rate, A.rate_interval, A.rate_burst)
if wait > 0 then return {-2, string.format('%d', wait)} end
local id = append(K.log, K.ids, K.state, K.post)
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('ZADD', K.rooms, ms, A.room)
redis.call('ZREMRANGEBYSCORE', K.rooms, '-inf', '(' .. (ms - tonumber(A.room_ttl)))
local over = redis.call('ZCARD', K.rooms) - tonumber(A.max_rooms)
if over > 0 then
  for _, room in ipairs(redis.call('ZRANGE', K.rooms, 0, over - 1)) do
    local key = A.room_prefix .. room
    redis.call('DEL', key .. ':log', key .. ':ids', key .. ':state')
  end
  redis.call('ZREMRANGEBYRANK', K.rooms, 0, over - 1)
end
return {1, id}
