"""The contact centre: agents and their states (queues and dialer campaigns come next)."""
