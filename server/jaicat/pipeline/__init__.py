"""Orchestration of the analysis: `analysis` (a batch of photos through every task), `worker` (the
server's background loop), `cluster` (the same on Ray workers) and `previews`. The models themselves
live one floor down, in jaicat.models."""
