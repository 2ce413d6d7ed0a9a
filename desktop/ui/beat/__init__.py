"""The local beat: its bar (and, later, the Beat screen)."""
