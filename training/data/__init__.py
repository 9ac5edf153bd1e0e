"""Stage 1, data: the data sets, their keys and held-out sets, and a run's data mix."""
