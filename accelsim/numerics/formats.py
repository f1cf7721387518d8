"""Float element formats and block-scaled formats: what a value becomes in each, bit for bit.

Element formats (``cast``) use ml-dtypes (the NumPy float types of JAX) for the encoding and its round to
nearest even; accelsim adds only what ml-dtypes leaves to the caller, the overflow contract:

- ``overflow="saturate"`` (NVIDIA's ``cvt ... .satfinite``, OCP MX's conversion rule): a value beyond the
  largest finite magnitude becomes that magnitude (with its sign); NaN stays NaN where the format has one.
- ``overflow="nonfinite"`` (IEEE behaviour): what ml-dtypes does — fp16, bf16 and fp8 E5M2 overflow to
  +-inf, fp8 E4M3 ("fn": no infinities) to NaN. fp6 and fp4 have neither, so they cannot follow this
  contract: asking for it is an error.

Block formats (``block_quantize``), OCP Microscaling Formats (MX) v1.0: a block of 32 elements shares one
E8M0 scale (a power of two, 2^-127 .. 2^127). The spec's conversion: shared exponent =
floor(log2(max |v|)) - emax_elem, where emax_elem is the exponent of the element format's largest normal
(E4M3: 8, E5M2: 15, E2M3: 2, E3M2: 4, E2M1: 2; MXINT8: 0, its elements being int8 x 2^-6); elements are
v / 2^shared, rounded to nearest even and saturated to the largest finite element. An all-zero block gets
the smallest scale, 2^-127. NVFP4 (NVIDIA Blackwell): E2M1 elements in blocks of 16 with an E4M3 block
scale and an FP32 per-tensor scale: tensor scale = amax(tensor) / (448 x 6), block scale =
E4M3(amax(block) / 6 / tensor scale), elements = E2M1(v / (block scale x tensor scale)), saturating.
"""

from __future__ import annotations

import numpy as np

from accelsim.operands import BLOCK_FORMATS, ELEMENT_FORMATS, FORMATS, rate_class  # noqa: F401 - re-exported

#: (element format, block size, emax of the element format's largest normal) of the MX formats
_MX = {"mxfp8_e4m3": ("fp8_e4m3", 32, 8), "mxfp8_e5m2": ("fp8_e5m2", 32, 15), "mxfp6_e2m3": ("fp6_e2m3", 32, 2),
       "mxfp6_e3m2": ("fp6_e3m2", 32, 4), "mxfp4": ("fp4_e2m1", 32, 2), "mxint8": ("int8", 32, 0)}
NVFP4_BLOCK = 16


def _dtype(fmt: str):
    import ml_dtypes

    return {"fp16": np.float16, "bf16": ml_dtypes.bfloat16, "fp8_e4m3": ml_dtypes.float8_e4m3fn,
            "fp8_e5m2": ml_dtypes.float8_e5m2, "fp6_e2m3": ml_dtypes.float6_e2m3fn,
            "fp6_e3m2": ml_dtypes.float6_e3m2fn, "fp4_e2m1": ml_dtypes.float4_e2m1fn}[fmt]


def max_finite(fmt: str) -> float:
    """The largest finite magnitude of an element format."""
    if fmt == "fp32":
        return float(np.finfo(np.float32).max)
    import ml_dtypes

    return float(ml_dtypes.finfo(_dtype(fmt)).max)


def has_nan(fmt: str) -> bool:
    return fmt in ("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2")


