"""The depthwise kernel and its numpy twin agree bit for bit; qconv2d's depthwise path equals its per-group GEMMs."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.numerics.api import qconv2d
from accelsim.numerics.depthwise import depthwise_sums, depthwise_sums_numpy


@pytest.mark.parametrize("kernel,strides,pads,dil", [((3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
                                                     ((5, 5), (2, 2), (2, 2, 2, 2), (1, 1)),
                                                     ((3, 2), (2, 1), (0, 1, 2, 0), (2, 1))])
def test_kernel_equals_numpy_twin(kernel, strides, pads, dil):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 6, 9, 11)).astype(np.uint8)
    wc = rng.integers(-128, 128, (6, *kernel)).astype(np.int64)
    bias = rng.integers(-5000, 5000, 6)
    h, w = x.shape[2:]
    ho = (h + pads[0] + pads[2] - dil[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    wo = (w + pads[1] + pads[3] - dil[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    a = depthwise_sums(x, 131, wc, bias, strides, pads, dil, (ho, wo))
    b = depthwise_sums_numpy(x, 131, wc, bias, strides, pads, dil, (ho, wo))
    assert a.dtype == b.dtype == np.int64 and np.array_equal(a, b)


@pytest.mark.parametrize("hw", ["onnxruntime-cpu", "onnxruntime-avx2", "tflite-int8"])
def test_depthwise_path_equals_the_per_group_gemms(hw):
    """force_sequential bypasses the depthwise pass (and every fast path): the sequential per-group accumulation."""
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (1, 8, 7, 7)).astype(np.int8)
    w = rng.integers(-127, 128, (8, 1, 3, 3)).astype(np.int8)
    bias = rng.integers(-2000, 2000, 8).astype(np.int32)
    kw = dict(strides=(2, 2), pads=(1, 1, 1, 1), group=8, x_scale=0.02, x_zero_point=np.int8(3),
              w_scale=np.linspace(0.01, 0.02, 8).astype(np.float32), w_zero_point=np.zeros(8, np.int8),
              y_scale=0.05, y_zero_point=np.int8(-4), hw=hw)
    fast, _ = qconv2d(x, w, bias, **kw)
    slow, _ = qconv2d(x, w, bias, force_sequential=True, **kw)
    assert np.array_equal(fast, slow)
