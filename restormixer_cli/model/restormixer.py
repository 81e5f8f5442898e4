"""RestorMixer: an efficient general-purpose mixed model for image restoration (arXiv 2504.10967).

A three-stage encoder-decoder. Stage 1 (full resolution) uses residual depthwise CNN blocks; stages
2 and 3 (1/2 and 1/4 resolution) alternate visual state-space (Mamba) blocks with window attention
of growing window size. Downscaled copies of the input are injected into the encoder (SCM + FAM),
and the decoder predicts a residual image at 1/4, 1/2 and full scale (deep supervision).

For super-resolution a model may also carry pixel-shuffle tails (``upscales``), an addition to the
authors' network as SwinIR's upsampler is: the network runs on the small image and a tail per
factor enlarges its last full-resolution features into a residual added to the bicubic enlargement.

Parameter names, shapes and numerics follow the authors' implementation, quirks included, so that
their checkpoints load with ``strict=True`` and give the same outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from ..resize import upscale
from .attention import WindowAttentionBlock
from .blocks import BasicConv, FeatureAttentionModule, PixelShuffleTail, ResidualDepthBlock, ShallowConvModule
from .checkpoint import LoadedWeights, build, write_config
from .mamba import SS2D, VSSBlock
from .padding import SIZE_MULTIPLE
from .pretrained import pretrained_weights


def _half(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour downscaling by 2 (what ``F.interpolate(x, scale_factor=0.5)`` does)."""
    return x[:, :, ::2, ::2]


