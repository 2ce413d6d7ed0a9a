"""The Queues screen: what waits, what workers hold, what ran in what order."""