def cast(x, fmt: str, *, overflow: str = "saturate") -> np.ndarray:
    """``x`` rounded to nearest even in ``fmt``: float32 values exactly representable in ``fmt``.

    ``fmt``: fp32, fp16, bf16, fp8_e4m3 (OCP E4M3FN: no infinities, max 448), fp8_e5m2, fp6_e2m3, fp6_e3m2,
    fp4_e2m1. ``overflow``: "saturate" (to the largest finite magnitude) or "nonfinite" (to +-inf, or NaN
    for E4M3; not available for fp6/fp4, which have no such encodings)."""
    if fmt not in ELEMENT_FORMATS:
        raise ValueError(f"unknown format '{fmt}'; allowed: {', '.join(ELEMENT_FORMATS)}")
    if overflow not in ("saturate", "nonfinite"):
        raise ValueError(f"overflow must be 'saturate' or 'nonfinite', got '{overflow}'")
    # float64 input is rounded once, straight to ``fmt`` (ml-dtypes and numpy convert float64 directly): through
    # float32 first it could round twice (1 + 2^-11 + 2^-40 -> 1 + 2^-11, a tie, -> 1.0 in fp16 instead of 1 + 2^-10)
    v = np.asarray(x)
    v = v if v.dtype == np.float64 else v.astype(np.float32)
    if fmt == "fp32":
        return v.astype(np.float32)
    if np.isnan(v).any() and not has_nan(fmt):
        raise ValueError(f"{fmt} has no NaN encoding: the input holds NaN")
    if overflow == "nonfinite":
        if not has_nan(fmt):
            raise ValueError(f"{fmt} has no infinities or NaN: overflow can only saturate")
        with np.errstate(over="ignore", invalid="ignore"):
            return v.astype(_dtype(fmt)).astype(np.float32)
    top = v.dtype.type(max_finite(fmt))
    clipped = np.where(np.isnan(v), v, np.clip(v, -top, top))  # within range, round to nearest even is exact
    return clipped.astype(_dtype(fmt)).astype(np.float32)


def _mx_exponent(amax: np.ndarray, emax: int) -> np.ndarray:
    """The OCP MX shared exponent of each block, clamped to E8M0's range (an all-zero block: -127)."""
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(amax.astype(np.float64))) - emax
    e = np.where(amax > 0, e, -127.0)
    return np.clip(e, -127, 127)


