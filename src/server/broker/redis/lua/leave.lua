-- Removes this node's entry for a person, and sends `leave` if it was their last.
local display = drop_entry(A_node .. '\n' .. A_canonical .. '\n' .. A_name)
if display then announce('l', {display}, A_limit, A_channel) return 1 end
return 0
