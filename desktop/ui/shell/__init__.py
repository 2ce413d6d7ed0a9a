"""The window around the screens: the main window that registers every screen, and the
connection indicator."""
