-- On a cluster, a client address's sign-in limit (its own slot): 0, or the µs to wait.
return gcra(K.signin, A.signin_interval, A.signin_burst)
