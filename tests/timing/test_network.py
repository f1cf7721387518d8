"""The whole-network discrete-event model: prefetch overlap, DRAM contention, bounded events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.hardware import load_profile
from accelsim.timing import layer_timing
from accelsim.timing.fusion import plan_fusion
from accelsim.timing.network import CHUNKS, MAX_PREFETCH_PIECES, LayerCost, simulate_network, simulate_profile_network
from accelsim.loading import load_workload

BW = 1000.0  # bytes per cycle


def _cost(name, core, weights, stream, startup=100.0):
    # the layer alone: start-up, then the slower of its core work and its DRAM traffic (one-tile fill folded in)
    return LayerCost(name=name, cycles=startup + max(core, (weights + stream) / BW), startup_cycles=startup,
                     core_cycles=core, weight_bytes=weights, stream_bytes=stream, working_bytes=0)


def test_without_prefetch_the_network_is_the_sum_of_its_layers():
    layers = [_cost("a", 1000, 0, 100_000), _cost("b", 200, 2_000_000, 1000), _cost("c", 5000, 50_000, 0)]
    r = simulate_network(layers, BW, buffer_bytes=0)
    assert r.cycles == pytest.approx(sum(c.cycles for c in layers), rel=1e-12) and r.prefetched == ()
    assert r.isolated_cycles == pytest.approx(r.cycles, rel=1e-12)


def test_weights_prefetched_during_a_compute_bound_layer():
    """A compute-bound layer leaves DRAM idle: the next, weight-heavy layer's weights arrive meanwhile."""
    a, b = _cost("a", 50_000, 0, 10_000), _cost("b", 200, 2_000_000, 1000)
    r = simulate_network([a, b], BW, buffer_bytes=10_000_000)
    assert r.prefetched == ("b",)
    assert r.cycles < r.isolated_cycles - 1500          # b's 2,000 cycles of weights moved under a's compute
    assert r.cycles >= (a.core_cycles + b.core_cycles)  # no schedule beats the compute


def test_a_prefetch_cannot_beat_the_dram_bound():
    """Behind a memory-bound layer the prefetch only gets the idle gaps: DRAM stays the limit."""
    a, b = _cost("a", 100, 0, 3_000_000), _cost("b", 100, 3_000_000, 0)
    r = simulate_network([a, b], BW, buffer_bytes=10_000_000)
    assert r.cycles >= 6_000_000 / BW
    assert r.cycles <= r.isolated_cycles * 1.01


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1e6), st.integers(0, 5_000_000), st.integers(0, 5_000_000)),
                min_size=1, max_size=12), st.sampled_from([0, 1 << 20, 1 << 30]))
def test_bounds_and_bounded_events(specs, buffer):
    layers = [_cost(f"l{i}", core, w, s) for i, (core, w, s) in enumerate(specs)]
    r = simulate_network(layers, BW, buffer_bytes=buffer)
    total_bytes = sum(c.weight_bytes + c.stream_bytes for c in layers)
    assert r.cycles >= max(total_bytes / BW, sum(c.core_cycles for c in layers)) - 1e-6
    assert r.events <= len(layers) * (CHUNKS + MAX_PREFETCH_PIECES + 1)
    assert [name for name, _, _ in r.spans] == [c.name for c in layers]
    starts = [s for _, s, _ in r.spans]
    assert starts == sorted(starts)


@pytest.mark.parametrize("workload", ["resnet18", "bert-base-layer", "llama2-7b-decode"])
@pytest.mark.parametrize("profile", ["edge-npu-pot16", "h100-sxm", "tpu-v1"])
def test_bundled_workloads(workload, profile):
    w, p = load_workload(workload), load_profile(profile)
    fusion = plan_fusion(w.layers, p.fusion)
    timings = [(layer.name, layer_timing(layer, p, 8, 8, fusion=fusion[layer.name])) for layer in w.layers]
    r = simulate_profile_network(timings, p)
    dram = sum(t.dram_bytes for _, t in timings) / p.dram.bandwidth_Bps * p.clock_hz
    assert r.cycles >= dram - 1e-6
    assert r.cycles <= 1.05 * r.isolated_cycles  # interference costs little, overlap may save
    assert r.events <= len(w.layers) * (CHUNKS + MAX_PREFETCH_PIECES + 1)
