-- Sends `typing` for a person unless their typing key is still there (a throttle of
-- `throttle` ms, on every node). With a hold key, first checks that the session still
-- holds the name (and extends the hold). Returns -1 when it does not, else 1 when sent
-- and 0 when throttled.
if K_hold then
  if redis.call('GET', K_hold) ~= A_session then return -1 end
  redis.call('PEXPIRE', K_hold, A_hold_ttl)
end
if redis.call('SET', K_typing, '1', 'PX', A_throttle, 'NX') then
  redis.call('PUBLISH', A_channel, 't\n' .. A_name)
  return 1
end
return 0
