"""The broker itself: opening and testing a connection, the embedded Redis, control
commands, what waits in each queue and in what order it ran."""
