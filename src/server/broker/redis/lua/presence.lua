-- A room's presence (`presence.rs` has the keys): `here` (one entry per person per node,
-- scored by its expiry), `people` (how many nodes have each person) and `names` (who is
-- online, in case-insensitive order).

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Removes one node's entry `node \n canonical \n name`; returns the name when it was the
-- person's last, else nil.
local function drop_entry(member)
  if redis.call('ZREM', K_here, member) == 0 then return nil end
  local canonical, display = string.match(member, '^[^\n]*\n([^\n]*)\n(.*)$')
  if not canonical then return nil end
  if redis.call('HINCRBY', K_people, canonical, -1) > 0 then return nil end
  redis.call('HDEL', K_people, canonical)
  redis.call('ZREMRANGEBYLEX', K_names, '[' .. canonical .. '\n', '(' .. canonical .. '\11')
  return display
end

-- Sends `j\nname` or `l\nname` for each of `names` while the room has at most `limit`
-- people before and after; the room's presence (`p\ncount\nname...`) when the change
-- takes it across the limit, either way; else nothing.
local function announce(kind, names, limit, channel)
  if #names == 0 then return end
  limit = tonumber(limit)
  local after = redis.call('ZCARD', K_names)
  local before = after - #names
  if kind == 'l' then before = after + #names end
  if before <= limit and after <= limit then
    for _, name in ipairs(names) do redis.call('PUBLISH', channel, kind .. '\n' .. name) end
  elseif (before <= limit) ~= (after <= limit) then
    local parts = {'p', tostring(after)}
    for _, entry in ipairs(redis.call('ZRANGE', K_names, 0, limit - 1)) do
      parts[#parts + 1] = string.match(entry, '^[^\n]*\n(.*)$')
    end
    redis.call('PUBLISH', channel, table.concat(parts, '\n'))
  end
end

-- Drops up to `batch` entries that expired by `now`, and sends their `leave`.
local function prune(now, limit, channel, batch)
  local left = {}
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', K_here, '-inf', now, 'LIMIT', 0, tonumber(batch))) do
    local display = drop_entry(member)
    if display then left[#left + 1] = display end
  end
  announce('l', left, limit, channel)
end
