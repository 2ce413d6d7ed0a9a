"""Canvases: the model and its file format, checks before sending, edits, the
library, drafts, recall of past work, what was published."""
