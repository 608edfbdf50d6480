-- A page of history, newest first: the page's ids from the index (below `bound`, `+` or
-- `(` and a padded id), then each message's state, or its log entry if it never changed.
-- Returns {id, state JSON} or {id, {log entry fields}} per message.
local out = {}
for _, member in ipairs(redis.call('ZREVRANGEBYLEX', K_ids, A_bound, '-', 'LIMIT', 0, tonumber(A_count))) do
  local id = unpad(member)
  local state = redis.call('HGET', K_state, id)
  if state then
    out[#out + 1] = {id, state}
  else
    local entry = redis.call('XRANGE', K_log, id, id)[1]
    if entry then out[#out + 1] = {id, entry[2]} end
  end
end
return out
