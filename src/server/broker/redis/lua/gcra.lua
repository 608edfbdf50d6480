-- A GCRA rate limit: takes one cell of `key`'s limit (`interval` µs per cell, `burst`
-- cells at once) and returns 0, or returns how many µs until one is free. The key holds
-- the "theoretical arrival time" and expires when the limit has fully recovered. Time is
-- Redis's own (`TIME`), so every node shares one clock.
local function gcra(key, interval, burst)
  interval, burst = tonumber(interval), tonumber(burst)
  if interval <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local next_tat = tat + interval
  local wait = next_tat - burst * interval - now
  if wait > 0 then return wait end
  redis.call('SET', key, string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  return 0
end
