"""Checkpoints: the task registry, Hugging Face Hub downloads and safe loading."""
