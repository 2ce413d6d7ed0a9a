"""Canvases: the tree (model), its file format, its Celery signatures, sending it with the
journal, checks before sending, edits, the library, drafts, recall of past work, what was
published."""
