"""Stage 4, evaluate: scores, comparisons, probes and baselines (python -m training.evaluate)."""
