"""Stage 5, release: a trained model into running_model/ with its card (python -m training.release)."""
