"""The Numba accumulation kernel against its numpy twin and closed-form cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.numerics.accumulate import AccumulatorModel, accumulate, accumulate_reference, bound_fits


def test_closed_form_wrap_8bit():
    # 100 + 100 = 200 wraps to -56 in an 8-bit accumulator: one overflow event
    x = np.array([[10, 10]])
    w = np.array([[10], [10]])
    model = AccumulatorModel(8, False, 2, 8, False)
    out, ev, fast = accumulate(x, w, None, model)
    assert not fast and out[0, 0] == -56 and ev.overflow_events == 1 and ev.saturation_events == 0
    assert ev.acc_overflow[0, 0] == 1


def test_closed_form_saturate_then_recover_order_matters():
    # saturating: 127 (sat from 200) - 100 = 27; the true sum 100 would need wider registers
    x = np.array([[10, 10, -10]])
    w = np.array([[10], [10], [10]])
    model = AccumulatorModel(8, True, 3, 8, True)
    out, ev, _ = accumulate(x, w, None, model)
    assert out[0, 0] == 27 and ev.saturation_events == 1


def test_chunking_spills_into_wider_register():
    # chunk 1: each product (100) fits 8 bits; the 16-bit spill register holds the total 300
    x = np.array([[10, 10, 10]])
    w = np.array([[10], [10], [10]])
    out, ev, _ = accumulate(x, w, None, AccumulatorModel(8, True, 1, 16, True))
    assert out[0, 0] == 300 and ev.saturation_events == 0
    out, ev, _ = accumulate(x, w, None, AccumulatorModel(8, True, 3, 16, True))
    assert out[0, 0] == 127 and ev.saturation_events == 2
    assert ev.acc_saturation[0, 0] == 2


def test_bias_added_at_spill_width():
    x = np.array([[1]])
    w = np.array([[1]])
    out, ev, _ = accumulate(x, w, np.array([32767]), AccumulatorModel(16, True, 1, 16, True), force_sequential=True)
    assert out[0, 0] == 32767 and ev.spill_saturation.sum() == 1


def test_fast_path_only_when_bound_fits():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (3, 64))
    w = rng.integers(-128, 128, (64, 5))
    model = AccumulatorModel(32, False, 64, 32, False)
    assert bound_fits(64, 128, 128, 0, model)
    out, _, fast = accumulate(x, w, None, model)
    assert fast and np.array_equal(out, x @ w)
    assert not bound_fits(64, 128, 128, 0, AccumulatorModel(16, True, 16, 32, True))


def test_fast_path_exact_for_large_k_int16_operands():
    rng = np.random.default_rng(1)
    x = rng.integers(-32768, 32768, (2, 3000))
    w = rng.integers(-128, 128, (3000, 3))
    out, _, fast = accumulate(x, w, None, AccumulatorModel(64, False, 3000, 64, False))
    assert fast and np.array_equal(out, x @ w)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 6), k=st.integers(1, 80), n=st.integers(1, 70), acc_bits=st.integers(8, 40),
       extra=st.integers(0, 24), chunk=st.integers(1, 80), acc_sat=st.booleans(), spill_sat=st.booleans(),
       seed=st.integers(0, 2**31), with_bias=st.booleans())
def test_kernel_matches_numpy_twin(m, k, n, acc_bits, extra, chunk, acc_sat, spill_sat, seed, with_bias):
    rng = np.random.default_rng(seed)
    x = rng.integers(-255, 256, (m, k))
    w = rng.integers(-255, 256, (k, n))
    bias = rng.integers(-(2**20), 2**20, n) if with_bias else None
    model = AccumulatorModel(acc_bits, acc_sat, chunk, min(64, acc_bits + extra), spill_sat)
    out, ev, _ = accumulate(x, w, bias, model, force_sequential=True)
    ref, ev_ref = accumulate_reference(x, w, bias, model)
    assert np.array_equal(out, ref)
    for name in ("acc_overflow", "acc_saturation", "spill_overflow", "spill_saturation"):
        assert np.array_equal(getattr(ev, name), getattr(ev_ref, name)), name


@pytest.mark.parametrize("bits", [32, 64])
def test_wide_accumulators_equal_true_sum(bits):
    rng = np.random.default_rng(bits)
    x = rng.integers(-128, 128, (4, 300))
    w = rng.integers(-128, 128, (300, 7))
    out, ev, _ = accumulate(x, w, None, AccumulatorModel(bits, False, 16, bits, False), force_sequential=True)
    assert np.array_equal(out, x @ w) and ev.overflow_events == 0


def test_twin_handles_63_bit_spill_registers():
    """Regression (found by hypothesis): the numpy twin overflowed int64 computing a 63-bit wrap."""
    model = AccumulatorModel(acc_bits=39, acc_saturate=False, spill_bits=63, spill_saturate=False, chunk=1)
    x = np.array([[100]], dtype=np.int64)
    w = np.array([[125]], dtype=np.int64)
    ref, _ = accumulate_reference(x, w, None, model)
    got, _, _ = accumulate(x, w, None, model, force_sequential=True)
    assert int(ref[0, 0]) == int(got[0, 0]) == 12500


# --- accumulate_codes: the fast path straight from stored codes and zero points -----------------------------

_CODE_TYPES = {"int8": (np.int8, -128, 127), "uint8": (np.uint8, 0, 255), "int16": (np.int16, -32768, 32767)}


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 70), k=st.integers(0, 300), n=st.integers(1, 40), x_type=st.sampled_from(["int8", "uint8"]),
       w_type=st.sampled_from(["int8", "uint8", "int16"]), per_channel=st.booleans(), acc_bits=st.sampled_from([16, 32]),
       with_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_accumulate_codes_equals_the_sequential_twin(m, k, n, x_type, w_type, per_channel, acc_bits, with_bias, seed):
    """Whatever path it takes (float32 slices from the codes, or the sequential kernel), the result is the
    numpy twin's on the zero-point-corrected operands, to the bit, with the same events."""
    from accelsim.numerics.accumulate import accumulate_codes

    rng = np.random.default_rng(seed)
    xd, xlo, xhi = _CODE_TYPES[x_type]
    wd, wlo, whi = _CODE_TYPES[w_type]
    x = rng.integers(xlo, xhi + 1, (m, k)).astype(xd)
    w = rng.integers(wlo, whi + 1, (k, n)).astype(wd)
    x_zp = int(rng.integers(xlo, xhi + 1))
    w_zp = rng.integers(wlo, whi + 1, n if per_channel else 1).astype(np.int64)
    bias = rng.integers(-2**20, 2**20, n).astype(np.int64) if with_bias else None
    model = AccumulatorModel(acc_bits=acc_bits, acc_saturate=acc_bits == 16, chunk=16 if acc_bits == 16 else 10**9,
                             spill_bits=32, spill_saturate=False)
    got, events, _ = accumulate_codes(x, w, x_zp, w_zp, bias, model)
    xc = x.astype(np.int64) - x_zp
    wc = w.astype(np.int64) - (w_zp[None, :] if per_channel else int(w_zp[0]))
    want, want_events = accumulate_reference(xc, wc, bias, model)
    np.testing.assert_array_equal(got.astype(np.int64), want)
    np.testing.assert_array_equal(events.by_channel_chunk, want_events.by_channel_chunk)


