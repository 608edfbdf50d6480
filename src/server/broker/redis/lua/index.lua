-- On a cluster, the room index (its own slot): the room at its new message's time (`ms`),
-- without the rooms idle past `room_ttl` and past `max_rooms`. Returns the rooms trimmed
-- from it, whose keys the caller deletes.
local ms = tonumber(A.ms)
redis.call('ZADD', K.rooms, ms, A.room)
redis.call('ZREMRANGEBYSCORE', K.rooms, '-inf', '(' .. (ms - tonumber(A.room_ttl)))
local over = redis.call('ZCARD', K.rooms) - tonumber(A.max_rooms)
if over <= 0 then return {} end
local trimmed = redis.call('ZRANGE', K.rooms, 0, over - 1)
redis.call('ZREMRANGEBYRANK', K.rooms, 0, over - 1)
return trimmed
