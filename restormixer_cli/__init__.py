"""restormixer: photo and video restoration with RestorMixer (see :data:`DESCRIPTION`).

>>> import restormixer_cli
>>> clean = restormixer_cli.restore(image)                 # the default: the checkpoint this photo needs
>>> clean = restormixer_cli.restore(image, task="derain")
"""

__version__ = "0.1.0"
#: What restormixer is, in one line: the same in pyproject.toml, the README, --help and the HTTP API.
DESCRIPTION = ("Photo and video restoration from the command line with RestorMixer: denoising, deraining, "
               "desnowing, super-resolution and an all-in-one model (haze, low light, rain, snow, noise). With no "
               "task named, it measures each photo and picks the checkpoint it needs.")
__all__ = ["OutputOptions", "RestorMixer", "RayOptions", "Restorer", "load_restorer", "restore", "restore_paths",
           "restore_paths_on_ray"]

_LAZY = {  # imported on first use, so that the command line starts without loading PyTorch
    "RestorMixer": "restormixer_cli.model",
    "Restorer": "restormixer_cli.inference.engine",
    "load_restorer": "restormixer_cli.api",
    "restore": "restormixer_cli.api",
    "restore_paths": "restormixer_cli.api",
    "restore_paths_on_ray": "restormixer_cli.api",
    "RayOptions": "restormixer_cli.inference.ray_engine",
    "OutputOptions": "restormixer_cli.inference.files",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'restormixer_cli' has no attribute {name!r}")
