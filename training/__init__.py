"""The training pipeline, in its order: data → encoders → train → evaluate → release (README.md)."""
