-- Prunes expired entries (sending their `leave`), then returns
-- {count, {canonical \n name, ...}} with at most `list` names.
prune(now_ms(), A_limit, A_channel, A_prune_batch)
return {redis.call('ZCARD', K_names), redis.call('ZRANGE', K_names, 0, tonumber(A_list) - 1)}
