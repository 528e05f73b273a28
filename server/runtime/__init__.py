"""Process plumbing: the clock, the unit of work that publishes, the heap, the checkpoint."""
