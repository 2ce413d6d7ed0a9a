"""Profiles: the dialog that adds, edits and tests a broker profile."""
