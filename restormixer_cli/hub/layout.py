"""The hub layout of a checkpoint (a weights file, and ``config.json`` beside it), and file checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
#: Weights files read as PyTorch pickles (tensors only); ``.safetensors`` is the other format.
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
WEIGHTS_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
