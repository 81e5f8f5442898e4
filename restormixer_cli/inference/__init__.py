"""Running a restoration model on images: devices, precision, tiling."""
