"""Stage 2, import: the pretrained encoder a fine-tune starts from (python -m training.encoders)."""
