"""restormixer: command-line image restoration with RestorMixer."""

__version__ = "0.1.0"