def test_accumulate_codes_takes_the_fast_path_and_keeps_results_apart():
    """int8 x int8 with int32 accumulators is proven safe: the float path runs, in K-slices (K x max product
    > 2^24), and a second call (reusing the scratch buffers) does not touch the first call's result."""
    from accelsim.numerics.accumulate import accumulate_codes

    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (33, 4100)).astype(np.int8)
    w = rng.integers(-128, 128, (4100, 65)).astype(np.int8)
    model = AccumulatorModel(acc_bits=32, acc_saturate=False, chunk=10**9, spill_bits=32, spill_saturate=False)
    first, _, fast = accumulate_codes(x, w, 0, np.zeros(1, dtype=np.int64), None, model)
    assert fast
    kept = first.copy()
    accumulate_codes(x[::-1].copy(), w, 3, np.zeros(1, dtype=np.int64), None, model)
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(first, x.astype(np.int64) @ w.astype(np.int64))


@pytest.mark.parametrize("acc_bits", [16, 12])
def test_saturating_int16_registers_equal_the_twin(acc_bits):
    """The int16 kernels (native saturating add for exactly 16 bits, int32 arithmetic for narrower limits) against
    the numpy twin, with many saturations: values and per-chunk event counts to the bit."""
    rng = np.random.default_rng(acc_bits)
    xc = rng.integers(-128, 128, (37, 515)).astype(np.int64)
    wc = rng.integers(-127, 128, (515, 300)).astype(np.int64)
    model = AccumulatorModel(acc_bits=acc_bits, acc_saturate=True, chunk=16, spill_bits=16, spill_saturate=True)
    got, events, fast = accumulate(xc, wc, None, model)
    want, want_events = accumulate_reference(xc, wc, None, model)
    assert not fast and want_events.by_channel_chunk.sum() > 1000
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(events.by_channel_chunk, want_events.by_channel_chunk)


# --- x86 U8S8 (VPMADDUBSW): int16-saturated pair sums -------------------------------------------------------

