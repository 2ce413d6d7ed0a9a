"""The fault suite: real brokers, workers, recorder and window under faults (issue 13)."""
