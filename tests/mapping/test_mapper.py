"""Mapping: folds, K-chunks shared with the numerics, tiles that fit, traffic against closed forms."""

import math

import pytest

from accelsim.hardware import load_profile
from accelsim.loading import load_workload
from accelsim.mapping import array_compute_cycles, gemm_view, map_layer


@pytest.mark.parametrize("dataflow,per_fold", [("output_stationary", 100 + 16 + 8 - 2),
                                               ("weight_stationary", 100 + 32 + 8 - 2),
                                               ("input_stationary", 100 + 32 + 8 - 2)])
def test_closed_form_single_fold(dataflow, per_fold):
    # 16 x 8 array, one fold: Sr, Sc within the array, T = 100
    dims = {"output_stationary": (16, 100, 8), "weight_stationary": (100, 16, 8),
            "input_stationary": (8, 16, 100)}[dataflow]
    cycles, rf, cf = array_compute_cycles(dataflow, *dims, rows=16, cols=8)
    assert (rf, cf) == (1, 1)
    assert cycles == per_fold - 1


def test_folds_spread_over_arrays():
    one, _, _ = array_compute_cycles("output_stationary", 64, 10, 64, 16, 16, count=1)
    four, _, _ = array_compute_cycles("output_stationary", 64, 10, 64, 16, 16, count=4)
    assert (one + 1) == 4 * (four + 1)


def test_k_chunk_is_the_numerics_chunk():
    for name in ("edge-npu-pot16", "tpu-v1", "tensorcore-int8"):
        p = load_profile(name)
        layer = load_workload("mlp").layers[0]
        m = map_layer(layer, p, 8, 8)
        assert m.k_chunk == p.k_chunk(layer.gemm[2])


def test_tiles_fit_double_buffered_and_traffic_is_at_least_compulsory():
    p = load_profile("edge-npu-pot16")
    for layer in load_workload("resnet18").layers:
        if not layer.is_mac:
            continue
        m = map_layer(layer, p, 8, 8)
        v = gemm_view(layer)
        for tiling, level in zip(m.tilings, p.on_chip):
            acc_bytes = p.accumulator.spill_bits // 8
            need = (2 * (tiling.tile_m * tiling.tile_k + tiling.tile_k * tiling.tile_n)
                    + acc_bytes * tiling.tile_m * tiling.tile_n)
            assert need <= level.bytes or tiling.tile_m == tiling.tile_k == tiling.tile_n == 1
        dram = m.traffic[0]
        assert dram.a_bytes >= v.a_stored_elements
        assert dram.b_bytes >= v.b_elements
        assert dram.c_bytes == v.c_elements


def test_everything_fits_means_compulsory_traffic_only():
    p = load_profile("tensorcore-int8")  # 40 MB L2
    layer = load_workload("mlp").layers[0]
    m = map_layer(layer, p, 8, 8)
    v = gemm_view(layer)
    assert m.traffic[0].total == v.a_elements + v.b_elements + v.c_elements


def test_conv_reads_the_input_tensor_not_im2col():
    p = load_profile("tensorcore-int8")
    conv = next(layer for layer in load_workload("resnet18").layers if layer.op == "conv2d" and layer.kernel == (3, 3))
    m = map_layer(conv, p, 8, 8)
    assert m.traffic[0].a_bytes == math.prod(conv.in_shapes[0])
    assert m.traffic[-1].a_bytes >= m.view.a_elements  # the array consumes im2col rows
