-- Stores a change to a message if its state is still the one read (`expected`, '' if it
-- never changed): with the hold and the post limit (on a cluster they are in another
-- slot, checked before by `admit.lua`, and their keys are not given), appends an update
-- (`new_state`) or a delete (`new_state` ''), indexes it, publishes it and trims the log.
-- A change does not extend the room's life (only a post does, as the room index counts
-- posts): the state expires with the log.
--
-- Returns {1, entry id}, {-1, ''} when the session no longer holds its name, {-2, wait
-- µs} past the post limit, {-3, ''} when the message is gone, and {-4, ''} when its state
-- is no longer the one read.
if K.hold then
  if redis.call('GET', K.hold) ~= A.session then return {-1, ''} end
  redis.call('PEXPIRE', K.hold, A.hold_ttl)
end
if not redis.call('ZSCORE', K.ids, pad(A.id)) then return {-3, ''} end
if (redis.call('HGET', K.state, A.id) or '') ~= A.expected then return {-4, ''} end
if K.rate then
  local wait = gcra(K.rate, A.rate_interval, A.rate_burst)
  if wait > 0 then return {-2, string.format('%d', wait)} end
end
local id
if A.new_state == '' then
  id = redis.call('XADD', K.log, '*', 'd', A.id)
  redis.call('ZREM', K.ids, pad(A.id))
  redis.call('HDEL', K.state, A.id)
  redis.call('PUBLISH', A.channel, 'd\n' .. id .. '\n' .. A.id)
else
  id = redis.call('XADD', K.log, '*', 'u', A.new_state)
  redis.call('HSET', K.state, A.id, A.new_state)
  redis.call('PUBLISH', A.channel, 'u\n' .. id .. '\n' .. A.new_state)
end
trim(K.log, K.ids, K.state, A.history, A.log_limit)
local ttl = redis.call('PTTL', K.log)
if ttl > 0 then redis.call('PEXPIRE', K.state, ttl) end
return {1, id}
