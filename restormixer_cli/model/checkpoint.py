"""RestorMixer's checkpoint format, read safely: file formats, state-dict canonicalisation, the
model configuration (from ``config.json`` beside the weights, or inferred from tensor shapes),
the checks that weights fit, building a model from them, and writing ``config.json``.

Which file a name stands for is :mod:`restormixer_cli.hub`'s concern; no pickled code is ever executed.
"""

from __future__ import annotations

import inspect
import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..hub.layout import CONFIG_NAME, PICKLE_SUFFIXES, WEIGHTS_NAME, WEIGHTS_SUFFIXES, sha256_of

#: Containers of the weights in training checkpoints, averaged (EMA) weights first: they are the ones to publish.
_WRAPPER_KEYS = ("params_ema", "ema", "state_dict_ema", "model_ema", "params", "state_dict", "model", "net")
_PREFIXES = ("module.", "_orig_mod.", "model.", "net.")
_MODEL_ARGS = ("base_channel", "num_blocks", "window_size", "num_heads", "mlp_ratio", "d_state", "expand", "upscales")
MAX_UPSCALE = 8
Model = TypeVar("Model", bound=torch.nn.Module)


class WeightsError(ValueError):
    """A checkpoint that cannot be read or does not fit RestorMixer."""


@dataclass
class LoadedWeights:
    """A checkpoint read: its canonical state dict, its ``config.json`` fields, what it is called, and
    the weights file's sha256."""

    state_dict: dict[str, torch.Tensor]
    config: dict = field(default_factory=dict)
    source: str = ""
    sha256: str = ""  # of the weights file, so that a result names exactly what produced it


def canonicalize_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """Unwrap training-framework containers and strip wrapper prefixes from parameter names."""
    while isinstance(obj, Mapping):
        wrapped = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if wrapped is None or any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        obj = wrapped
    if not isinstance(obj, Mapping):
        raise WeightsError("checkpoint holds no state dict")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError("checkpoint holds no tensors")
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def _count_indices(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return len({m.group(1) for k in state if (m := pattern.match(k))})


def infer_config(state: Mapping[str, torch.Tensor]) -> dict:
    """Model configuration implied by tensor shapes (window size and heads cannot be seen; defaults)."""
    try:
        base = state["encoder.cnn_stem.0.main.0.weight"].shape[0]
        ss = "encoder.emix_stage1.0.0.self_attention_1"
        d_state = state[f"{ss}.A_logs"].shape[1]
        expand = state[f"{ss}.in_proj.weight"].shape[0] / 2 / (2 * base)
        hidden = state["encoder.emix_stage1.0.1.mlp.fc1.weight"].shape[0]
    except KeyError as exc:
        raise WeightsError(f"not a RestorMixer checkpoint: no tensor {exc.args[0]!r}") from None
    except (IndexError, ZeroDivisionError):  # a tensor of too few dimensions, or of width 0
        raise WeightsError("not a RestorMixer checkpoint: its tensors have shapes no RestorMixer has") from None
    blocks = [
        _count_indices(state, "encoder.ecnn_stage"),
        2 * _count_indices(state, "encoder.emix_stage1"),
        2 * _count_indices(state, "encoder.emix_stage2"),
    ]
    mlp_ratio = 2.66 if int(2 * base * 2.66) == hidden else hidden / (2 * base)
    upscales = sorted({int(m.group(1)) for k in state if (m := re.match(r"upsampler\.(\d+)\.", k))})
    return {"base_channel": base, "num_blocks": blocks, "d_state": d_state, "expand": expand, "mlp_ratio": mlp_ratio,
            "upscales": upscales}


_INT_FIELDS = {"base_channel": (1, 1024), "window_size": (1, 128), "d_state": (1, 1024)}
_FLOAT_FIELDS = {"mlp_ratio": (0.05, 64.0), "expand": (0.05, 64.0)}
_LIST_FIELDS = {"num_blocks": (3, 0, 256), "num_heads": (2, 1, 256)}  # length, smallest, largest item


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_model_config(config: Mapping) -> None:
    """Raise WeightsError naming the first field of a model configuration that is of the wrong type,
    out of range, or inconsistent with another (config.json is untrusted input)."""
    for name, (low, high) in _INT_FIELDS.items():
        if name in config and not (_is_int(config[name]) and low <= config[name] <= high):
            raise WeightsError(f"{name} must be an integer from {low} to {high}, not {config[name]!r}")
    for name, (low, high) in _FLOAT_FIELDS.items():
        value = config.get(name, low)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high):
            raise WeightsError(f"{name} must be a number from {low} to {high}, not {value!r}")
    for name, (length, low, high) in _LIST_FIELDS.items():
        value = config.get(name, [low] * length)
        if not (isinstance(value, (list, tuple)) and len(value) == length
                and all(_is_int(v) and low <= v <= high for v in value)):
            raise WeightsError(f"{name} must be a list of {length} integers from {low} to {high}, not {value!r}")
    upscales = config.get("upscales")
    upscales = [] if upscales is None else upscales  # a run's config says null for none
    if not (isinstance(upscales, (list, tuple)) and len(set(upscales)) == len(upscales)
            and all(_is_int(v) and 2 <= v <= MAX_UPSCALE for v in upscales)):
        raise WeightsError(f"upscales must be a list of distinct integers from 2 to {MAX_UPSCALE}, not {upscales!r}")
    blocks = config.get("num_blocks", [1, 2, 2])
    if blocks[1] < 2 or blocks[2] < 2:
        raise WeightsError(f"num_blocks {list(blocks)}: the second and third stages need at least 2 blocks")
    base, heads = config.get("base_channel", 32), config.get("num_heads", [4, 8])
    for width, head_count in ((2 * base, heads[0]), (4 * base, heads[1])):
        if width % head_count:
            raise WeightsError(f"num_heads {list(heads)} do not divide the attention widths {2 * base} and {4 * base}")


