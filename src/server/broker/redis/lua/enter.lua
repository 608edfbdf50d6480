-- Adds (or refreshes) this node's entry for each person of the arguments past the named
-- ones (pairs of canonical name and name), sends `join` for those online on no node
-- before, prunes expired entries (sending their `leave`) and extends the room's keys.
-- With a hold key, first checks that the session still holds the name (and extends the
-- hold), else returns {-1, 0, {}} having changed nothing.
--
-- Returns {joined, count, {canonical \n name, ...}}: the presence as it stands after
-- (count 0 and no names when `list` is 0).
if K.hold then
  if redis.call('GET', K.hold) ~= A.session then return {-1, 0, {}} end
  redis.call('PEXPIRE', K.hold, A.hold_ttl)
end
local now = now_ms()
local joined = {}
for i = REST + 1, #ARGV, 2 do
  local member = A.node .. '\n' .. ARGV[i] .. '\n' .. ARGV[i + 1]
  if redis.call('ZADD', K.here, now + tonumber(A.entry_ttl), member) == 1
    and redis.call('HINCRBY', K.people, ARGV[i], 1) == 1 then
    redis.call('ZADD', K.names, 0, ARGV[i] .. '\n' .. ARGV[i + 1])
    joined[#joined + 1] = ARGV[i + 1]
  end
end
announce('j', joined, A.limit, A.channel)
prune(now, A.limit, A.channel, A.prune_batch)
for _, key in ipairs({K.here, K.people, K.names}) do redis.call('PEXPIRE', key, A.keys_ttl) end
local list = tonumber(A.list)
if list == 0 then return {#joined, 0, {}} end
return {#joined, redis.call('ZCARD', K.names), redis.call('ZRANGE', K.names, 0, list - 1)}
