"""``restormixer serve``: a web page and an HTTP API over the restore pipeline (the ``serve`` extra)."""

from .app import ServeLimits, create_app

__all__ = ["ServeLimits", "create_app"]