def block_quantize(x, fmt: str, *, block: int | None = None, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """(elements, scales) of ``x`` in block format ``fmt``, blocks of ``block`` consecutive values along ``axis``
    (default: the format's, 32 for MX and 16 for NVFP4; the axis length must be a multiple of it).

    ``elements`` (float32, shape of ``x``) are the element values exactly as stored (an E2M1 value for mxfp4,
    an int8 x 2^-6 value for mxint8); ``scales`` (float32, shape of ``x`` with ``axis`` divided by the block)
    are the block scales (for NVFP4: the E4M3 block scale times the FP32 tensor scale). The value each element
    stands for is ``elements * scales`` broadcast back over the block."""
    if fmt not in BLOCK_FORMATS:
        raise ValueError(f"unknown block format '{fmt}'; allowed: {', '.join(BLOCK_FORMATS)}")
    v = np.asarray(x, dtype=np.float32)
    if v.ndim == 0:
        raise ValueError("block_quantize needs an array with at least one axis")
    if not np.isfinite(v).all():
        raise ValueError("block_quantize: the input holds NaN or infinite values")
    size = block or (NVFP4_BLOCK if fmt == "nvfp4" else _MX[fmt][1])
    axis = axis % v.ndim
    n = v.shape[axis]
    if size <= 0 or n % size:
        raise ValueError(f"the axis length {n} is not a multiple of the block size {size}")
    moved = np.moveaxis(v, axis, -1)
    blocks = moved.reshape(*moved.shape[:-1], n // size, size)
    amax = np.abs(blocks).max(axis=-1)
    if fmt == "nvfp4":
        elements, scales = _nvfp4(blocks, amax)
    else:
        elem_fmt, _, emax = _MX[fmt]
        scales = np.exp2(_mx_exponent(amax, emax)).astype(np.float32)
        scaled = (blocks.astype(np.float64) / scales[..., None].astype(np.float64)).astype(np.float32)
        if elem_fmt == "int8":  # int8 x 2^-6: round half to even, saturate to [-128, 127]
            elements = (np.clip(np.rint(scaled * np.float32(64.0)), -128, 127) / np.float32(64.0)).astype(np.float32)
        else:
            elements = cast(scaled, elem_fmt, overflow="saturate")
    elements = np.moveaxis(elements.reshape(moved.shape), -1, axis)
    scales = np.moveaxis(scales, -1, axis)
    return elements, scales


def _nvfp4(blocks: np.ndarray, amax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e4m3_max, e2m1_max = max_finite("fp8_e4m3"), max_finite("fp4_e2m1")
    tensor_amax = float(amax.max()) if amax.size else 0.0
    tensor_scale = np.float32(tensor_amax / (e4m3_max * e2m1_max)) if tensor_amax > 0 else np.float32(1.0)
    block_scale = cast((amax / e2m1_max / tensor_scale).astype(np.float32), "fp8_e4m3", overflow="saturate")
    scales = (block_scale * tensor_scale).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0))
    elements = cast((blocks / safe[..., None]).astype(np.float32), "fp4_e2m1", overflow="saturate")
    elements = np.where(scales[..., None] > 0, elements, np.float32(0.0)).astype(np.float32)
    return elements, scales


def bits_per_element(fmt: str) -> float:
    """Storage bits per element including the block scale's share (MXFP4: 4 + 8 / 32 = 4.25)."""
    if fmt in ELEMENT_FORMATS:
        return {"fp32": 32, "fp16": 16, "bf16": 16, "fp8_e4m3": 8, "fp8_e5m2": 8, "fp6_e2m3": 6, "fp6_e3m2": 6,
                "fp4_e2m1": 4}[fmt]
    if fmt == "nvfp4":
        return 4 + 8 / NVFP4_BLOCK
    elem, size, _ = _MX[fmt]
    return {"fp8_e4m3": 8, "fp8_e5m2": 8, "fp6_e2m3": 6, "fp6_e3m2": 6, "fp4_e2m1": 4, "int8": 8}[elem] + 8 / size


def format_operand(x, fmt: str, *, amax=None, axis: int = -1, channel_axis: int | None = None,
                   overflow: str = "saturate") -> tuple[np.ndarray, np.ndarray]:
    """(elements a MAC unit multiplies, the scale applied after the accumulation) of a tensor in ``fmt``:

    - fp32, fp16, bf16: cast, scale 1;
    - fp8 / fp6 / fp4 elements: unscaled elements with a scale amax / max_finite(fmt) per tensor (``amax``: the
      calibrated range, else the tensor's own) or per channel along ``channel_axis``, as FP8 GEMMs apply
      scale_a x scale_b in their epilogue; ``overflow`` is the conversion's (fp6 / fp4 always saturate);
    - block formats (MX, NVFP4): their block scales along ``axis`` (the reduction axis) folded into the values,
      scale 1; the axis is padded with zeros to a whole number of blocks (|0| never raises a block's scale)."""
    v = np.asarray(x, dtype=np.float32)
    one = np.float32(1.0)
    if fmt in ("fp32", "fp16", "bf16"):
        return cast(v, fmt, overflow=overflow), one
    if fmt in ELEMENT_FORMATS:
        if channel_axis is not None:
            reduce = tuple(i for i in range(v.ndim) if i != channel_axis % v.ndim)
            m = np.abs(v).max(axis=reduce, keepdims=True) if amax is None else np.asarray(amax, dtype=np.float32)
        else:
            m = np.float32(np.abs(v).max(initial=0.0) if amax is None else amax)
        scale = np.where(m > 0, m / np.float32(max_finite(fmt)), one).astype(np.float32)
        mode = overflow if fmt in ("fp8_e4m3", "fp8_e5m2") else "saturate"
        return cast((v / scale).astype(np.float32), fmt, overflow=mode), scale
    if fmt not in BLOCK_FORMATS:
        raise ValueError(f"unknown format '{fmt}'; allowed: {', '.join(FORMATS)}")
    size = NVFP4_BLOCK if fmt == "nvfp4" else _MX[fmt][1]
    axis = axis % v.ndim
    n = v.shape[axis]
    pad = (-n) % size
    if pad:
        widths = [(0, 0)] * v.ndim
        widths[axis] = (0, pad)
        v = np.pad(v, widths)
    elements, scales = block_quantize(v, fmt, axis=axis)
    values = elements * np.repeat(scales, size, axis=axis)
    return np.take(values, np.arange(n), axis=axis).astype(np.float32), one


def fixed_scales(w, fmt: str, *, channel_axis: int | None = None):
    """(scales (K, N), round_elements) of a weight ``w`` (K, N) in an element or block format with its scales fixed
    from ``w`` itself, for a rounding that moves the values afterwards (GPTQ, accelsim.quant.gptq.gptq_format):
    an FP8/FP6/FP4 per-tensor or per-channel (``channel_axis`` 1) scale amax / max_finite, or the MX / NVFP4 block
    scales along K (axis 0), broadcast to every element; ``round_elements(v)`` rounds v / scale to the element
    grid (nearest even, saturating: the MX rule, NVFP4's E2M1, MXINT8's int8 x 2^-6)."""
    v = np.asarray(w, dtype=np.float32)
    k = v.shape[0]
    if fmt in ELEMENT_FORMATS:
        _, scale = format_operand(v, fmt, channel_axis=channel_axis)
        return np.broadcast_to(scale, v.shape).astype(np.float32), lambda x: cast(x, fmt, overflow="saturate")
    if fmt not in BLOCK_FORMATS:
        raise ValueError(f"unknown format '{fmt}'; allowed: {', '.join(FORMATS)}")
    size = NVFP4_BLOCK if fmt == "nvfp4" else _MX[fmt][1]
    padded = np.pad(v, [(0, (-k) % size), (0, 0)])
    _, scales = block_quantize(padded, fmt, axis=0)
    per_element = np.repeat(scales, size, axis=0)[:k]
    elem_fmt = "fp4_e2m1" if fmt == "nvfp4" else _MX[fmt][0]
    if elem_fmt == "int8":
        return per_element, lambda x: (np.clip(np.rint(np.asarray(x, np.float32) * np.float32(64.0)), -128, 127)
                                       / np.float32(64.0)).astype(np.float32)
    return per_element, lambda x: cast(x, elem_fmt, overflow="saturate")


def format_values(x, fmt: str, *, axis: int = -1, amax=None, channel_axis: int | None = None) -> np.ndarray:
    """The values a tensor holds in operand format ``fmt`` (float32): :func:`format_operand`'s elements times
    their scale (saturating conversions)."""
    elements, scale = format_operand(x, fmt, amax=amax, axis=axis, channel_axis=channel_axis)
    return (elements * scale).astype(np.float32)


class FormatParams:
    """A tensor stored in a float or block format, as the integer QuantParams are for integer codes: ``quantize``
    gives the stored elements (float32), ``dequantize`` their values. Element formats below 16 bits carry one
    scale per tensor (``scale``: amax / the format's largest finite); fp16 / bf16 / fp32 and the block formats
    carry none (block scales are folded into the elements, along ``block_axis``)."""

    def __init__(self, type_name: str, scale: float = 1.0, block_axis: int = -1, dynamic: bool = False,
                 overflow: str = "saturate"):
        self.type_name = type_name
        # conversion overflow (the contract's float_conversion); fp6 / fp4 have no inf or NaN and always saturate
        self.overflow = overflow if type_name in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2") else "saturate"
        self.scale = float(scale)
        self.block_axis = block_axis
        self.dynamic = dynamic   # the scale comes from each tensor as it runs (for_tensor), not from calibration
        self.zero_point = np.zeros(1, dtype=np.int64)   # symmetric: relu on the elements is max(element, 0)

    @classmethod
    def calibrated(cls, fmt: str, amax: float, ndim: int, dynamic: bool = False,
                   overflow: str = "saturate") -> "FormatParams":
        scaled = fmt in ELEMENT_FORMATS and fmt not in ("fp32", "fp16", "bf16")
        scale = amax / max_finite(fmt) if scaled and amax > 0 else 1.0
        return cls(fmt, scale, block_axis=1 if ndim == 4 else -1, dynamic=dynamic and scaled,  # NCHW: channels
                   overflow=overflow)

    def for_tensor(self, x) -> "FormatParams":
        """The parameters a tensor is stored with: these, or (dynamic scaling) a scale from the tensor's own range."""
        if not self.dynamic:
            return self
        return FormatParams.calibrated(self.type_name, float(np.abs(np.asarray(x)).max(initial=0.0)), np.ndim(x),
                                       dynamic=True, overflow=self.overflow)

    def quantize(self, x) -> np.ndarray:
        v = np.asarray(x, dtype=np.float32)
        if self.type_name in BLOCK_FORMATS:
            return format_operand(v, self.type_name, axis=self.block_axis)[0]
        return cast((v / np.float32(self.scale)).astype(np.float32), self.type_name, overflow=self.overflow)

    def dequantize(self, q) -> np.ndarray:
        return np.asarray(q, dtype=np.float64) * self.scale


__all__ = ["BLOCK_FORMATS", "ELEMENT_FORMATS", "FORMATS", "bits_per_element", "block_quantize", "cast",
           "format_operand", "format_values", "FormatParams", "max_finite", "rate_class"]
