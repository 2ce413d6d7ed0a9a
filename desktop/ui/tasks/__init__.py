"""The Tasks screen: the journal's tasks, live, with their timelines."""
