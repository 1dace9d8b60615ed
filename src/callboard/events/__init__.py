"""Domain events and the bus every surface subscribes to."""
