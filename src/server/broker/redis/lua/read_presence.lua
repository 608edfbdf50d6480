-- Prunes expired entries (sending their `leave`), then returns
-- {count, {canonical \n name, ...}} with at most `list` names.
prune(now_ms(), A.limit, A.channel, A.prune_batch)
return {redis.call('ZCARD', K.names), redis.call('ZRANGE', K.names, 0, tonumber(A.list) - 1)}
