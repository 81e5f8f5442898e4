"""The RestorMixer network and its checkpoint format."""

from .padding import SIZE_MULTIPLE

__all__ = ["RestorMixer", "SIZE_MULTIPLE"]


def __getattr__(name: str):
    # Imported on first use: option checks read SIZE_MULTIPLE without loading PyTorch.
    if name == "RestorMixer":
        from .restormixer import RestorMixer

        return RestorMixer
    raise AttributeError(f"module 'restormixer_cli.model' has no attribute {name!r}")
