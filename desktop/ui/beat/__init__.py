"""The Beat screen: periodic tasks, their runs and missed runs (core/beat), and the local
beat's bar."""
