"""Local worker processes: the spec a person chooses, the keeper process that owns
one worker, and the supervisor of a profile's workers."""
