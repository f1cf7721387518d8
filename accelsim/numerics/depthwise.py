"""Depthwise convolution sums (one input and one output channel per group), exact integers.

Used only where :func:`accelsim.numerics.accumulate.bound_fits` proves no partial sum leaves the contract's
registers: then the sum's value does not depend on the order of its terms, so a direct loop over the kernel window
(what MLAS's depthwise kernel does on x86) gives the integers every contract computes. ``depthwise_sums`` is the
Numba kernel; ``depthwise_sums_numpy`` its numpy twin (tap by tap over the whole tensor), equal to it bit for bit
(tests/numerics/test_depthwise.py).

Layouts: x codes (N, C, H, W) with one zero point; wc the zero-point-corrected weights (C, kh, kw) as int64; the
result (N x Ho x Wo, C) int64 with the bias added — rows are output pixels, columns channels, as the requantizer
takes them (per-channel scales along the last axis).
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _depthwise_kernel(x, zp, wc, bias, sh, sw, dh, dw, top, left, out):
    # out (N, C, Ho, Wo): the innermost loop walks a row of the input and of the output (contiguous)
    n_img, c, h, wd = x.shape
    kh, kw = wc.shape[1], wc.shape[2]
    ho, wo = out.shape[2], out.shape[3]
    for n in range(n_img):
        for ch in range(c):
            for oy in range(ho):
                for ox in range(wo):
                    out[n, ch, oy, ox] = bias[ch]
                for i in range(kh):
                    iy = oy * sh - top + i * dh
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        wv = wc[ch, i, j]
                        for ox in range(wo):
                            ix = ox * sw - left + j * dw
                            if ix >= 0 and ix < wd:
                                out[n, ch, oy, ox] += (np.int64(x[n, ch, iy, ix]) - zp) * wv


def depthwise_sums(x: np.ndarray, x_zp: int, wc: np.ndarray, bias: np.ndarray | None, strides, pads, dilations,
                   out_hw) -> np.ndarray:
    """sum over the window of (x - x_zp) x wc (+ bias), per output pixel and channel: (N*Ho*Wo, C) int64.
    ``pads`` is (top, left, bottom, right)."""
    n_img, c = x.shape[:2]
    ho, wo = out_hw
    out = np.empty((n_img, c, ho, wo), dtype=np.int64)
    b = np.zeros(c, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    _depthwise_kernel(np.ascontiguousarray(x), np.int64(x_zp), np.ascontiguousarray(wc, dtype=np.int64), b,
                      strides[0], strides[1], dilations[0], dilations[1], pads[0], pads[1], out)
    return out.transpose(0, 2, 3, 1).reshape(-1, c)


def depthwise_sums_numpy(x: np.ndarray, x_zp: int, wc: np.ndarray, bias: np.ndarray | None, strides, pads, dilations,
                         out_hw) -> np.ndarray:
    """The numpy twin of :func:`depthwise_sums`: kh x kw strided multiply-adds over the zero-padded tensor."""
    n_img, c, h, wd = x.shape
    kh, kw = wc.shape[1:]
    ho, wo = out_hw
    top, left, bottom, right = pads
    padded = np.zeros((n_img, c, h + top + bottom, wd + left + right), dtype=np.int64)
    padded[:, :, top:top + h, left:left + wd] = x.astype(np.int64) - x_zp
    acc = np.zeros((n_img, c, ho, wo), dtype=np.int64)
    sh, sw = strides
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilations[0], j * dilations[1]
            acc += padded[:, :, y0:y0 + sh * (ho - 1) + 1:sh, x0:x0 + sw * (wo - 1) + 1:sw] * wc[None, :, i, j, None,
                                                                                                None]
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)[None, :, None, None]
    return acc.transpose(0, 2, 3, 1).reshape(-1, c)
