"""Image quality metrics and folder evaluation."""

from .quality import psnr, ssim, to_y_channel

__all__ = ["psnr", "ssim", "to_y_channel"]
