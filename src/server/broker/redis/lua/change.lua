-- Stores a change to a message if its state is still the one read (`expected`, '' if it
-- never changed): with the hold and the post limit (on a cluster they are in another
-- slot, checked before by `admit.lua`, and their keys are not given), appends an update
-- (naming the message, whose `new_state` the state hash keeps) or a delete (`new_state`
-- ''), publishes it (the whole message, for the listeners) and trims the log.
-- A change does not extend the room's life (only a post does, as the room index counts
-- posts): the state expires with the log.
--
-- Returns {1, entry id}, {-1, ''} when the session no longer holds its name, {-2, wait
-- µs} past the post limit, {-3, ''} when the message is gone, and {-4, ''} when its state
-- is no longer the one read.
if K_hold then
  if redis.call('GET', K_hold) ~= A_session then return {-1, ''} end
  redis.call('PEXPIRE', K_hold, A_hold_ttl)
end
if not redis.call('ZSCORE', K_ids, pad(A_id)) then return {-3, ''} end
if (redis.call('HGET', K_state, A_id) or '') ~= A_expected then return {-4, ''} end
if K_rate then
  local wait = gcra(K_rate, A_rate_interval, A_rate_burst)
  if wait > 0 then return {-2, string.format('%d', wait)} end
end
local id
if A_new_state == '' then
  id = redis.call('XADD', K_log, '*', 'd', A_id)
  redis.call('ZREM', K_ids, pad(A_id))
  redis.call('HDEL', K_state, A_id)
  redis.call('PUBLISH', A_channel, 'd\n' .. id .. '\n' .. A_id)
else
  -- The update names its message: the message as it stands is in the state, once,
  -- however many updates it has had (a reaction flood keeps one copy, not one each).
  id = redis.call('XADD', K_log, '*', 'r', A_id)
  redis.call('HSET', K_state, A_id, A_new_state)
  redis.call('PUBLISH', A_channel, 'u\n' .. id .. '\n' .. A_new_state)
end
trim(K_log, K_ids, K_state, A_history, A_log_limit)
local ttl = redis.call('PTTL', K_log)
if ttl > 0 then redis.call('PEXPIRE', K_state, ttl) end
return {1, id}
