"""Stage 3, train: fine-tuning and self-training (python -m training.train)."""