def test_byte_pairs_closed_form():
    """255 x 127 + 255 x 127 = 64770 saturates to 32767 in VPMADDUBSW; 255 x 127 + 255 x -128 = -255 does not."""
    from accelsim.numerics.accumulate import byte_pair_sums, byte_pair_sums_reference

    x = np.array([[255, 255, 255, 255]], dtype=np.uint8)
    w = np.array([[127, 127], [127, -128], [1, 0], [0, 0]], dtype=np.int8)
    for fn in (byte_pair_sums, byte_pair_sums_reference):
        sums, saturated = fn(x, w)
        assert sums.tolist() == [[32767 + 255, 255 * 127 - 255 * 128]]
        assert saturated.tolist() == [[1, 0]]


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 40), n=st.integers(1, 70), seed=st.integers(0, 2**16))
def test_byte_pair_kernel_equals_its_twin(m, k, n, seed):
    from accelsim.numerics.accumulate import byte_pair_sums, byte_pair_sums_reference

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (m, k)).astype(np.uint8)
    w = rng.integers(-128, 128, (k, n)).astype(np.int8)
    got, got_sat = byte_pair_sums(x, w)
    want, want_sat = byte_pair_sums_reference(x, w)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_sat, want_sat)


def test_u8s8_on_avx2_saturates_where_vnni_does_not_and_reduce_range_cures_it():
    """The same QLinearMatMul on onnxruntime-cpu (VNNI: exact int32) and onnxruntime-avx2 (VPMADDUBSW): large
    uint8 activations against same-sign int8 weight pairs lose the excess on AVX2, counted as saturation events;
    7-bit weights (ONNX Runtime's reduce_range) never saturate, and then both contracts agree to the bit."""
    from accelsim.numerics import qlinear

    rng = np.random.default_rng(5)
    x = rng.integers(200, 256, (16, 64)).astype(np.uint8)
    w = rng.integers(100, 128, (64, 32)).astype(np.int8)
    args = dict(x_scale=0.01, x_zero_point=np.uint8(128), w_scale=0.002, w_zero_point=np.int8(0), y_scale=2.0,
                y_zero_point=np.uint8(0))
    y_vnni, s_vnni = qlinear(x, w, None, hw="onnxruntime-cpu", **args)
    y_avx2, s_avx2 = qlinear(x, w, None, hw="onnxruntime-avx2", **args)
    assert s_vnni.saturation_events == 0 and s_avx2.saturation_events == 16 * 32 * 32  # every pair clamps
    assert (y_avx2.astype(int) < y_vnni.astype(int)).any()
    w7 = (w // 2).astype(np.int8)  # 7-bit weights: 2 x 255 x 63 < 32767
    y7_vnni, _ = qlinear(x, w7, None, hw="onnxruntime-cpu", **args)
    y7_avx2, s7 = qlinear(x, w7, None, hw="onnxruntime-avx2", **args)
    assert s7.saturation_events == 0
    np.testing.assert_array_equal(y7_avx2, y7_vnni)


def test_int8_activations_take_the_u8s8_path_on_avx2_only_in_a_qdq_model():
    """A direct s8 x s8 node is exact on AVX2 (MLAS's S8S8 kernel; checked under qemu's Haswell by
    benchmarks/ort_host_check.py: the s8-to-u8 move applied to direct nodes made 82 of 109 cases differ). In a QDQ
    model ONNX Runtime rewrites int8 activations to uint8 (+128, zero point +128; QDQS8ToU8Transformer): large
    positive int8 codes become raw bytes near 255 and their pair sums saturate; on VNNI both are exact."""
    import dataclasses

    from accelsim.hardware import load_profile
    from accelsim.numerics import qlinear

    rng = np.random.default_rng(6)
    x = rng.integers(80, 128, (8, 64)).astype(np.int8)
    w = rng.integers(100, 128, (64, 16)).astype(np.int8)
    args = dict(x_scale=0.01, x_zero_point=np.int8(0), w_scale=0.002, w_zero_point=np.int8(0), y_scale=4.0,
                y_zero_point=np.int8(0))
    y_vnni, s_vnni = qlinear(x, w, None, hw="onnxruntime-cpu", **args)
    y_direct, s_direct = qlinear(x, w, None, hw="onnxruntime-avx2", **args)
    assert s_vnni.saturation_events == 0 and s_direct.saturation_events == 0
    np.testing.assert_array_equal(y_direct, y_vnni)
    qdq = dataclasses.replace(load_profile("onnxruntime-avx2"), qdq_s8_to_u8=True)
    y_qdq, s_qdq = qlinear(x, w, None, hw=qdq, **args)
    assert s_qdq.saturation_events > 0 and not np.array_equal(y_vnni, y_qdq)
    w7 = (w // 2).astype(np.int8)  # reduce_range: 7-bit weights, 2 x 255 x 63 < 32767 whatever the activations
    np.testing.assert_array_equal(qlinear(x, w7, None, hw=qdq, **args)[0],
                                  qlinear(x, w7, None, hw="onnxruntime-cpu", **args)[0])
