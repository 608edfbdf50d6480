-- On a cluster, the room index (its own slot), after a post: the room at its new
-- message's time (`ms`), without the rooms idle past `room_ttl` (their keys expire by
-- themselves). No room is ever taken out for the count: `room_index.lua` refuses a new
-- one past `max_rooms` before the post.
local ms = tonumber(A_ms)
redis.call('ZADD', K_rooms, ms, A_room)
redis.call('ZREMRANGEBYSCORE', K_rooms, '-inf', '(' .. (ms - tonumber(A_room_ttl)))
return 1
