"""The regime label comes from the simulation: the binding resource, with its busy fraction."""

from __future__ import annotations

import pytest

from accelsim.hardware import list_profiles, load_profile
from accelsim.loading import load_workload
from accelsim.timing import layer_timing
from accelsim.timing.fusion import plan_fusion
from accelsim.timing.model import COMPUTE_BOUND_MIN_BUSY, binding_resource
from accelsim.workload.loader import list_workloads


def _timings(workload_name: str, profile_name: str):
    w = load_workload(workload_name)
    p = load_profile(profile_name)
    fusion = plan_fusion(w.layers, p.fusion)
    return [(layer, layer_timing(layer, p, 8, 8, fusion=fusion[layer.name])) for layer in w.layers]


@pytest.mark.parametrize("profile", list_profiles())
@pytest.mark.parametrize("workload", list_workloads())
def test_no_compute_bound_layer_is_mostly_stalled(workload, profile):
    checked = 0
    for layer, t in _timings(workload, profile):
        checked += 1
        if t.regime == "compute-bound":
            assert t.stall_cycles <= 0.2 * t.cycles, (layer.name, t)
            assert t.bottleneck == "compute" and t.bottleneck_busy >= COMPUTE_BOUND_MIN_BUSY
        else:
            assert t.bottleneck != "compute" and 0 < t.bottleneck_busy <= 1
    assert checked > 0


def test_binding_resource_rules():
    # the busiest resource binds
    assert binding_resource(1000, 950, [("dram", 400)], 100) == ("compute", 0.95)
    assert binding_resource(1000, 300, [("dram", 900), ("l2", 500)], 100) == ("dram", 0.9)
    # compute is the busiest but idle 40% of the time: the pipeline fill / latency binds, not compute
    name, busy = binding_resource(1000, 600, [("dram", 300)], 350)
    assert name == "fill" and busy == pytest.approx(0.4)
    # an on-chip level can bind
    assert binding_resource(1000, 500, [("dram", 100), ("smem", 980)], 10)[0] == "smem"


def test_gemv_on_cpus_runs_the_lanes_on_n_and_is_dram_bound():
    """1 x 4096 x 4096 int8 on the SIMD dot-product CPUs: every lane busy in compute (>= 90%), and the
    layer bound by DRAM within 10% of weight bytes / bandwidth."""
    from accelsim.workload.layers import Layer, LayerQuant, QuantIntent

    q = LayerQuant(QuantIntent(), QuantIntent())
    gemv = Layer(name="gemv", op="linear", inputs=("x",), in_shapes=((1, 4096),), out_shape=(1, 4096), quant=q)
    for name in ("arm-neon-sdot", "onnxruntime-cpu"):
        p = load_profile(name)
        t = layer_timing(gemv, p, 8, 8)
        assert t.macs / (p.peak_macs_per_cycle * t.compute_cycles) >= 0.9
        assert t.bottleneck == p.dram.name and t.regime == "memory-bound"
        bytes_over_bw = 4096 * 4096 / p.dram.bandwidth_Bps * p.clock_hz
        assert abs(t.cycles - bytes_over_bw) <= 0.1 * bytes_over_bw
        # with the weights on chip (a GEMV small enough for L2), the lanes are the limit
        small = Layer(name="s", op="linear", inputs=("x",), in_shapes=((64, 256),), out_shape=(64, 256), quant=q)
        ts = layer_timing(small, p, 8, 8)
        assert ts.macs / (p.peak_macs_per_cycle * ts.compute_cycles) >= 0.9
