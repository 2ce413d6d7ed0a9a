"""Pieces every screen uses: the background pool, the theme, panel parts, the log
view and fact lists."""