def _mixer_stage(dim: int, depth: int, window_size: int, num_heads: int, mlp_ratio: float, **vss) -> nn.ModuleList:
    """depth // 2 pairs of (VSS block, window attention with window window_size * (i + 1))."""
    return nn.ModuleList(
        nn.Sequential(
            VSSBlock(dim, **vss),
            WindowAttentionBlock(dim, window_size * (i + 1), num_heads, mlp_ratio),
        )
        for i in range(depth // 2)
    )


def _run(stage: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for block in stage:
        x = block(x)
    return x


class Encoder(nn.Module):
    def __init__(self, base_channel: int, num_blocks: Sequence[int], window_size: int,
                 num_heads: Sequence[int], mlp_ratio: float, **vss):
        super().__init__()
        c = base_channel
        self.encoder_sampling = nn.ModuleList([
            BasicConv(c, c * 2, 3, stride=2, bias=False, norm=True),
            BasicConv(c * 2, c * 4, 3, stride=2, bias=False, norm=True),
        ])
        self.cnn_stem = nn.Sequential(
            BasicConv(3, c, 3, bias=False, norm=True),
            BasicConv(c, c, 3, bias=False, norm=True),
        )
        self.ecnn_stage = nn.Sequential(*(ResidualDepthBlock(c) for _ in range(num_blocks[0])))
        self.emix_stage1 = _mixer_stage(c * 2, num_blocks[1], window_size, num_heads[0], mlp_ratio, **vss)
        self.emix_stage2 = _mixer_stage(c * 4, num_blocks[2], window_size, num_heads[1], mlp_ratio, **vss)
        self.SCM1 = ShallowConvModule(c * 2)
        self.SCM2 = ShallowConvModule(c * 4)
        self.FAM1 = FeatureAttentionModule(c * 2)
        self.FAM2 = FeatureAttentionModule(c * 4)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x_half = _half(x)
        injected_half = self.SCM1(x_half)
        injected_quarter = self.SCM2(_half(x_half))
        f1 = self.ecnn_stage(self.cnn_stem(x))
        f2 = _run(self.emix_stage1, self.FAM1(self.encoder_sampling[0](f1), injected_half))
        f3 = _run(self.emix_stage2, self.FAM2(self.encoder_sampling[1](f2), injected_quarter))
        return [f1, f2, f3]


class Decoder(nn.Module):
    def __init__(self, base_channel: int, num_blocks: Sequence[int], window_size: int,
                 num_heads: int, mlp_ratio: float, **vss):
        super().__init__()
        c = base_channel
        self.decoder_out_conv = nn.ModuleList([
            BasicConv(c * 4, 3, 3, bias=False, act=False),
            BasicConv(c * 2, 3, 3, bias=False, act=False),
        ])
        self.output = BasicConv(c, 3, 3, bias=False, norm=True, act=False)
        self.decoder_sampling = nn.ModuleList([
            BasicConv(c * 4, c * 2, 4, stride=2, bias=False, norm=True, transpose=True),
            BasicConv(c * 2, c, 4, stride=2, bias=False, norm=True, transpose=True),
        ])
        self.decoder_compress_channel = nn.ModuleList([
            BasicConv(c * 4, c * 2, 1),
            BasicConv(c * 2, c, 1),
        ])
        self.dmix_stage2 = _mixer_stage(c * 4, num_blocks[2], window_size, num_heads, mlp_ratio, **vss)
        self.dmix_stage1 = _mixer_stage(c * 2, num_blocks[1], window_size, num_heads, mlp_ratio, **vss)
        self.dcnn_stage = nn.Sequential(*(ResidualDepthBlock(c) for _ in range(num_blocks[0])))

    def forward(self, image: torch.Tensor, features: list[torch.Tensor],
                multiscale: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(restored images at [1/4, 1/2] scale if multiscale, else [], last full-resolution features);
        :meth:`restored` makes the full-scale image of those features."""
        f1, f2, f3 = features
        outputs = []
        x = _run(self.dmix_stage2, f3)
        if multiscale:
            image_half = _half(image)
            outputs.append(self.decoder_out_conv[0](x) + _half(image_half))
        x = self.decoder_compress_channel[0](torch.cat([self.decoder_sampling[0](x), f2], dim=1))
        x = _run(self.dmix_stage1, x)
        if multiscale:
            outputs.append(self.decoder_out_conv[1](x) + image_half)
        x = self.decoder_compress_channel[1](torch.cat([self.decoder_sampling[1](x), f1], dim=1))
        return outputs, self.dcnn_stage(x)

    def restored(self, image: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.output(features) + image


class RestorMixer(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="restormixer",
    paper_url="https://arxiv.org/abs/2504.10967",
    repo_url="https://github.com/restormixer/restormixer",
    license="mit",
    tags=["image-restoration", "restormixer"],
    pipeline_tag="image-to-image",
):
    """RestorMixer image restoration network.

    Args:
        base_channel: channels at full resolution (doubled at each of the two lower stages).
        num_blocks: blocks per stage: CNN blocks at stage 1; stages 2 and 3 get ``n // 2`` pairs of
            (VSS block, window attention block).
        window_size: attention window of the first pair in a stage; pair ``i`` uses ``window_size * (i + 1)``.
        num_heads: attention heads of encoder stages 2 and 3. As in the reference implementation the
            decoder uses ``num_heads[0]`` in both of its mixer stages.
        mlp_ratio: hidden width of the attention blocks' MLP, relative to the channels.
        d_state: state size N of the selective scans.
        expand: inner width of the selective scans, relative to the channels.
        scan_backend: selective-scan backend (see :mod:`restormixer_cli.scan`); None follows
            ``$RESTORMIXER_SCAN``, then picks automatically.
        upscales: enlargement factors served by pixel-shuffle tails (super-resolution); empty for the
            authors' same-size network.

    ``model(x)`` maps (B, 3, H, W) images in [0, 1] to restored images of the same shape, for any H
    and W (inputs are reflect-padded to a multiple of 8 and cropped back).
    ``model(x, multiscale=True)`` returns the deep-supervision outputs [1/4, 1/2, full scale].
    A model with ``upscales`` enlarges: ``model(x, scale=s)`` is (B, 3, s H, s W), and with
    ``multiscale=True`` the list of that one output.

    ``save_pretrained``, ``push_to_hub`` and ``from_pretrained`` are huggingface_hub's
    ``PyTorchModelHubMixin``'s, in the hub layout ``restormixer restore --weights`` reads.
    """

    def __init__(
        self,
        base_channel: int = 32,
        num_blocks: Sequence[int] = (4, 4, 4),
        window_size: int = 8,
        num_heads: Sequence[int] = (4, 8),
        mlp_ratio: float = 2.66,
        d_state: int = 16,
        expand: float = 2.0,
        scan_backend: str | None = None,
        upscales: Sequence[int] = (),
    ):
        super().__init__()
        self.config = dict(
            base_channel=base_channel, num_blocks=list(num_blocks), window_size=window_size,
            num_heads=list(num_heads), mlp_ratio=mlp_ratio, d_state=d_state, expand=expand,
            upscales=sorted(upscales),
        )
        shared = dict(window_size=window_size, mlp_ratio=mlp_ratio, d_state=d_state, expand=expand,
                      scan_backend=scan_backend)
        self.encoder = Encoder(base_channel, num_blocks, num_heads=num_heads, **shared)
        self.decoder = Decoder(base_channel, num_blocks, num_heads=num_heads[0], **shared)
        self.apply(self._init_weights)
        if upscales:
            self.upsampler = nn.ModuleDict({str(s): PixelShuffleTail(base_channel, s) for s in sorted(upscales)})

    @property
    def upscales(self) -> list[int]:
        """The enlargement factors this model's tails serve (empty: a same-size model)."""
        return self.config["upscales"]

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, revision: str | None = None,
                        endpoint: str | None = None, scan_backend: str | None = None) -> RestorMixer:
        """A model in eval mode, on CPU, from a task name such as ``"derain"`` (the registry's checkpoint,
        found as ``restormixer restore --task`` finds it: hub cache, download, embedded copy), a hub
        repository id (``revision`` or ``"owner/name@revision"``), or a local ``save_pretrained`` folder
        or weights file. A local path is preferred to a task of the same name. Raises
        ``restormixer_cli.model.checkpoint.WeightsError`` naming the problem when the weights or
        ``config.json`` do not fit. Hub access follows huggingface_hub's settings (login token,
        ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``, or ``endpoint``)."""
        weights = pretrained_weights(str(pretrained_model_name_or_path), revision, endpoint)
        return build(cls, weights, scan_backend)

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write ``model.safetensors`` and the hub layout's ``config.json`` into ``save_directory``."""
        super()._save_pretrained(save_directory)
        write_config(save_directory, self.config, type(self))

    def set_scan_backend(self, backend: str | None) -> None:
        """Select the selective-scan backend of every scan block (None: automatic)."""
        for module in self.modules():
            if isinstance(module, SS2D):
                module.scan_backend = backend

    def forward(self, x: torch.Tensor, multiscale: bool = False, scale: int = 1) -> torch.Tensor | list[torch.Tensor]:
        if (scale != 1 or self.upscales) and scale not in self.upscales:
            served = ", ".join(map(str, self.upscales)) if self.upscales else "1 (it has no upscaling tails)"
            raise ValueError(f"this model enlarges by {served}, not by {scale}: pass scale= one of those")
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % SIZE_MULTIPLE, -w % SIZE_MULTIPLE
        padded = x
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            padded = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        lower, features = self.decoder(padded, self.encoder(padded), multiscale and scale == 1)
        if scale != 1:
            enlarged = upscale(x.float(), scale).to(x.dtype) + self.upsampler[str(scale)](features[..., :h, :w])
            return [enlarged] if multiscale else enlarged
        full = self.decoder.restored(padded, features)
        if not multiscale:
            return full[..., :h, :w]
        return [out[..., : -(-h // s), : -(-w // s)] for out, s in zip([*lower, full], (4, 2, 1))]


def build_model(weights: LoadedWeights, scan_backend: str | None = None) -> RestorMixer:
    """A RestorMixer with the weights loaded (strict), in eval mode, on CPU; a
    :class:`~restormixer_cli.model.checkpoint.WeightsError` names what does not fit."""
    return build(RestorMixer, weights, scan_backend)
