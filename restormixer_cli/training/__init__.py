"""Training RestorMixer checkpoints: data, degradations, losses, the loop and export."""
