"""Public numerics API: quantized matmul and conv exactly as a hardware contract computes them.

``qlinear`` follows ONNX QLinearMatMul (x (M, K) @ w (K, N)) plus an optional int32 bias;
``qconv2d`` follows ONNX QLinearConv (NCHW input, OIHW weights). Both execute the contract of
``hw`` — operand types, zero-point policy, accumulator width and overflow, K-chunking (accumulation
order), requantization kind and rounding — and return the output integers and a
:class:`NumericsStats` with overflow and saturation events by output channel and K-chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from accelsim.hardware import HardwareProfile, load_profile
from accelsim.inttypes import INT_TYPES, storage_dtype, type_range
from accelsim.numerics.accumulate import AccumulationEvents, AccumulatorModel, accumulate, accumulate_codes, bound_fits
from accelsim.numerics.requant import (
    ort_output_scale,
    pot_exponent,
    requant_fixed_point,
    requant_float32,
    requant_power_of_two,
    tflite_effective_scale,
)

_DTYPE_NAMES = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8", np.dtype(np.int16): "int16",
                np.dtype(np.uint16): "uint16", np.dtype(np.int32): "int32"}


@dataclass
class NumericsStats:
    """What happened inside the accumulators and the requantizer of one call.

    ``events`` holds per-[output channel, K-chunk] counts.
    """

    events: AccumulationEvents
    chunk: int
    fast_path: bool
    macs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def overflow_events(self) -> int:
        return self.events.overflow_events

    @property
    def saturation_events(self) -> int:
        return self.events.saturation_events

    def event_locations(self, limit: int = 20) -> list[dict]:
        """The (output channel, K-chunk) cells with events, largest first."""
        grid = self.events.by_channel_chunk
        idx = np.argwhere(grid > 0)
        order = np.argsort(-grid[grid > 0], kind="stable")[:limit]
        return [{"channel": int(idx[i][0]), "k_chunk": int(idx[i][1]), "events": int(grid[tuple(idx[i])])}
                for i in order]


def accumulator_model(profile: HardwareProfile, k: int) -> AccumulatorModel:
    acc = profile.accumulator
    return AccumulatorModel(acc_bits=acc.bits, acc_saturate=acc.overflow == "saturate",
                            chunk=profile.k_chunk(k), spill_bits=acc.spill_bits,
                            spill_saturate=acc.spill_overflow == "saturate",
                            byte_pairs_saturate=acc.byte_pairs == "saturate_int16",
                            s8_activations_as_u8=acc.byte_pairs == "saturate_int16" and profile.qdq_s8_to_u8)


def _operand_type(arr: np.ndarray, declared: str | None, arg: str) -> str:
    if declared is not None:
        if declared not in INT_TYPES:
            raise ValueError(f"{arg}: unknown type '{declared}'; allowed: {', '.join(INT_TYPES)}")
        return declared
    name = _DTYPE_NAMES.get(arr.dtype)
    if name is None or name == "int32":
        raise ValueError(f"{arg}: dtype {arr.dtype} is not an operand type; pass int8, uint8 or int16 arrays "
                         f"(or declare the type, e.g. {arg.split('_')[0]}_type='int4')")
    return name


def _check_range(arr: np.ndarray, type_name: str, arg: str) -> tuple[int, int] | None:
    """The codes' (min, max), after checking they lie in ``type_name``'s range (None for an empty array)."""
    if not arr.size:
        return None
    lo, hi = type_range(type_name)
    amin, amax = int(arr.min()), int(arr.max())
    if amin < lo or amax > hi:
        raise ValueError(f"{arg}: values in [{amin}, {amax}] are outside {type_name} [{lo}, {hi}]")
    return amin, amax


def _check_scale(value, arg: str, n: int | None = None) -> np.ndarray:
    s = np.asarray(value, dtype=np.float64)
    if s.ndim == 0:  # the common case, checked without array reductions (a CNN calls this thousands of times)
        if not (math.isfinite(float(s)) and float(s) > 0):
            raise ValueError(f"{arg}: must be finite and > 0, got {value!r}")
        return s
    if s.ndim > 1 or (s.ndim == 1 and n is not None and s.shape[0] not in (1, n)):
        raise ValueError(f"{arg}: must be a scalar or shape ({n},), got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{arg}: must be finite and > 0, got {value!r}")
    return s


def _zero_point(value, type_name: str, arg: str, n: int | None = None) -> np.ndarray:
    z = np.asarray(value)
    if z.ndim == 0 and z.dtype.kind in "iu":  # the common case, without array reductions
        lo, hi = type_range(type_name)
        if not lo <= int(z) <= hi:
            raise ValueError(f"{arg}: {value!r} is outside the {type_name} range [{lo}, {hi}]")
        return z.astype(np.int64)
    if z.ndim > 1 or (z.ndim == 1 and n is not None and z.shape[0] not in (1, n)):
        raise ValueError(f"{arg}: must be a scalar or shape ({n},), got shape {z.shape}")
    if z.dtype.kind == "f":
        if not np.all(np.isfinite(z)) or np.any(z != np.round(z)):
            raise ValueError(f"{arg}: must be an integer, got {value!r}")
    elif z.dtype.kind not in "iu":
        raise ValueError(f"{arg}: must be an integer, got {value!r}")
    z = z.astype(np.int64)
    lo, hi = type_range(type_name)
    if np.any(z < lo) or np.any(z > hi):
        raise ValueError(f"{arg}: {value!r} is outside the {type_name} range [{lo}, {hi}]")
    return z


def _output_type(y_zero_point, x_type: str, y_type: str | None) -> str:
    if y_type is not None:
        if y_type not in INT_TYPES or y_type == "int32":
            raise ValueError(f"y_type: unknown output type '{y_type}'")
        return y_type
    dtype = getattr(y_zero_point, "dtype", None)
    if dtype is not None and np.dtype(dtype) in _DTYPE_NAMES and np.dtype(dtype) != np.int32:
        return _DTYPE_NAMES[np.dtype(dtype)]
    return x_type if x_type in ("int8", "uint8", "int16") else "int8"


def _check_contract(profile: HardwareProfile, x_type: str, w_type: str, x_zp: np.ndarray, w_zp: np.ndarray,
                    per_channel: bool) -> None:
    if x_type not in profile.activation_types:
        raise ValueError(f"x_q: operand type {x_type} is not supported by profile '{profile.name}'; "
                         f"allowed activations: {', '.join(profile.activation_types)}")
    if w_type not in profile.weight_types:
        raise ValueError(f"w_q: operand type {w_type} is not supported by profile '{profile.name}'; "
                         f"allowed weights: {', '.join(profile.weight_types)}")
    for zp, policy, arg, t in ((x_zp, profile.activation_zero_point, "x_zero_point", x_type),
                               (w_zp, profile.weight_zero_point, "w_zero_point", w_type)):
        if policy == "symmetric":
            mid = 0 if not t.startswith("u") else (type_range(t)[1] + 1) // 2
            if np.any(zp != mid):
                raise ValueError(f"{arg}: profile '{profile.name}' is symmetric for this operand: the zero "
                                 f"point must be {mid}, got {zp.tolist()}")
    if per_channel and "per_channel" not in profile.requant.granularity:
        raise ValueError(f"w_scale: per-channel scales are not supported by profile '{profile.name}'; "
                         f"allowed granularity: {', '.join(profile.requant.granularity)}")


def _requantize(profile: HardwareProfile, acc: np.ndarray, x_scale, w_scale, y_scale, y_zp: int, qmin: int,
                qmax: int, op: str = "linear", out_dtype=np.int64) -> np.ndarray:
    kind = profile.requant.scale
    rounding = profile.requant.rounding_for(op)
    if kind == "float32":
        return requant_float32(acc, ort_output_scale(x_scale, w_scale, y_scale), y_zp, qmin, qmax, rounding,
                               out_dtype=out_dtype)
    if kind == "fixed_point":
        # TFLite: per-tensor FULLY_CONNECTED multiplies the two input scales in float32 first
        # (GetQuantizedConvolutionMultipler); the float64_away reference kernel works in double throughout
        float_product = op in ("linear", "matmul") and np.ndim(w_scale) == 0 and rounding != "float64_away"
        return requant_fixed_point(acc, tflite_effective_scale(x_scale, w_scale, y_scale, float_product), y_zp,
                                   qmin, qmax,
                                   rounding=rounding)
    ex = pot_exponent(float(x_scale))
    ey = pot_exponent(float(y_scale))
    ew = [pot_exponent(float(s)) for s in np.atleast_1d(w_scale)]
    bad = [(name, v) for name, e, v in (("x_scale", ex, x_scale), ("y_scale", ey, y_scale)) if e is None]
    if any(e is None for e in ew):
        bad.append(("w_scale", w_scale))
    if bad:
        raise ValueError(f"{bad[0][0]}: profile '{profile.name}' requantizes with power-of-two scales only; "
                         f"{bad[0][1]!r} is not a power of two (legalize the scales first)")
    shift = np.array(ew, dtype=np.int64) + ex - ey
    if shift.size == 1:
        shift = shift[0]
    return requant_power_of_two(acc, shift, y_zp, qmin, qmax, rounding)


def _quantize_bound(value: float, y_scale: float) -> int:
    # TFLite CalculateActivationRangeQuantized: TfLiteRound(f / scale) in float32 (ties away from zero)
    q = float(np.float32(value) / np.float32(y_scale))
    return int(math.copysign(math.floor(abs(q) + 0.5), q))


def _activation_bounds(activation, y_scale: float, y_zp: int, qmin: int, qmax: int) -> tuple[int, int]:
    """Fused-activation clamp bounds in the output's integer domain (TFLite semantics)."""
    if activation is None or activation == "none":
        return qmin, qmax
    if activation == "relu":
        return max(qmin, y_zp), qmax
    if activation == "relu6":
        return max(qmin, y_zp), min(qmax, y_zp + _quantize_bound(6.0, y_scale))
    if isinstance(activation, tuple) and len(activation) == 3 and activation[0] == "clamp":
        lo = y_zp + _quantize_bound(activation[1], y_scale)
        hi = y_zp + _quantize_bound(activation[2], y_scale)
        return max(qmin, lo), min(qmax, hi)
    raise ValueError(f"activation: {activation!r} is not one of None, 'relu', 'relu6', ('clamp', lo, hi)")


