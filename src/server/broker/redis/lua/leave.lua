-- Removes this node's entry for a person, and sends `leave` if it was their last.
local display = drop_entry(A.node .. '\n' .. A.canonical .. '\n' .. A.name)
if display then announce('l', {display}, A.limit, A.channel) return 1 end
return 0
