-- On a cluster, before a post (the room index is in a slot of its own): forgets the
-- rooms idle past `room_ttl`, and says whether `room` is a new one: 0 when it has
-- messages, 1 when it is new and may be made, -3 when it is new and the chat holds
-- `max_rooms` rooms already.
if redis.call('ZSCORE', K_rooms, A_room) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', K_rooms, '-inf', '(' .. (now - tonumber(A_room_ttl)))
if redis.call('ZCARD', K_rooms) >= tonumber(A_max_rooms) then return -3 end
return 1