def _requantize_output(profile, acc, x_scale, w_scale, y_scale, y_zp: int, y_type: str, activation, op="linear"):
    """Accumulator values -> output codes in ``y_type``'s storage dtype: the fused activation's bounds, then the
    contract's requantizer."""
    qmin, qmax = type_range(y_type)
    lo, hi = _activation_bounds(activation, float(y_scale), int(y_zp), qmin, qmax)
    y = _requantize(profile, acc, x_scale, w_scale, y_scale, int(y_zp), lo, hi, op, out_dtype=storage_dtype(y_type))
    return y.astype(storage_dtype(y_type), copy=False)


def _gemm(profile, xc, wc, bias, x_scale, w_scale, y_scale, y_zp, y_type, activation, force_sequential,
          op="linear", zero_points=None):
    """``zero_points`` (x's, w's, x's code dtype): given when the contract's kernel works on the stored codes (x86
    U8S8 pair saturation, accelsim.numerics.accumulate.accumulate_codes): the codes are xc + zx and wc + zw."""
    model = accumulator_model(profile, xc.shape[1])
    if zero_points is not None and model.byte_pairs_saturate:
        zx, zw, x_dtype = zero_points
        acc, events, fast = accumulate_codes((xc + zx).astype(x_dtype), (wc + np.asarray(zw)).astype(np.int8), zx,
                                             np.asarray(zw), bias, model, force_sequential=force_sequential)
    else:
        acc, events, fast = accumulate(xc, wc, bias, model, force_sequential=force_sequential)
    y = _requantize_output(profile, acc, x_scale, w_scale, y_scale, y_zp, y_type, activation, op)
    return y, events, fast, model.chunk


