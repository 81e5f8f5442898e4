"""The RestorMixer network."""

from .restormixer import SIZE_MULTIPLE, RestorMixer

__all__ = ["RestorMixer", "SIZE_MULTIPLE"]
