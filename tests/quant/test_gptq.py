"""GPTQ and the scale migrations (SmoothQuant, AWQ) against their closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.quant.gptq import gptq_codes, hessian
from accelsim.quant.smoothing import awq_scales, smoothquant_scales


def _rtn(w, scale):
    return np.clip(np.rint(w / scale), -7, 7)


def _case(seed, k=96, n=24, rows=400):
    r = np.random.default_rng(seed)
    mix = r.normal(size=(k, k)) * 0.3 + np.eye(k)   # correlated inputs: what GPTQ exploits
    x = r.normal(size=(rows, k)) @ mix
    w = r.normal(size=(k, n))
    scale = np.abs(w).max(axis=0, keepdims=True) / 7
    return x, w, scale


@pytest.mark.parametrize("seed", range(6))
def test_gptq_output_error_below_round_to_nearest(seed):
    x, w, scale = _case(seed)
    q = gptq_codes(w, hessian(x, w.shape[0]), scale, np.zeros_like(scale), -7, 7)
    err_gptq = np.sum((x @ w - x @ (q * scale)) ** 2)
    err_rtn = np.sum((x @ w - x @ (_rtn(w, scale) * scale)) ** 2)
    assert err_gptq < 0.8 * err_rtn


def test_gptq_is_round_to_nearest_when_inputs_are_uncorrelated():
    """A diagonal Hessian has no cross terms: every correction is zero, the codes are round-to-nearest's."""
    r = np.random.default_rng(0)
    w = r.normal(size=(40, 9))
    scale = np.abs(w).max(axis=0, keepdims=True) / 7
    h = np.diag(r.uniform(0.5, 2.0, 40))
    assert np.array_equal(gptq_codes(w, h, scale, np.zeros_like(scale), -7, 7, damp=0.01, block=16), _rtn(w, scale))


def test_gptq_block_size_changes_only_the_order_of_updates():
    x, w, scale = _case(7, k=64, n=8)
    h = hessian(x, 64)
    a = gptq_codes(w, h, scale, np.zeros_like(scale), -7, 7, block=8)
    b = gptq_codes(w, h, scale, np.zeros_like(scale), -7, 7, block=64)
    assert np.mean(a == b) > 0.99   # the same algorithm; float rounding may flip a rare tie


def test_smoothquant_scales_closed_form_and_invariance():
    x = np.array([[1.0, -8.0, 0.5], [2.0, 4.0, -0.25]])
    w = np.array([[0.5, -1.0], [0.25, 0.125], [2.0, 1.0]])
    s = smoothquant_scales(x, w, 0.5)
    expect = np.sqrt(np.array([2.0, 8.0, 0.5])) / np.sqrt(np.array([1.0, 0.25, 2.0]))
    assert np.allclose(s, expect, rtol=0, atol=1e-15)
    assert np.allclose((x / s) @ (w * s[:, None]), x @ w, rtol=0, atol=1e-12)


def test_awq_never_worse_than_round_to_nearest():
    """alpha = 0 is on AWQ's grid and gives s = 1: the chosen scaling's error is at most round-to-nearest's."""
    x, w, scale = _case(3)
    x[:, :4] *= 20  # salient channels

    def quantize(wt):
        sc = np.abs(wt).max(axis=0, keepdims=True) / 7
        return _rtn(wt, sc) * sc
    s, alpha = awq_scales(x, w, quantize)
    err = np.mean(((x / s) @ quantize(w * s[:, None]) - x @ w) ** 2)
    rtn = np.mean((x @ quantize(w) - x @ w) ** 2)
    assert err <= rtn
    assert 0.0 <= alpha < 1.0