def write_config(folder: Path, config: Mapping, model_class: type) -> None:
    """Write a hub-layout folder's ``config.json`` for a model configuration: ``base_channel`` and
    ``num_blocks``, plus the other architecture arguments that differ from ``model_class``'s defaults."""
    defaults = {name: list(p.default) if isinstance(p.default, tuple) else p.default
                for name, p in inspect.signature(model_class.__init__).parameters.items()}
    kept = {k: v for k, v in config.items()
            if k in ("base_channel", "num_blocks") or (k in _MODEL_ARGS and v != defaults[k])}
    (Path(folder) / CONFIG_NAME).write_text(json.dumps(kept, indent=2) + "\n")


def _read_config(folder: Path) -> dict:
    path = folder / CONFIG_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a JSON object, not {type(data).__name__}")
    config = {k: v for k, v in data.items() if k in _MODEL_ARGS}
    try:
        check_model_config(config)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    return config


def _first_line(exc: Exception) -> str:
    """An exception's message for a one-line error: its first line, or its type when it has none (an
    empty file's EOFError)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


_UNSAFE_GLOBAL = re.compile(r"GLOBAL (\S+)")
_CONVERT_HINT = ("convert it to safetensors where it was made: "
                  "safetensors.torch.save_file(model.state_dict(), 'model.safetensors')")


def _refusal(exc: pickle.UnpicklingError) -> str:
    """Why a pickle checkpoint was refused, and what to do instead. PyTorch's own message advises
    loading with ``weights_only=False``, which would run whatever code the file holds: not repeated."""
    found = _UNSAFE_GLOBAL.search(str(exc))
    holds = f"Python objects besides tensors ({found[1]})" if found else "something other than tensors (or is damaged)"
    return f"refused to load: the checkpoint holds {holds}, and loading it could run code; {_CONVERT_HINT}"


def load_weights_file(path: Path) -> LoadedWeights:
    """Read a ``.safetensors`` / ``.pth`` / ``.pt`` / ``.ckpt`` file, or a folder in hub layout."""
    path = Path(path)
    if path.is_dir():
        weights = path / WEIGHTS_NAME
        if not weights.exists():
            raise WeightsError(f"{path}: folder has no {WEIGHTS_NAME}")
        loaded = load_weights_file(weights)
        loaded.config = {**loaded.config, **_read_config(path)}
        return loaded
    if not path.exists():
        raise WeightsError(f"{path}: no such weights file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            state = load_file(path)
        elif suffix in PICKLE_SUFFIXES:
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise WeightsError(f"{path}: unsupported weights format {suffix!r} (use {', '.join(WEIGHTS_SUFFIXES)})")
    except WeightsError:
        raise
    except (SafetensorError, OSError, RuntimeError, EOFError) as exc:
        raise WeightsError(f"{path}: cannot read weights ({_first_line(exc)})") from None
    except pickle.UnpicklingError as exc:  # weights_only refuses pickled code, or the bytes are no pickle
        raise WeightsError(f"{path}: {_refusal(exc)}") from None
    except Exception as exc:  # what unpickling arbitrary bytes raises (KeyError, IndexError, ...)
        raise WeightsError(f"{path}: not a PyTorch checkpoint, or a damaged one ({type(exc).__name__})") from None
    return LoadedWeights(_in_fp32(canonicalize_state_dict(state)), _read_config(path.parent), str(path), sha256_of(path))


def _in_fp32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights stored in half precision (the shipped checkpoints are fp16, half the size) as fp32,
    the precision models are built in."""
    return {k: v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for k, v in state.items()}


def _mismatch_message(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> str | None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    not_float = [f"{k} {str(state[k].dtype).removeprefix('torch.')}" for k, v in expected.items()
                 if k in state and v.is_floating_point() and not state[k].is_floating_point()]
    if not (missing or unexpected or wrong or not_float):
        return None
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong),
                         ("not floating-point", not_float)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    cause = ("the checkpoint is for a different architecture" if len(missing) > len(expected) // 2
             else "config.json does not match the weights" if wrong
             else "the weights are not floating-point numbers (a quantized export?)" if not_float
             else "the checkpoint is incomplete or from another version")
    return f"{'; '.join(parts)}. Likely cause: {cause}"


def build(model_class: type[Model], weights: LoadedWeights, scan_backend: str | None = None) -> Model:
    """A ``model_class`` (RestorMixer, or a subclass) with the weights loaded (strict), in eval mode, on
    CPU; WeightsError naming what does not fit."""
    config = {**infer_config(weights.state_dict), **weights.config}
    try:  # shapes of absurd size would build a model of absurd size before any mismatch is seen
        check_model_config(config)
    except WeightsError as exc:
        raise WeightsError(f"{weights.source or 'weights'} do not fit RestorMixer: {exc}") from None
    model = model_class(**config, scan_backend=scan_backend)
    problem = _mismatch_message(model, weights.state_dict)
    if problem:
        raise WeightsError(f"{weights.source or 'weights'} do not fit RestorMixer {config}: {problem}")
    non_finite = [k for k, v in weights.state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if non_finite:  # refused here, or every image would fail alike
        raise WeightsError(f"{weights.source or 'weights'}: {len(non_finite)} tensor(s) hold NaN or Inf values "
                           f"({non_finite[0]}, ...); the checkpoint is damaged (a training that diverged?)")
    model.load_state_dict(weights.state_dict, strict=True)
    return model.eval()
