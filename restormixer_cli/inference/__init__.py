"""Running a restoration model on images: devices, precision, tiling."""

#: ``--precision`` choices: ``auto`` picks per device (see ``devices.resolve_precision``).
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
#: Pixels that neighbouring tiles share, blended across.
DEFAULT_OVERLAP = 32
