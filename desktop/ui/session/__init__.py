"""The session every screen shares: the open profile and its connection, the live feed of
diffs, and the host of local workers. Screens depend on it; it depends on no screen."""
