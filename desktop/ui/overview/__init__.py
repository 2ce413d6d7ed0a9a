"""The Overview screen: the cluster at a glance, each item a door to its screen."""
