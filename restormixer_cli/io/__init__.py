"""Reading and writing image files, and finding them."""

#: Images above this many pixels are refused unless the caller raises the limit: a small file can
#: claim a huge size (a decompression bomb).
DEFAULT_MAX_PIXELS = 150_000_000

#: Quality of written JPEG, WebP, HEIC and AVIF files, unless the caller chooses another.
DEFAULT_QUALITY = 95


def os_problem(exc: OSError, what: str = "read the file") -> str:
    """What the system refused, in a few words: ``cannot read the file (permission denied)``."""
    return f"cannot {what} ({exc.strerror.lower() if exc.strerror else exc})"
