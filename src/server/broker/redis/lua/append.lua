-- Appends a post to its room's log, indexes it, trims the log, extends the room's keys,
-- publishes the message and remembers its id under its idempotency key (`post`, if
-- any: the id only, never the text, which a delete must take away); returns its id.
-- The arguments are a post's (`scripts.rs`, `APPEND_ARGS`).
local function append(log, ids, state, post)
  local id = redis.call('XADD', log, '*', 's', A_sender, 't', A_text)
  redis.call('ZADD', ids, 0, pad(id))
  trim(log, ids, state, A_history, A_log_limit)
  for _, key in ipairs({log, ids, state}) do redis.call('PEXPIRE', key, A_room_ttl) end
  redis.call('PUBLISH', A_channel, id .. '\n' .. A_sender .. '\n' .. A_text)
  if post then redis.call('SET', post, id, 'EX', A_post_ttl) end
  return id
end
