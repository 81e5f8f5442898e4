"""Training objective: deep-supervised multi-scale L1 plus an L1 loss in the frequency domain."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def downscaled_targets(target: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
    """[..., 1/4, 1/2, full] scale targets, each halving the next by bilinear interpolation."""
    targets = [target]
    for _ in range(levels - 1):
        targets.insert(0, F.interpolate(targets[0], scale_factor=0.5, mode="bilinear"))
    return targets


class MultiScaleDualDomainLoss(nn.Module):
    """MIMO-UNet's loss: sum over scales of L1(out, target) + ``fft_weight`` * L1 of their 2-D FFTs.

    The FFT term compares real and imaginary parts of ``rfft2``, as MIMO-UNet does.
    """

    def __init__(self, fft_weight: float = 0.1):
        super().__init__()
        self.fft_weight = fft_weight

    def forward(self, outputs: list[torch.Tensor], target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        targets = downscaled_targets(target, len(outputs))
        content = sum(F.l1_loss(o.float(), t) for o, t in zip(outputs, targets))
        frequency = sum(
            F.l1_loss(torch.view_as_real(torch.fft.rfft2(o.float())), torch.view_as_real(torch.fft.rfft2(t)))
            for o, t in zip(outputs, targets)
        )
        total = content + self.fft_weight * frequency
        return total, {"l1": float(content.detach()), "fft": float(frequency.detach())}
