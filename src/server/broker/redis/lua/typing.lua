-- Sends `typing` for a person unless their typing key is still there (a throttle of
-- `throttle` ms, on every node). With a hold key, first checks that the session still
-- holds the name (and extends the hold). Returns -1 when it does not, else 1 when sent
-- and 0 when throttled.
if K.hold then
  if redis.call('GET', K.hold) ~= A.session then return -1 end
  redis.call('PEXPIRE', K.hold, A.hold_ttl)
end
if redis.call('SET', K.typing, '1', 'PX', A.throttle, 'NX') then
  redis.call('PUBLISH', A.channel, 't\n' .. A.name)
  return 1
end
return 0
