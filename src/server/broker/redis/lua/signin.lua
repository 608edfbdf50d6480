-- On a cluster, a client address's sign-in limit (its own slot): 0, or the µs to wait.
return gcra(K_signin, A_signin_interval, A_signin_burst)
