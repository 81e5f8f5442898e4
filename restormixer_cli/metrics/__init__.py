"""Image quality metrics and folder evaluation."""

from .quality import eight_bit_levels, psnr, ssim, to_y_channel

__all__ = ["eight_bit_levels", "psnr", "ssim", "to_y_channel"]
