"""Convolutional building blocks of RestorMixer (the paper's RDCNN part and its helpers)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicConv(nn.Module):
    """Conv (or transposed conv) -> optional BatchNorm -> optional GELU, stored under ``main``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        bias: bool = True,
        norm: bool = False,
        act: bool = True,
        transpose: bool = False,
    ):
        super().__init__()
        bias = bias and not norm
        if transpose:
            conv = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2 - 1, bias=bias
            )
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)
        layers: list[nn.Module] = [conv]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if act:
            layers.append(nn.GELU())
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class ShallowConvModule(nn.Module):
    """SCM: lifts a downscaled RGB input to ``channels`` features for injection into the encoder."""

    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.Sequential(
            BasicConv(3, channels // 4, kernel_size=3, bias=False, norm=True),
            BasicConv(channels // 4, channels // 2, kernel_size=1, bias=False, norm=True),
            BasicConv(channels // 2, channels // 2, kernel_size=3, bias=False, norm=True),
            BasicConv(channels // 2, channels, kernel_size=1, act=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class FeatureAttentionModule(nn.Module):
    """FAM: merges encoder features with SCM features by a 3x3 conv over their concatenation."""

    def __init__(self, channels: int):
        super().__init__()
        self.merge = BasicConv(channels * 2, channels, kernel_size=3, act=False)

    def forward(self, x: torch.Tensor, injected: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([x, injected], dim=1))


class ResidualDepthBlock(nn.Module):
    """Residual block: 3x3 conv-BN-GELU, depthwise-separable conv-BN, skip, GELU."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        for conv in (self.conv1, self.depthwise, self.pointwise):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.gelu(self.bn1(self.conv1(x)))
        out = self.bn2(self.pointwise(self.depthwise(out)))
        return F.gelu(out + x)


class Mlp(nn.Sequential):
    """Linear -> GELU -> Linear on channels-last tensors."""

    def __init__(self, in_features: int, hidden_features: int):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)


class PixelShuffleTail(nn.Module):
    """Enlarges full-resolution features ``scale`` times into a residual image: a sub-pixel
    convolution (EDSR's and SwinIR's upsampler), then a convolution to RGB. The last layer starts at
    zero, so that an untrained tail adds nothing to the bicubic enlargement it is added to."""

    def __init__(self, channels: int, scale: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 3, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.body(features)
