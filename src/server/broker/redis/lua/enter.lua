-- Adds (or refreshes) this node's entry for each person of the arguments past the named
-- ones (pairs of canonical name and name), sends `join` for those online on no node
-- before, prunes expired entries (sending their `leave`) and extends the room's keys.
-- With a hold key, first checks that the session still holds the name (and extends the
-- hold), else returns {-1, 0, {}} having changed nothing.
--
-- Returns {joined, count, {canonical \n name, ...}}: the presence as it stands after
-- (count 0 and no names when `list` is 0).
if K_hold then
  if redis.call('GET', K_hold) ~= A_session then return {-1, 0, {}} end
  redis.call('PEXPIRE', K_hold, A_hold_ttl)
end
local now = now_ms()
local joined = {}
for i = REST + 1, #ARGV, 2 do
  local member = A_node .. '\n' .. ARGV[i] .. '\n' .. ARGV[i + 1]
  if redis.call('ZADD', K_here, now + tonumber(A_entry_ttl), member) == 1
    and redis.call('HINCRBY', K_people, ARGV[i], 1) == 1 then
    redis.call('ZADD', K_names, 0, ARGV[i] .. '\n' .. ARGV[i + 1])
    joined[#joined + 1] = ARGV[i + 1]
  end
end
announce('j', joined, A_limit, A_channel)
prune(now, A_limit, A_channel, A_prune_batch)
for _, key in ipairs({K_here, K_people, K_names}) do redis.call('PEXPIRE', key, A_keys_ttl) end
local list = tonumber(A_list)
if list == 0 then return {#joined, 0, {}} end
return {#joined, redis.call('ZCARD', K_names), redis.call('ZRANGE', K_names, 0, list - 1)}
