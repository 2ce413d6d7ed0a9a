"""The Charts screen: rates and runtimes from the same diffs as the tables."""
