"""``restormixer serve``: a web page and an HTTP API over the restore pipeline (the ``serve`` extra)."""

__all__ = ["ServeLimits", "create_app"]


def __getattr__(name: str):
    # Imported on first use, so that the command line reads the server's defaults (.queue) without
    # loading FastAPI and PyTorch.
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'restormixer_cli.serve' has no attribute {name!r}")