def qlinear(x_q, w_q, bias_q=None, *, x_scale, x_zero_point, w_scale, w_zero_point, y_scale, y_zero_point,
            hw, activation=None, x_type=None, w_type=None, y_type=None, force_sequential=False, op="linear"):
    """Quantized x (M, K) @ w (K, N) (+ int32 bias (N,)) under the contract ``hw``.

    ``hw``: built-in profile name, YAML path or HardwareProfile. Scales are float; ``w_scale`` and
    ``w_zero_point`` are scalars or shape (N,). Operand types come from the array dtypes (int8,
    uint8, int16) unless declared (``x_type='int4'``). The output dtype follows ``y_zero_point``'s
    numpy dtype (as in ONNX), else ``y_type``, else the activation type.
    ``op`` ('linear' or 'matmul') selects the profile's per-op rounding override, if any.
    Returns (y_q (M, N), NumericsStats). Raises ValueError naming the bad argument.
    """
    profile = load_profile(hw)
    if op not in ("linear", "matmul"):
        raise ValueError(f"op: expected 'linear' or 'matmul', got {op!r}")
    x = np.asarray(x_q)
    w = np.asarray(w_q)
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(f"x_q and w_q must be 2-D (M, K) and (K, N), got shapes {x.shape} and {w.shape}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"shape mismatch: x_q {x.shape} @ w_q {w.shape}: K {x.shape[1]} != {w.shape[0]}")
    n = w.shape[1]
    xt = _operand_type(x, x_type, "x_q")
    wt = _operand_type(w, w_type, "w_q")
    x_range = _check_range(x, xt, "x_q")
    w_range = _check_range(w, wt, "w_q")
    xs = _check_scale(x_scale, "x_scale", 1)
    ws = _check_scale(w_scale, "w_scale", n)
    ys = _check_scale(y_scale, "y_scale", 1)
    if xs.size != 1 or ys.size != 1:
        raise ValueError("x_scale and y_scale must be scalars (per-tensor)")
    x_zp = _zero_point(x_zero_point, xt, "x_zero_point", 1)
    w_zp = _zero_point(w_zero_point, wt, "w_zero_point", n)
    yt = _output_type(y_zero_point, xt, y_type)
    y_zp = _zero_point(y_zero_point, yt, "y_zero_point", 1)
    bias = _check_bias(bias_q, n, bias_bits(profile))
    _check_contract(profile, xt, wt, x_zp, w_zp, ws.size > 1)
    model = accumulator_model(profile, x.shape[1])
    acc, events, fast = accumulate_codes(x, w, int(x_zp.reshape(-1)[0]), w_zp, bias, model, x_range=x_range,
                                         w_range=w_range, force_sequential=force_sequential)
    y = _requantize_output(profile, acc, float(xs.reshape(-1)[0]), ws.reshape(-1) if ws.size > 1
                           else float(ws.reshape(-1)[0]), float(ys.reshape(-1)[0]), int(y_zp.reshape(-1)[0]), yt,
                           activation, op)
    chunk = model.chunk
    stats = NumericsStats(events=events, chunk=chunk, fast_path=fast, macs=x.shape[0] * x.shape[1] * n)
    return y.astype(storage_dtype(yt), copy=False), stats


def bias_bits(profile: HardwareProfile) -> int:
    """Width of the integer bias a contract adds: int32 (ONNX, TFLite), or its partial-sum register's width when
    that is wider (the bias is added at spill width)."""
    return max(32, profile.accumulator.spill_bits)


def _check_bias(bias_q, n: int, bits: int = 32) -> np.ndarray | None:
    if bias_q is None:
        return None
    b = np.asarray(bias_q)
    if b.shape != (n,):
        raise ValueError(f"bias_q: must have shape ({n},), got {b.shape}")
    if b.dtype.kind not in "iu":
        raise ValueError(f"bias_q: must be integers (int32), got dtype {b.dtype}")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if b.size and (int(b.min()) < lo or int(b.max()) > hi):
        raise ValueError(f"bias_q: values outside int{bits} [{lo}, {hi}] (the contract's bias width)")
    return b.astype(np.int64)


def _pair(v, name: str, minimum: int) -> tuple[int, int]:
    t = (int(v), int(v)) if np.isscalar(v) else tuple(int(a) for a in v)
    if len(t) != 2 or min(t) < minimum:
        raise ValueError(f"{name}: expected 2 values >= {minimum}, got {v!r}")
    return t  # type: ignore[return-value]


def conv_patches(xc: np.ndarray, kernel, strides, pads, dilations, rows: slice | None = None) -> np.ndarray:
    """im2col of one zero-point-corrected image (C, H, W) for output rows ``rows``.

    Returns (rows*Wo, kh*kw*C): K ordered (kh, kw, c), the order of NHWC kernels and of
    weight-stationary arrays that map input channels onto array rows. Padding contributes
    zero (the corrected value of the zero point).
    """
    c, h, w = xc.shape
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    top, left, bottom, right = pads
    ho = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    wo = (w + left + right - dw * (kw - 1) - 1) // sw + 1
    rows = rows or slice(0, ho)
    r0, r1 = rows.start, rows.stop
    padded = np.zeros((c, h + top + bottom, w + left + right), dtype=xc.dtype)
    padded[:, top:top + h, left:left + w] = xc
    cols = []
    for i in range(kh):
        for j in range(kw):
            y0 = i * dh + r0 * sh
            x0 = j * dw
            cols.append(padded[:, y0:y0 + sh * (r1 - r0 - 1) + 1:sh, x0:x0 + sw * (wo - 1) + 1:sw])
    stack = np.stack(cols, axis=0)  # (kh*kw, C, rows, Wo)
    return stack.reshape(kh * kw * c, (r1 - r0) * wo).T


def qconv2d(x_q, w_q, bias_q=None, *, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1,
            x_scale, x_zero_point, w_scale, w_zero_point, y_scale, y_zero_point, hw, activation=None,
            x_type=None, w_type=None, y_type=None, force_sequential=False, patch_budget_bytes=32 << 20):
    """Quantized 2-D convolution, ONNX QLinearConv semantics: x (N, C, H, W), w (O, C/group, kh, kw).

    ``pads`` is ONNX order [top, left, bottom, right]. The reduction is lowered to GEMMs over
    bounded blocks of output rows (no full im2col). Returns (y_q (N, O, Ho, Wo), NumericsStats).
    """
    profile = load_profile(hw)
    x = np.asarray(x_q)
    w = np.asarray(w_q)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"x_q and w_q must be 4-D (NCHW, OIHW), got shapes {x.shape} and {w.shape}")
    n_img, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if group < 1 or c % group or o % group:
        raise ValueError(f"group: {group} must divide input channels {c} and output channels {o}")
    if cg != c // group:
        raise ValueError(f"shape mismatch: w_q has {cg} input channels per group, x_q has {c}/{group}")
    strides = _pair(strides, "strides", 1)
    dilations = _pair(dilations, "dilations", 1)
    pads_t = tuple(int(p) for p in pads)
    if len(pads_t) != 4 or min(pads_t) < 0:
        raise ValueError(f"pads: expected [top, left, bottom, right] >= 0, got {pads!r}")
    ho = (h + pads_t[0] + pads_t[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    wo = (wd + pads_t[1] + pads_t[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    if ho <= 0 or wo <= 0:
        raise ValueError(f"shape mismatch: kernel {kh}x{kw} does not fit the padded {h}x{wd} input")
    xt = _operand_type(x, x_type, "x_q")
    wt = _operand_type(w, w_type, "w_q")
    _check_range(x, xt, "x_q")
    _check_range(w, wt, "w_q")
    xs = _check_scale(x_scale, "x_scale", 1)
    ws = _check_scale(w_scale, "w_scale", o)
    ys = _check_scale(y_scale, "y_scale", 1)
    x_zp = int(_zero_point(x_zero_point, xt, "x_zero_point", 1).reshape(-1)[0])
    w_zp = _zero_point(w_zero_point, wt, "w_zero_point", o).reshape(-1)
    yt = _output_type(y_zero_point, xt, y_type)
    y_zp = int(_zero_point(y_zero_point, yt, "y_zero_point", 1).reshape(-1)[0])
    bias = _check_bias(bias_q, o, bias_bits(profile))
    _check_contract(profile, xt, wt, np.array([x_zp]), w_zp, ws.size > 1)
    k = cg * kh * kw
    og = o // group
    w_zp_full = np.broadcast_to(w_zp, (o,))
    ws_full = np.broadcast_to(ws.reshape(-1), (o,))
    # weights as (K, O) with K ordered (kh, kw, c) to match conv_patches
    # zero-point-corrected codes of 8-bit operands fit int16 ([-255, 255]): a quarter of int64's im2col traffic
    corrected = np.int16 if x.dtype.itemsize == 1 and w.dtype.itemsize == 1 else np.int64
    wc_all = (w.astype(corrected) - w_zp_full.astype(corrected)[:, None, None, None]).transpose(2, 3, 1, 0).reshape(k, o)
    y = np.empty((n_img, o, ho, wo), dtype=storage_dtype(yt))
    model = accumulator_model(profile, k)
    # ONNX Runtime's QLinearConv on x86 without VNNI: an im2col GEMM over K in (kh, kw, c) order (NHWC patches) on
    # MLAS's U8S8 kernel, whose adjacent-K pair sums saturate to int16 — grouped convolutions and channel
    # multipliers > 1 included; a depthwise conv (one input and one output channel per group, any group count) runs MLAS's
    # depthwise kernel, exact in int32 (both checked under qemu's Haswell: benchmarks/ort_host_check.py)
    depthwise = cg == 1 and o // group == 1  # a single-channel conv (group 1) is depthwise to MLAS too
    u8s8 = (model.byte_pairs_saturate and wt == "int8" and not depthwise
            and (xt == "uint8" or (xt == "int8" and model.s8_activations_as_u8)))
    n_chunks_k = max(1, -(-k // model.chunk))
    if depthwise and not force_sequential:
        y_dw = _depthwise_exact(profile, model, x, w, x_zp, w_zp_full, bias, strides, pads_t, dilations, (ho, wo),
                                (float(xs.reshape(-1)[0]), ws_full if ws.size > 1 else float(ws.reshape(-1)[0]),
                                 float(ys.reshape(-1)[0]), y_zp, yt, activation))
        if y_dw is not None:
            return y_dw, NumericsStats(events=AccumulationEvents.zeros(o, n_chunks_k), chunk=model.chunk,
                                       fast_path=True, macs=n_img * o * ho * wo * k)
    events = AccumulationEvents.zeros(o, n_chunks_k)
    fast_all = True
    rows_per_block = max(1, patch_budget_bytes // max(1, wo * k * 8))
    for img in range(n_img):
        xc_img = x[img].astype(corrected) - corrected(x_zp)
        for g in range(group):
            ch = slice(g * og, (g + 1) * og)
            xg = xc_img[g * cg:(g + 1) * cg]
            wc = wc_all[:, ch]
            w_scale_g = ws_full[ch] if ws.size > 1 else float(ws.reshape(-1)[0])
            for r0 in range(0, ho, rows_per_block):
                r1 = min(ho, r0 + rows_per_block)
                patches = conv_patches(xg, (kh, kw), strides, pads_t, dilations, slice(r0, r1))
                out, ev, fast, _ = _gemm(profile, patches, wc, None if bias is None else bias[ch],
                                         float(xs.reshape(-1)[0]), w_scale_g, float(ys.reshape(-1)[0]), y_zp, yt,
                                         activation, force_sequential, "conv2d",
                                         zero_points=(x_zp, w_zp_full[ch], x.dtype) if u8s8 else None)
                fast_all &= fast
                y[img, ch, r0:r1, :] = out.T.reshape(og, r1 - r0, wo)
                for name in ("acc_overflow", "acc_saturation", "spill_overflow", "spill_saturation"):
                    getattr(events, name)[ch] += getattr(ev, name)
    stats = NumericsStats(events=events, chunk=model.chunk, fast_path=fast_all, macs=n_img * o * ho * wo * k)
    return y, stats


def _depthwise_exact(profile, model, x, w, x_zp: int, w_zp, bias, strides, pads, dilations, out_hw, requant):
    """A depthwise conv (one input and one output channel per group) whose partial sums provably stay inside the
    contract's registers (:func:`accelsim.numerics.accumulate.bound_fits`): then every summation order gives the
    same integers, so all channels are summed in one pass (accelsim.numerics.depthwise) instead of one GEMM per
    channel, and requantized in one call. None when the bound does not hold (the per-group GEMMs then count the
    events)."""
    from accelsim.numerics.depthwise import depthwise_sums

    n_img, c = x.shape[:2]
    kh, kw = w.shape[2:]
    ho, wo = out_hw
    max_x = max(abs(int(x.min()) - x_zp), abs(int(x.max()) - x_zp)) if x.size else 0
    wc = w[:, 0].astype(np.int64) - np.asarray(w_zp, dtype=np.int64).reshape(-1, 1, 1)
    max_w = int(np.abs(wc).max(initial=0))
    max_bias = 0 if bias is None else int(np.abs(bias).max(initial=0))
    if not bound_fits(kh * kw, max_x, max_w, max_bias, model):
        return None
    acc = depthwise_sums(x, x_zp, wc, bias, strides, pads, dilations, out_hw)
    x_scale, w_scale, y_scale, y_zp, yt, activation = requant
    out = _requantize_output(profile, acc, x_scale, w_scale, y_scale, y_zp, yt, activation, "conv2d")
    return np.ascontiguousarray(out.reshape(n_img, ho, wo, c).transpose(0, 3, 1, 2))


def qmatmul_integer(x_q, w_q, x_zero_point=0, w_zero_point=0, *, hw, x_type=None, w_type=None,
                    force_sequential=False):
    """ONNX MatMulInteger semantics under ``hw``: the accumulator values (int64 array holding the
    spill-register result, i.e. int32 for a 32-bit contract) and NumericsStats; no requantization."""
    profile = load_profile(hw)
    x = np.asarray(x_q)
    w = np.asarray(w_q)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"shape mismatch: x_q {x.shape} @ w_q {w.shape}")
    xt = _operand_type(x, x_type, "x_q")
    wt = _operand_type(w, w_type, "w_q")
    _check_range(x, xt, "x_q")
    _check_range(w, wt, "w_q")
    x_zp = _zero_point(x_zero_point, xt, "x_zero_point", 1)
    w_zp = _zero_point(w_zero_point, wt, "w_zero_point", w.shape[1])
    model = accumulator_model(profile, x.shape[1])
    if model.byte_pairs_saturate:  # the x86 U8S8 kernel works on the codes (MatMulInteger too: ort_host_check)
        acc, events, fast = accumulate_codes(x, w, int(x_zp.reshape(-1)[0]), w_zp, None, model,
                                             force_sequential=force_sequential)
        return acc, NumericsStats(events=events, chunk=model.chunk, fast_path=fast, macs=x.size * w.shape[1])
    xc = x.astype(np.int64) - int(x_zp.reshape(-1)[0])
    wc = w.astype(np.int64) - (w_zp.reshape(1, -1) if w_zp.size > 1 else int(w_zp.reshape(-1)[0]))
    acc, events, fast = accumulate(xc, wc, None, model, force_sequential=force_sequential)
    return acc, NumericsStats(events=events, chunk=model.chunk, fast_path=fast, macs=x.size * w.shape[1])


def qlinear_float_output(x_q, w_q, bias=None, *, x_scale, x_zero_point, w_scale, w_zero_point, hw, x_type=None,
                         w_type=None, force_sequential=False):
    """x (M, K) @ w (K, N) with a float epilogue: the integer sum under the contract's accumulator, written as float32
    instead of requantized integers (ONNX Runtime's MatMulIntegerToFloat; TensorRT int8 GEMMs with fp32 output).

    ``x_scale`` / ``x_zero_point``: scalars (a static or per-tensor dynamic scale) or shape (M,) (one per row: dynamic
    per-token scaling); ``w_scale`` / ``w_zero_point``: scalars or (N,); ``bias``: float32 (N,) in real units.
    Derivation: y[m, n] = sum_k (x[m, k] - zx[m]) (w[k, n] - zw[n]) * sx[m] sw[n] + b[n]. The integer sum is exact
    (or wraps / saturates as the contract's accumulator does, events counted per channel and K-chunk); the
    epilogue then rounds three times in float32, as MLAS's scale-bias output processor does:
    float32(acc) * float32(float32(sx[m]) * float32(sw[n])), then + float32(b[n]).
    Returns (y float32 (M, N), NumericsStats)."""
    profile = load_profile(hw)
    if "float" not in profile.requant.outputs:
        raise ValueError(f"profile '{profile.name}' has no float epilogue (requant.outputs: "
                         f"{', '.join(profile.requant.outputs)})")
    x = np.asarray(x_q)
    w = np.asarray(w_q)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"shape mismatch: x_q {x.shape} @ w_q {w.shape}")
    m, n = x.shape[0], w.shape[1]
    xt = _operand_type(x, x_type, "x_q")
    wt = _operand_type(w, w_type, "w_q")
    x_range = _check_range(x, xt, "x_q")
    w_range = _check_range(w, wt, "w_q")
    xs = np.asarray(x_scale, dtype=np.float64)
    if xs.size not in (1, m):
        raise ValueError(f"x_scale: a scalar or one per row ({m}), got shape {xs.shape}")
    xs = _check_scale(xs.reshape(-1), "x_scale", None)
    x_zp = _zero_point(np.asarray(x_zero_point).reshape(-1), xt, "x_zero_point", None)
    if x_zp.size not in (1, m):
        raise ValueError(f"x_zero_point: a scalar or one per row ({m}), got {x_zp.size} values")
    ws = _check_scale(w_scale, "w_scale", n)
    w_zp = _zero_point(w_zero_point, wt, "w_zero_point", n)
    _check_contract(profile, xt, wt, x_zp, w_zp, ws.size > 1)
    if xs.size > 1 and "per_token" not in profile.requant.dynamic_activations:
        raise ValueError(f"x_scale: one scale per row (per-token) is not supported by profile '{profile.name}'")
    model = accumulator_model(profile, x.shape[1])
    zx = x_zp.astype(np.int64)
    if zx.size > 1 and np.any(zx != zx[0]):  # one zero point per row: the corrected rows, zero point 0
        xc = (x.astype(np.int32) - zx.reshape(-1, 1)).astype(np.int16 if x.dtype.itemsize == 1 else np.int32)
        acc, events, fast = accumulate_codes(xc, w, 0, w_zp, None, model, w_range=w_range,
                                             force_sequential=force_sequential)
    else:
        acc, events, fast = accumulate_codes(x, w, int(zx[0]), w_zp, None, model, x_range=x_range, w_range=w_range,
                                             force_sequential=force_sequential)
    mult = (xs.astype(np.float32).reshape(-1, 1) * ws.astype(np.float32).reshape(1, -1)).astype(np.float32)
    y = acc.astype(np.float32) * mult
    if bias is not None:
        b = np.asarray(bias, dtype=np.float32).reshape(-1)
        if b.shape != (n,):
            raise ValueError(f"bias: expected shape ({n},), got {np.shape(bias)}")
        y = y + b
    return y.astype(np.float32, copy=False), NumericsStats(events=events, chunk=model.chunk, fast_path=fast,
                                                           macs=m * x.shape[1] * n)


def qlinear_grouped(x_q, w_q, bias=None, *, x_scale, x_zero_point, w_scale, w_zero_point=0, group_size: int,
                    y_scale=None, y_zero_point=None, hw, activation=None, x_type=None, w_type=None, y_type=None,
                    force_sequential=False, float_output=False):
    """Per-group weight quantization (e.g. W4A8 with one weight scale per ``group_size`` inputs).

    x_q (M, K) integer with per-tensor ``x_scale``; w_q (K, N) with ``w_scale`` / ``w_zero_point``
    of shape (K // group_size, N). Contract modelled (QServe / TensorRT-LLM W4A8 style kernels):
    each group's dot product is an integer partial sum under the profile's accumulator (events are
    located at (output channel, group)); the partial sums are scaled and summed in float32 in group
    order, y_real = sum_g float32(acc_g) * float32(x_scale * w_scale[g]); then the float32 ``bias``
    (real units, shape (N,)) is added and the output quantized: clamp(round_half_even(y_real /
    y_scale) + y_zero_point). Returns (y_q (M, N), NumericsStats).
    """
    profile = load_profile(hw)
    x = np.asarray(x_q)
    w = np.asarray(w_q)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"shape mismatch: x_q {x.shape} @ w_q {w.shape}")
    k, n = w.shape
    if not isinstance(group_size, (int, np.integer)) or group_size <= 0 or k % group_size:
        raise ValueError(f"group_size: must be a positive divisor of K={k}, got {group_size!r}")
    groups = k // group_size
    xt = _operand_type(x, x_type, "x_q")
    wt = _operand_type(w, w_type, "w_q")
    _check_range(x, xt, "x_q")
    _check_range(w, wt, "w_q")
    xs = float(_check_scale(x_scale, "x_scale", 1).reshape(-1)[0])
    ws = np.asarray(w_scale, dtype=np.float64)
    if ws.shape not in ((groups, n), ()):
        raise ValueError(f"w_scale: expected shape ({groups}, {n}) (K // group_size, N), got {ws.shape}")
    ws = np.broadcast_to(_check_scale(ws.reshape(-1), "w_scale", None).reshape(ws.shape), (groups, n))
    w_zp = np.asarray(w_zero_point)
    if w_zp.shape not in ((groups, n), ()):
        raise ValueError(f"w_zero_point: expected shape ({groups}, {n}) or a scalar, got {w_zp.shape}")
    w_zp = np.broadcast_to(_zero_point(w_zp.reshape(-1), wt, "w_zero_point", None).reshape(w_zp.shape),
                           (groups, n)).astype(np.int64)
    x_zp = int(_zero_point(x_zero_point, xt, "x_zero_point", 1).reshape(-1)[0])
    if float_output:
        if "float" not in profile.requant.outputs:
            raise ValueError(f"float_output: profile '{profile.name}' has no float epilogue")
    else:
        if y_scale is None or y_zero_point is None:
            raise ValueError("y_scale and y_zero_point are required unless float_output")
        ys = float(_check_scale(y_scale, "y_scale", 1).reshape(-1)[0])
        yt = _output_type(y_zero_point, xt, y_type)
        y_zp = int(_zero_point(y_zero_point, yt, "y_zero_point", 1).reshape(-1)[0])
    if "per_group" not in profile.requant.granularity:
        raise ValueError(f"w_scale: per-group scales are not supported by profile '{profile.name}'; "
                         f"allowed granularity: {', '.join(profile.requant.granularity)}")
    _check_contract(profile, xt, wt, np.array([x_zp]), w_zp.reshape(-1), False)
    b = None if bias is None else np.asarray(bias, dtype=np.float32).reshape(-1)
    if b is not None and b.shape != (n,):
        raise ValueError(f"bias: expected shape ({n},), got {np.shape(bias)}")
    model = accumulator_model(profile, group_size)
    xc = x.astype(np.int64) - x_zp
    y_real = np.zeros((x.shape[0], n), dtype=np.float32)
    per_group_events = []
    fast_all = True
    scale32 = (np.float32(xs) * ws.astype(np.float32)).astype(np.float32)  # (G, N), float32 product
    for g in range(groups):
        rows = slice(g * group_size, (g + 1) * group_size)
        wc = w[rows].astype(np.int64) - w_zp[g][None, :]
        acc, ev, fast = accumulate(xc[:, rows], wc, None, model, force_sequential=force_sequential)
        fast_all &= fast
        per_group_events.append(ev)
        y_real += acc.astype(np.float32) * scale32[g][None, :]
    if b is not None:
        y_real += b[None, :]
    if float_output:
        return y_real, NumericsStats(events=AccumulationEvents.concat_chunks(per_group_events), chunk=group_size,
                                     fast_path=fast_all, macs=x.shape[0] * k * n)
    qmin, qmax = type_range(yt)
    lo, hi = _activation_bounds(activation, ys, y_zp, qmin, qmax)
    y = np.clip(np.rint(y_real / np.float32(ys)) + y_zp, lo, hi)
    events = AccumulationEvents.concat_chunks(per_group_events)
    stats = NumericsStats(events=events, chunk=group_size, fast_path=fast_all, macs=x.shape[0] * k * n)
    return y.astype(storage_dtype(yt), copy=False), stats
