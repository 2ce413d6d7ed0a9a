"""The Builder screen: palette, canvas view, node editor, drafts, sending."""
