"""The live pipeline: the event stream, cluster state, the journal and its spill,
rates, and filling gaps from the result backend."""
