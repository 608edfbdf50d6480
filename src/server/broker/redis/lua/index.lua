-- On a cluster, the room index (its own slot): the room at its new message's time (`ms`),
-- without the rooms idle past `room_ttl` and past `max_rooms`. Returns the rooms trimmed
-- from it, whose keys the caller deletes.
local ms = tonumber(A_ms)
redis.call('ZADD', K_rooms, ms, A_room)
redis.call('ZREMRANGEBYSCORE', K_rooms, '-inf', '(' .. (ms - tonumber(A_room_ttl)))
local over = redis.call('ZCARD', K_rooms) - tonumber(A_max_rooms)
if over <= 0 then return {} end
local trimmed = redis.call('ZRANGE', K_rooms, 0, over - 1)
redis.call('ZREMRANGEBYRANK', K_rooms, 0, over - 1)
return trimmed
