-- On a cluster, one limit of its own slot (a client address's sign-ins or new rooms):
-- takes a cell, and returns 0, or the µs to wait.
return gcra(K_limit, A_interval, A_burst)
