-- A post on a cluster, in the room's slot (admitted before by `admit.lua`): a repeated
-- `client_id` answers with the first message, else the message is appended and
-- published. Returns {1, id} for a new message, {0, id} for a repeat.
if K_post then
  local prior = redis.call('GET', K_post)
  if prior then return {0, prior} end
end
return {1, append(K_log, K_ids, K_state, K_post)}
