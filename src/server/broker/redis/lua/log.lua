-- A room's log (`log.rs` has the keys): its Stream, the index of its messages (`ids`,
-- zero-padded ids, all scores 0) and their states (`state`).

-- An id as the index holds it, and back.
local function pad(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end
local function unpad(member)
  local ms, seq = string.match(member, '^(%d+)%-(%d+)$')
  return string.gsub(ms, '^0+(%d)', '%1') .. '-' .. string.gsub(seq, '^0+(%d)', '%1')
end

-- Trims the log to its newest `keep` messages (from the oldest of them on) and to
-- `maxlen` entries; a message trimmed leaves the index and the state with it.
local function trim(log, ids, state, keep, maxlen)
  keep, maxlen = tonumber(keep), tonumber(maxlen)
  local over = redis.call('ZCARD', ids) - keep
  if over > 0 then
    local oldest = redis.call('ZRANGE', ids, 0, over)
    for i = 1, over do redis.call('HDEL', state, unpad(oldest[i])) end
    redis.call('ZREMRANGEBYRANK', ids, 0, over - 1)
    redis.call('XTRIM', log, 'MINID', unpad(oldest[over + 1]))
  end
  over = redis.call('XLEN', log) - maxlen
  if over <= 0 then return end
  for _, entry in ipairs(redis.call('XRANGE', log, '-', '+', 'COUNT', over)) do
    if entry[2][1] == 's' then
      redis.call('ZREM', ids, pad(entry[1]))
      redis.call('HDEL', state, entry[1])
    end
  end
  redis.call('XTRIM', log, 'MAXLEN', maxlen)
end
