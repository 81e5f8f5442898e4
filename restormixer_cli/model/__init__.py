"""The RestorMixer network."""

#: Height and width are padded to a multiple of this internally (three stages, each halving).
SIZE_MULTIPLE = 8

__all__ = ["RestorMixer", "SIZE_MULTIPLE"]


def __getattr__(name: str):
    # Imported on first use: option checks read SIZE_MULTIPLE without loading PyTorch.
    if name == "RestorMixer":
        from .restormixer import RestorMixer

        return RestorMixer
    raise AttributeError(f"module 'restormixer_cli.model' has no attribute {name!r}")
