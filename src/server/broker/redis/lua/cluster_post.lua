-- A post on a cluster, in the room's slot (admitted before by `admit.lua`): a repeated
-- `client_id` answers with the first message, else the message is appended and
-- published. Returns {1, id} for a new message, {0, "id\ntext"} for a repeat.
if K.post then
  local prior = redis.call('GET', K.post)
  if prior then return {0, prior} end
end
return {1, append(K.log, K.ids, K.state, K.post)}
